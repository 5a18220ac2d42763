"""Compile the pipeline to YAML; the checked-in copy lives in pipelines/compiled/ (a test keeps it current)."""

from pathlib import Path

from kfp import compiler

from pipelines.motion_customization import motion_customization

COMPILED = Path(__file__).with_name("compiled") / "motion_customization.yaml"


def compile_pipeline(out: Path = COMPILED) -> Path:
    """Write the compiled pipeline spec (with the image MOTIONLORA_IMAGE named at import time) to `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(motion_customization, str(out))
    return out
