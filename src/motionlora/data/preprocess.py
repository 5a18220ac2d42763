"""Encode ingested clips once, so training never runs the VAE or the text encoder.

Output (`motionlora.preprocessed/1`), read by the trainer through `load_preprocessed`:
* `index.json`: settings, model identity, shapes, and the shard list with each clip's id (sha256)
  and caption;
* `shard-NNNNN.safetensors`: `latents` float32 (n, C, F, h, w) and `text_embeddings` float32
  (n, L, D);
* `manifest.jsonl` (the ingest manifest, copied) and `previews/` (a gif and a png strip of the
  sampled frames of the first few clips, to eyeball what the model will be trained on).

Latents are the VAE posterior *mean* (`latent_dist.mean`) times `vae.config.scaling_factor`, not a
sample: the cache is deterministic and the same for every epoch, and the posterior std of a
trained VAE is tiny next to the diffusion noise the trainer adds anyway.

`content_hash` covers what the output depends on: each clip's bytes (re-hashed, not trusted from
the manifest), caption and frame rate, the settings that change the tensors, the UNet identity
recorded in the index, and the bytes of the VAE, text encoder and tokenizer (the UNet identity does
not cover them). A run whose hash matches a complete, valid output reuses it without loading the
model. `index.json` is written last, so an interrupted run is never mistaken for a finished one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from motionlora.data.atomic import replaced_on_success
from motionlora.data.bounded import DEFAULT_MAX_FRAMES, DEFAULT_MAX_PIXELS, DecodeLimits, probe_clip, read_selected
from motionlora.data.decode import DEFAULT_FRAME_FOLDER_FPS
from motionlora.data.frames import CROP_MODES, SAMPLE_MODES, resize_frames, sample_indices, to_model_input
from motionlora.data.ingest import clip_sha256
from motionlora.data.manifest import MANIFEST, ManifestRow, read_manifest
from motionlora.finite import read_tensors
from motionlora.hashing import files_sha256
from motionlora.models.encoders import encode_prompts, vae_scale_factor

FORMAT = "motionlora.preprocessed/1"
INDEX = "index.json"
PREVIEWS_DIR = "previews"
LATENT_MODE = "latent_dist.mean"
ENCODER_PARTS = ("vae", "text_encoder", "tokenizer")
_REQUIRED_KEYS = ("content_hash", "model", "frames", "width", "height", "latent_shape", "text_embedding_shape",
                  "scaling_factor", "num_clips", "shards")


def shard_name(number: int) -> str:
    return f"shard-{number:05d}.safetensors"


@dataclass(frozen=True)
class PreprocessSettings:
    """How clips become tensors. `vae_batch`, `previews` and the decoding limits do not change the
    tensors, so not the hash."""

    frames: int = 8
    width: int = 32
    height: int = 32
    fps: float | None = None
    sample: str = "uniform"
    crop: str = "center"
    shard_size: int = 64
    vae_batch: int = 16
    previews: int = 4
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_frames: int = DEFAULT_MAX_FRAMES

    def __post_init__(self) -> None:
        if self.sample not in SAMPLE_MODES:
            raise ValueError(f"unknown sampling mode {self.sample!r}; choose one of {SAMPLE_MODES}")
        if self.crop not in CROP_MODES:
            raise ValueError(f"unknown crop mode {self.crop!r}; choose one of {CROP_MODES}")
        if min(self.frames, self.width, self.height, self.shard_size, self.vae_batch) < 1:
            raise ValueError(f"frames, size, shard size and VAE batch must be positive: {self}")
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f"--fps must be positive, got {self.fps}")

    def cache_key(self) -> dict[str, Any]:
        """The settings the stored tensors depend on."""
        key = asdict(self)
        del key["vae_batch"], key["previews"], key["max_pixels"], key["max_frames"]
        return {**key, "latent": LATENT_MODE}


@dataclass(frozen=True)
class PreprocessResult:
    """Where the output is and whether this run computed it or found it up to date."""

    out_dir: Path
    content_hash: str
    num_clips: int
    num_shards: int
    reused: bool

    def summary(self) -> str:
        what = "up to date, reused" if self.reused else "encoded"
        return (f"preprocess: {self.num_clips} clips in {self.num_shards} shard(s) {what} -> {self.out_dir} "
                f"(content hash {self.content_hash[:12]})")


@dataclass(frozen=True)
class IndexRow:
    """One clip of a shard in `index.json`: its `id` (the sha256 of the ingested clip) and caption."""

    id: str
    caption: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IndexRow:
        """A row from its JSON object; a ValueError names the keys it lacks."""
        missing = [key for key in ("id", "caption") if key not in data]
        if missing:
            raise ValueError(f"a clip entry lacks {missing}: {data}")
        return cls(str(data["id"]), str(data["caption"]))

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def encoders_sha256(model_dir: Path) -> str:
    """sha256 over the files of the VAE, text encoder and tokenizer (relative names and bytes)."""
    files = [path for part in ENCODER_PARTS for path in sorted(p for p in (Path(model_dir) / part).rglob("*") if p.is_file())]
    return files_sha256((path.relative_to(model_dir).as_posix().encode() + b"\0", path) for path in files)


def _checked_clips(ingest_dir: Path) -> list[ManifestRow]:
    """Manifest rows whose clip files still hold what ingest accepted."""
    rows = read_manifest(ingest_dir)
    for row in rows:
        path = ingest_dir / row.path
        if not path.exists():
            raise FileNotFoundError(f"{path}: listed in {ingest_dir / MANIFEST} but missing")
        actual = clip_sha256(path)
        if actual != row.sha256:
            raise ValueError(f"{path}: content changed since ingest (sha256 {actual[:12]}, manifest {row.sha256[:12]}); re-run ingest")
    return rows


def content_hash(rows: list[ManifestRow], settings: PreprocessSettings, identity: dict[str, str], encoders: str) -> str:
    """The hash a cached output must carry to be reused (see the module docstring)."""
    payload = {
        "format": FORMAT,
        "clips": [{"sha256": r.sha256, "caption": r.caption, "fps": r.fps} for r in rows],
        "settings": settings.cache_key(),
        "unet": {"weights_sha256": identity["weights_sha256"], "architecture_sha256": identity["architecture_sha256"]},
        "encoders_sha256": encoders,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@torch.no_grad()
def encode_frames(vae: torch.nn.Module, frames: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """(F, 3, H, W) in [-1, 1] -> scaled latents (C, F, h, w): posterior mean x scaling_factor."""
    device = next(vae.parameters()).device
    means = [vae.encode(chunk.to(device)).latent_dist.mean for chunk in frames.split(batch)]
    latents = torch.cat(means) * vae.config.scaling_factor
    return latents.permute(1, 0, 2, 3).float().cpu().contiguous()


def _check_out_dir(out_dir: Path) -> None:
    """Refuse an `--out` holding files that are not preprocess output: the new output replaces the whole folder."""
    ours = {INDEX, INDEX + ".tmp", MANIFEST, PREVIEWS_DIR}
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file, not a folder")
    if out_dir.is_dir():
        foreign = [p.name for p in out_dir.iterdir() if p.name not in ours and not (p.name.startswith("shard-") and p.suffix == ".safetensors")]
        if foreign:
            raise ValueError(f"--out {out_dir} holds files that are not preprocess output ({', '.join(sorted(foreign)[:3])}); refusing to overwrite")


def _reusable(out_dir: Path, wanted: str) -> bool:
    try:
        return load_preprocessed(out_dir).content_hash == wanted
    except (OSError, ValueError):
        return False


def _write_preview(out_dir: Path, clip_id: str, frames: np.ndarray, fps: float) -> None:
    import imageio.v3 as iio

    from motionlora.data.video import write_video

    write_video(out_dir / PREVIEWS_DIR / f"{clip_id[:12]}.gif", frames, fps)
    iio.imwrite(out_dir / PREVIEWS_DIR / f"{clip_id[:12]}.png", np.concatenate(list(frames), axis=1))


def preprocess(
    ingest_dir: str | Path,
    model: str | os.PathLike,
    out_dir: str | Path,
    settings: PreprocessSettings = PreprocessSettings(),
    device: str | None = None,
    progress: bool = True,
) -> PreprocessResult:
    """Encode the clips of an ingest folder into `out_dir` (see the module docstring for the format).

    The new output replaces a previous one whole, and only when this run succeeds (`data.atomic`)."""
    from safetensors.torch import save_file
    from tqdm import tqdm

    from motionlora.models import identify_model, load_t2v_model, pick_device, resolve_model_dir

    ingest_dir, out_dir = Path(ingest_dir), Path(out_dir)
    rows = _checked_clips(ingest_dir)
    model_dir = resolve_model_dir(model)
    identity = identify_model(model_dir, str(model)).to_dict()
    encoders = encoders_sha256(model_dir)
    digest = content_hash(rows, settings, identity, encoders)
    num_shards = -(-len(rows) // settings.shard_size)
    if _reusable(out_dir, digest):
        return PreprocessResult(out_dir, digest, len(rows), num_shards, reused=True)

    t2v = load_t2v_model(model_dir, parts=ENCODER_PARTS, device=pick_device(device))
    vae_scale = vae_scale_factor(t2v.vae)
    if settings.width % vae_scale or settings.height % vae_scale:
        raise ValueError(f"--size {settings.width}x{settings.height}: both sides must be multiples of {vae_scale}, the VAE's downsampling")
    _check_out_dir(out_dir)
    limits = DecodeLimits(settings.max_pixels, settings.max_frames)
    with replaced_on_success(out_dir) as new_dir:
        (new_dir / PREVIEWS_DIR).mkdir()
        captions = sorted({row.caption for row in rows})
        embeddings = encode_prompts(t2v.tokenizer, t2v.text_encoder, captions).float().cpu().contiguous()
        text_by_caption = dict(zip(captions, embeddings))

        shards: list[dict[str, Any]] = []
        latents: list[torch.Tensor] = []
        latent_shape: list[int] = []
        for number, row in enumerate(tqdm(rows, desc="preprocess", unit="clip", file=sys.stderr, disable=not progress)):
            path, fps = ingest_dir / row.path, row.fps or DEFAULT_FRAME_FOLDER_FPS
            try:
                num_frames = row.num_frames or probe_clip(path, fps, limits).num_frames
                keep = sample_indices(num_frames, settings.frames, settings.sample, fps, settings.fps)
                frames = read_selected(path, keep, limits, lambda frame: resize_frames(frame[None], settings.width, settings.height, settings.crop)[0])
            except ValueError as err:
                raise ValueError(f"{path} (from {row.source_path}): {err}") from err
            latents.append(encode_frames(t2v.vae, to_model_input(frames), settings.vae_batch))
            latent_shape = latent_shape or list(latents[-1].shape)
            if number < settings.previews:
                _write_preview(new_dir, row.sha256, frames, settings.fps or fps)
            if len(latents) == settings.shard_size or number == len(rows) - 1:
                members = rows[number + 1 - len(latents): number + 1]
                tensors = {"latents": torch.stack(latents),
                           "text_embeddings": torch.stack([text_by_caption[r.caption] for r in members])}
                save_file(tensors, new_dir / shard_name(len(shards)), metadata={"format": FORMAT, "content_hash": digest})
                shards.append({"file": shard_name(len(shards)), "num_clips": len(members),
                               "clips": [IndexRow(r.sha256, r.caption).to_json() for r in members]})
                latents = []

        shutil.copyfile(ingest_dir / MANIFEST, new_dir / MANIFEST)
        index = {
            "format": FORMAT,
            "content_hash": digest,
            "model": identity,
            "encoders_sha256": encoders,
            "settings": settings.cache_key(),
            "frames": settings.frames,
            "width": settings.width,
            "height": settings.height,
            "fps": settings.fps,
            "latent_shape": latent_shape,
            "text_embedding_shape": list(text_by_caption[captions[0]].shape),
            "scaling_factor": float(t2v.vae.config.scaling_factor),
            "num_clips": len(rows),
            "shards": shards,
            "manifest": MANIFEST,
        }
        (new_dir / INDEX).write_text(json.dumps(index, indent=2) + "\n")
    return PreprocessResult(out_dir, digest, len(rows), len(shards), reused=False)


class PreprocessedDataset(torch.utils.data.Dataset):
    """All clips of a preprocessed folder, in memory: item i is its latents, text embedding, id, caption."""

    def __init__(self, directory: Path, index: dict[str, Any], latents: torch.Tensor,
                 text_embeddings: torch.Tensor, clips: list[IndexRow]) -> None:
        self.directory, self.index = directory, index
        self.latents, self.text_embeddings, self.clips = latents, text_embeddings, clips

    @property
    def content_hash(self) -> str:
        return self.index["content_hash"]

    @property
    def model(self) -> dict[str, str]:
        return self.index["model"]

    @property
    def scaling_factor(self) -> float:
        return float(self.index["scaling_factor"])

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict[str, Any]:
        clip = self.clips[i]
        return {"latents": self.latents[i], "text_embeddings": self.text_embeddings[i], "id": clip.id, "caption": clip.caption}


def _read_index(index_path: Path) -> dict[str, Any]:
    if not index_path.exists():
        raise FileNotFoundError(f"{index_path} does not exist: run `motionlora data preprocess` into {index_path.parent} first")
    try:
        index = json.loads(index_path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{index_path}: not valid JSON ({err})") from err
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        found = index.get("format") if isinstance(index, dict) else type(index).__name__
        raise ValueError(f"{index_path}: format {found!r}, expected {FORMAT!r}")
    missing = [key for key in _REQUIRED_KEYS if key not in index]
    if missing:
        raise ValueError(f"{index_path}: missing {missing}")
    if not index["shards"] or index["num_clips"] < 1:
        raise ValueError(f"{index_path}: lists no clips (num_clips={index['num_clips']}, {len(index['shards'])} shards)")
    if index["latent_shape"][1] != index["frames"]:
        raise ValueError(f"{index_path}: latent_shape {index['latent_shape']} does not hold frames={index['frames']}")
    return index


def _load_shard(directory: Path, shard: dict[str, Any], index: dict[str, Any]) -> dict[str, torch.Tensor]:
    name = str(shard.get("file", ""))
    if not name or Path(name).name != name:
        raise ValueError(f"{directory / INDEX}: shard file name {name!r} is not a plain file name")
    path = directory / name
    if not path.exists():
        raise FileNotFoundError(f"{path}: listed in {directory / INDEX} but missing")
    # Not checked for NaN here: the trainer names the step and the clip that holds one (`train.loop`).
    tensors = read_tensors(path, "train on", "preprocess the clips again", finite=False)
    count = shard.get("num_clips")
    if count != len(shard.get("clips", [])):
        raise ValueError(f"{directory / INDEX}: {name} has num_clips={count} but {len(shard.get('clips', []))} clip entries")
    for key, tail in (("latents", index["latent_shape"]), ("text_embeddings", index["text_embedding_shape"])):
        if key not in tensors:
            raise ValueError(f"{path}: no tensor {key!r} (has {sorted(tensors)})")
        expected = (count, *tail)
        if tuple(tensors[key].shape) != expected or tensors[key].dtype != torch.float32:
            raise ValueError(f"{path}: {key} is {tensors[key].dtype} {tuple(tensors[key].shape)}, index.json says float32 {expected}")
    return tensors


def load_preprocessed(directory: str | Path) -> PreprocessedDataset:
    """Load a preprocessed folder after checking index.json against every shard (clear errors on mismatch)."""
    directory = Path(directory)
    index = _read_index(directory / INDEX)
    latents, texts, clips = [], [], []
    for shard in index["shards"]:
        tensors = _load_shard(directory, shard, index)
        latents.append(tensors["latents"])
        texts.append(tensors["text_embeddings"])
        try:
            clips.extend(IndexRow.from_json(clip) for clip in shard["clips"])
        except ValueError as err:
            raise ValueError(f"{directory / INDEX}: {err}") from err
    if len(clips) != index["num_clips"]:
        raise ValueError(f"{directory / INDEX}: num_clips={index['num_clips']} but the shards hold {len(clips)}")
    return PreprocessedDataset(directory, index, torch.cat(latents), torch.cat(texts), clips)
