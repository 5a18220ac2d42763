"""Motion adapters in the layouts stock tools load, written from our adapter folder.

* `diffusers`: `pytorch_lora_weights.safetensors`, written by diffusers' own `save_lora_weights`
  (keys `unet.<module>.lora_A/B.weight`, the LoRA config in the file's metadata), which
  `AnimateDiffPipeline.load_lora_weights(dir)` and `unet.load_lora_adapter(dir, prefix="unet")` load
  as is. (diffusers 0.42's UNet3DConditionModel — ZeroScope — has no LoRA loader: use `peft` there.)
* `peft`: `adapter_model.safetensors` with peft's `base_model.model.` key prefix beside
  `adapter_config.json`: `PeftModel.from_pretrained(unet, dir)` loads it with no missing keys.

Our own folder keeps peft's file names but stores the keys relative to the UNet (what
`unet.load_lora_adapter(dir, prefix=None)` and our loader read), plus `motion.json`. Stock loaders do
not know the appearance highway or PLI, so they sample as with AH off and no PLI.

ComfyUI (AnimateDiff-Evolved) motion LoRAs use the original AnimateDiff module names
(`...motion_modules.N.temporal_transformer.transformer_blocks.M.attention_blocks.K.to_q`), which no
public specification maps one to one onto diffusers' `UNetMotionModel`; without a ComfyUI to load and
compare against, such a file could not be checked, so it is not offered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from motionlora.motion.adapter_info import CONFIG_NAME, MotionAdapterInfo

Format = Literal["diffusers", "peft"]
FORMATS: tuple[str, ...] = ("diffusers", "peft")
DIFFUSERS_WEIGHTS = "pytorch_lora_weights.safetensors"
PEFT_PREFIX = "base_model.model."


def export_adapter(adapter_dir: str | Path, out_dir: str | Path, format: Format) -> Path:
    """Write the adapter in `adapter_dir` to `out_dir` in `format`; returns the folder."""
    from peft import LoraConfig

    from motionlora.motion.adapter import read_adapter_weights

    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of {list(FORMATS)}")
    adapter_dir, out = Path(adapter_dir), Path(out_dir)
    MotionAdapterInfo.read(adapter_dir)
    weights = read_adapter_weights(adapter_dir)
    config = LoraConfig.from_pretrained(str(adapter_dir))
    if format == "diffusers":
        from diffusers.loaders import StableDiffusionLoraLoaderMixin

        metadata = {"r": config.r, "lora_alpha": config.lora_alpha, "target_modules": sorted(config.target_modules),
                    "lora_dropout": 0.0, "init_lora_weights": True}
        StableDiffusionLoraLoaderMixin.save_lora_weights(out, unet_lora_layers=weights, weight_name=DIFFUSERS_WEIGHTS,
                                                         unet_lora_adapter_metadata=metadata)
        return out
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    save_file({PEFT_PREFIX + key: value for key, value in weights.items()}, out / "adapter_model.safetensors")
    (out / CONFIG_NAME).write_text((adapter_dir / CONFIG_NAME).read_text())
    return out
