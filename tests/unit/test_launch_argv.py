"""A train request crosses a process boundary (torchrun, a TrainJob's nodes) as `motionlora train`
arguments and arrives as the same request: the child parses them with the real CLI parser and
resolves the very same TrainConfig, without the parent's recipe file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from motionlora.cli import build_parser
from motionlora.config import load_config
from motionlora.tracking import TrackingOptions
from motionlora.train import TrainConfig
from motionlora.train.commands import request_from_args, train_argv
from motionlora.train.request import TrainRequest

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "configs").glob("*.yaml"))
# Values YAML could misread if they were written bare: YAML 1.1 booleans, numbers without a dot,
# quotes, colons, comment marks, non-ASCII text, and None where a number is allowed.
AWKWARD = TrainConfig(
    model="s3://bucket/model: v2", preset="tap-qk", rank=4, alpha=None, spatial_rank=None, learning_rate=1e-05,
    spatial_learning_rate=2.5e-7, weight_decay=1e16, mixed_precision="no", highway_scope="off", highway_beta=0.9,
    pli_tau=0, max_grad_norm=None, validation_prompts=('a "quoted" prompt: # not a comment', "un carré rouge, qui saute",
                                                       "yes", "1e3", "null", ""),
    seed=-3, dual_path=False,
)


def arrived(request: TrainRequest) -> TrainRequest:
    """The request a child process builds from `train_argv(request)`."""
    return request_from_args(build_parser().parse_args(["train", *train_argv(request)]))


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_arrives_as_the_same_config(recipe):
    request = TrainRequest(load_config(TrainConfig, ROOT / recipe, "train"), "/data/pre", "/data/runs/a", "models/shapes",
                           TrackingOptions(tracking_uri="http://mlflow:5000", parent_run_id="abc123", run_name="train"))
    assert arrived(request) == request


def test_awkward_values_and_no_tracking_arrive_unchanged():
    request = TrainRequest(AWKWARD, "/data/pre dir", "/data/runs/b", tracking=TrackingOptions(enabled=False))
    assert arrived(request) == request
    assert arrived(request).config.validation_prompts[2:5] == ("yes", "1e3", "null")  # text, not True, 1000.0, None


def test_every_tracking_option_arrives():
    tracking = TrackingOptions(tracking_uri="sqlite:///m.db", experiment="exp", parent_run_id="p", run_name="r")
    assert arrived(TrainRequest(TrainConfig(), "/d", "/o", tracking=tracking)).tracking == tracking


def test_the_argv_carries_every_setting_and_no_recipe():
    argv = train_argv(TrainRequest(dataclasses.replace(TrainConfig(), steps=7), "/d", "/o", "m"))
    assert argv[:6] == ["--data", "/d", "--out", "/o", "--model", "m"] and "--config" not in argv
    sets = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--set"]
    assert [item.partition("=")[0] for item in sets] == [f.name for f in dataclasses.fields(TrainConfig)]
    assert "steps=7" in sets and 'preset="all"' in sets
