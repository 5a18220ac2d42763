"""diffusers' own pipelines over a loaded model's parts: the reference our sampler is checked and
benchmarked against."""

from __future__ import annotations

import warnings

from motionlora.models.loading import T2VModel


def diffusers_pipeline(model: T2VModel):
    """diffusers' own pipeline over the same parts (TextToVideoSDPipeline for UNet3D, AnimateDiffPipeline
    for AnimateDiff): the reference this sampler is checked and benchmarked against."""
    from diffusers import AnimateDiffPipeline, TextToVideoSDPipeline, UNetMotionModel

    parts = {"vae": model.vae, "text_encoder": model.text_encoder, "tokenizer": model.tokenizer, "unet": model.unet, "scheduler": model.scheduler}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TextToVideoSDPipeline's deprecation notice
        if isinstance(model.unet, UNetMotionModel):
            pipe = AnimateDiffPipeline(**parts, motion_adapter=None)
        else:
            pipe = TextToVideoSDPipeline(**parts)
    pipe.set_progress_bar_config(disable=True)
    return pipe
