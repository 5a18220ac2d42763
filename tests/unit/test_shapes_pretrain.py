"""Smoke tests of the shapes-world trainers: a few steps each, on tiny sizes.

They check the contracts, not quality: pretraining resumes from its checkpoint, its export loads
with `load_t2v_model` (UNetMotionModel) and samples with `generate_video` and the matching
prediction type; the judge-based evaluation runs on it; the CLIP trainer's output loads with
`load_clip`; the world tokenizer spells every caption word as one token.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

from motionlora.cli import main
from shapesworld.clip_train import ClipTrainConfig, _alternatives, train_clip
from shapesworld.pretrain import PretrainConfig, build_text_encoder, build_unet, drop_captions, pretrain, read_checkpoint
from shapesworld.quality import BASE_SAMPLING, confusion_rows, evaluate_base
from shapesworld.render import HELD_OUT_MOTIONS, ClipSpec
from shapesworld.world import build_tokenizer, random_specs, world_words

TINY = PretrainConfig(
    clips=8, vae_channels=(8, 8, 8), vae_steps=2, vae_batch_size=4, unet_channels=(16, 16), text_hidden=16,
    steps=2, batch_size=2, warmup_steps=1, checkpoint_every=1, log_every=1, prediction_type="v_prediction",
    caption_dropout=0.5,
)


def test_world_tokenizer_gives_one_token_per_word():
    tokenizer = build_tokenizer()
    for word in world_words():
        assert tokenizer.tokenize(word) == [word + "</w>"]
    assert len(tokenizer("a magenta triangle moving in a zigzag on a gray background").input_ids) <= 16


def test_random_specs_default_to_base_motions():
    specs = random_specs(200, seed=0)
    assert not {spec.motion for spec in specs} & set(HELD_OUT_MOTIONS)
    assert random_specs(5, seed=3) == random_specs(5, seed=3)


@pytest.mark.slow
def test_pretrain_resumes_and_exports_a_loadable_model(tmp_path, capsys):
    from dataclasses import replace

    from motionlora.generate import generate_video
    from motionlora.sampling import SamplingConfig
    from motionlora.models.loading import load_t2v_model

    work = tmp_path / "work"
    pretrain(TINY, work)
    tensors, state = read_checkpoint(work / "checkpoint.safetensors")
    assert state["step"] == 2 and state["config"]["steps"] == 2
    assert set(tensors) == {"modules", "ema", "optimizer", "rng"}
    out = pretrain(replace(TINY, steps=3), work)
    assert read_checkpoint(work / "checkpoint.safetensors")[1]["step"] == 3
    record = json.loads((out / "training.json").read_text())
    assert record["unet_steps"] == 3 and record["machine"]["device"] == "cpu" and record["machine"]["accelerator"] is None

    model = load_t2v_model(out)
    assert type(model.unet).__name__ == "UNetMotionModel"
    assert model.scheduler.config.prediction_type == "v_prediction"
    video = generate_video(model, "a red circle moving left on stripes", SamplingConfig(steps=2, guidance_scale=1.0, frames=8))
    assert video.shape == (8, 32, 32, 3) and video.dtype.name == "uint8"

    pairs = Counter()
    scores = evaluate_base(out, samples=2, sampling=replace(BASE_SAMPLING, steps=2), motion_confusion=pairs)
    assert scores["count"] == 2 and 0.0 <= scores["color"] <= 1.0
    assert sum(pairs.values()) == 2

    assert main(["shapes", "evaluate-base", "--model", str(out), "--samples", "1", "--guidance", "2", "--record"]) == 0
    assert "motion asked (rows) vs read (columns)" in capsys.readouterr().out
    judge = json.loads((out / "training.json").read_text())["judge"]
    assert judge["scores"]["count"] == 1 and sum(map(sum, (row.values() for row in judge["motion_confusion"].values()))) == 1
    assert judge["sampling"]["guidance_scale"] == 2.0 and judge["command"].endswith("--guidance 2")


def test_confusion_rows_fill_every_pair_seen_in_either_role():
    rows = confusion_rows(Counter({("left", "right"): 3, ("up", "up"): 1}))
    assert rows == {
        "left": {"left": 0, "right": 3, "up": 0},
        "right": {"left": 0, "right": 0, "up": 0},
        "up": {"left": 0, "right": 0, "up": 1},
    }


def test_pretrain_config_refuses_eps_prediction():
    with pytest.raises(ValueError, match="prediction_type"):
        PretrainConfig(prediction_type="epsilon")


def test_pretrain_config_refuses_caption_dropout_outside_its_range():
    for rate in (-0.1, 1.0):
        with pytest.raises(ValueError, match="caption_dropout"):
            PretrainConfig(caption_dropout=rate)


def test_drop_captions_replaces_whole_rows_with_the_empty_caption():
    tokens = torch.arange(2000 * 4).reshape(2000, 4)
    empty = torch.tensor([7, 8, 9, 9])
    generator = torch.Generator().manual_seed(0)
    dropped = drop_captions(tokens, empty, 0.25, generator)
    is_empty = (dropped == empty).all(dim=1)
    assert 0.2 < float(is_empty.float().mean()) < 0.3
    assert torch.equal(dropped[~is_empty], tokens[~is_empty])
    assert torch.equal(drop_captions(tokens, empty, 0.0, generator), tokens)


def test_zero_shot_alternatives_are_valid_and_start_with_the_truth():
    spec = ClipSpec("circle", "red", "white", "left")
    colours = _alternatives(spec, "color")
    assert colours[0] == spec and "white" not in {s.color for s in colours}
    assert len(_alternatives(spec, "shape")) == 3


@pytest.mark.slow
def test_train_clip_writes_a_loadable_clip(tmp_path):
    from motionlora.evaluate.clip import load_clip

    config = ClipTrainConfig(clips=16, steps=2, batch_size=8, hidden=16, projection_dim=8, eval_samples=4)
    scores = train_clip(config, tmp_path / "clip")
    assert set(scores) == {"color", "shape", "background", "count"} and scores["count"] == 4
    scorer = load_clip(tmp_path / "clip")
    assert scorer.text_embeddings(["a red circle moving left on stripes"]).shape == (1, 8)
    assert json.loads((tmp_path / "clip" / "training.json").read_text())["zero_shot"] == scores


def test_text_token_init_std_makes_words_distinct_from_the_start():
    tokenizer = build_tokenizer()
    left, right = (tokenizer(word, add_special_tokens=False).input_ids[0] for word in ("left", "right"))
    for std, low, high in ((None, 0.01, 0.03), (1.0, 0.9, 1.1)):
        embeddings = build_text_encoder(PretrainConfig(text_token_init_std=std), tokenizer).get_input_embeddings().weight
        assert low < float(embeddings.std()) < high
    distinct = build_text_encoder(PretrainConfig(text_token_init_std=1.0), tokenizer).get_input_embeddings().weight
    assert float((distinct[left] - distinct[right]).norm()) > 5.0


def test_temporal_layers_stack_motion_module_transformer_blocks():
    def motion_blocks(layers: int) -> int:
        unet = build_unet(PretrainConfig(unet_channels=(16, 16), text_hidden=16, temporal_layers=layers), 8, 4)
        return sum(type(module).__name__ == "BasicTransformerBlock" and module.pos_embed is not None
                   for name, module in unet.named_modules() if not name.startswith("mid_block"))

    assert motion_blocks(2) == 2 * motion_blocks(1) > 0
