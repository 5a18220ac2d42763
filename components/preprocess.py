"""Component `preprocess`: encode the ingested clips to VAE latents and text embeddings."""

from kfp.dsl import Dataset, Input, Output

from components import component


@component
def preprocess(ingested: Input[Dataset], base_model: str, frames: int, width: int, height: int, tracking_uri: str,
               experiment: str, content_key: str, latents: Output[Dataset]):
    """`motionlora data preprocess` of the `ingested` clips with `base_model`'s encoders into `latents`."""
    from motionlora.data.preprocess import PreprocessSettings
    from motionlora.data.preprocess import preprocess as encode_clips
    from motionlora.tracking.pipeline_run import content_step

    with content_step(tracking_uri, experiment, content_key, "preprocess"):
        result = encode_clips(ingested.path, base_model, latents.path,
                              PreprocessSettings(frames=frames, width=width, height=height), progress=False)
    latents.metadata.update({"content_hash": result.content_hash, "clips": result.num_clips})
