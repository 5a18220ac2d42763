"""Validation videos during training: sample the validation prompts with the adapter as it is now.

Runs on rank 0 only. The VAE and text encoder are not part of training (the data holds their
outputs), so they are loaded on the first validation and kept. The spatial LoRA is switched off
while sampling: it is discarded at the end and never part of what the adapter does at inference.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from motionlora.data.preprocess import PreprocessedDataset
from motionlora.models.loading import T2VModel, load_t2v_model
from motionlora.motion.lora import set_lora_enabled
from motionlora.motion.spatial import SPATIAL_ADAPTER
from motionlora.tracking import NullRun
from motionlora.train.config import TrainConfig

if TYPE_CHECKING:
    from motionlora.sampling import SamplingConfig

log = logging.getLogger("motionlora.train")


@dataclass
class Validator:
    """Writes `out_dir/validation/step-N/prompt-i.gif` and logs each as an MLflow artifact."""

    model: T2VModel
    config: TrainConfig
    dataset: PreprocessedDataset
    out_dir: Path
    run: NullRun
    _encoders: T2VModel | None = field(default=None, init=False)

    def due(self, step: int) -> bool:
        """Whether optimizer step `step` (1-based) ends with a validation."""
        return bool(self.config.validation_prompts) and (step % self.config.validation_every == 0 or step == self.config.steps)

    def _sampling(self) -> SamplingConfig:
        """Sampled as the adapter will be (its highway and PLI τ), at the size of the training clips."""
        from motionlora.sampling import sampling_config

        index = self.dataset.index
        return sampling_config(adapter=self.config, steps=self.config.validation_sampling_steps,
                               guidance_scale=self.config.validation_guidance, frames=index["frames"],
                               width=index["width"], height=index["height"])

    def __call__(self, unet: torch.nn.Module, step: int) -> list[Path]:
        """Sample every validation prompt (fixed seed) without disturbing training's RNG streams."""
        from motionlora.data.video import write_video
        from motionlora.generate import generate_video

        if self._encoders is None:
            self._encoders = load_t2v_model(self.model.model_dir, parts=("vae", "text_encoder", "tokenizer"), device=unet.device)
        t2v = T2VModel(self.model.model_dir, self.model.identity, unet=unet, vae=self._encoders.vae,
                       text_encoder=self._encoders.text_encoder, tokenizer=self._encoders.tokenizer, scheduler=self.model.scheduler)
        sampling, fps = self._sampling(), self.dataset.index.get("fps") or 8.0
        folder = self.out_dir / "validation" / f"step-{step:08d}"
        written = []
        unet.eval()
        set_lora_enabled(unet, SPATIAL_ADAPTER, False)
        try:
            with torch.random.fork_rng(devices=[unet.device] if unet.device.type == "cuda" else []):
                for i, prompt in enumerate(self.config.validation_prompts):
                    frames = generate_video(t2v, prompt, sampling, seed=self.config.validation_seed)
                    path = write_video(folder / f"prompt-{i}.gif", frames, fps=fps)
                    self.run.log_artifact(path, f"validation/step-{step:08d}")
                    written.append(path)
        finally:
            set_lora_enabled(unet, SPATIAL_ADAPTER, True)
            unet.train()
        log.info("step %d: validation videos in %s", step, folder)
        return written
