"""`motionlora registry list|show|promote|rollback` on a SQLite registry."""

from __future__ import annotations

import argparse
import json

import mlflow
import pytest

from motionlora.registry import commands
from motionlora.registry.gate import GateConfig
from motionlora.registry.names import TAG_CI_PREFIX, TAG_METRIC_PREFIX
from motionlora.registry.promotion import AliasState, assess, set_challenger


def run(uri: str, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="motionlora")
    commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["registry", "--tracking-uri", uri, *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def registry(tmp_path_factory, mlflow_sqlite):
    """motion-zigzag with v1 (motion gain 0.5, 95% CI ±0.05) and v2 (0.3), both assessed by a pipeline whose
    gate wants the CI's lower bound above 0.4."""
    uri = mlflow_sqlite(tmp_path_factory.mktemp("cli"))
    client = mlflow.MlflowClient(uri)
    client.create_registered_model("motion-zigzag")
    for gain in (0.5, 0.3):
        tags = {f"{TAG_METRIC_PREFIX}motion_gain": str(gain), f"{TAG_CI_PREFIX}motion_gain": json.dumps([gain - 0.05, gain + 0.05, 8]),
                f"{TAG_METRIC_PREFIX}text_alignment_delta": "-1", f"{TAG_METRIC_PREFIX}appearance_leakage": "0"}
        version = str(client.create_model_version("motion-zigzag", "/nonexistent/model", tags=tags).version)
        set_challenger(client, "motion-zigzag", version)
        assess(client, "motion-zigzag", version, GateConfig(min_motion_gain=0.4), None)
    return uri, client


@pytest.mark.slow
def test_promote_show_list_and_rollback(registry, capsys):
    uri, client = registry
    assert run(uri, "promote", "zigzag", "1") == 0
    assert "promoted" in capsys.readouterr().out

    # v2 fails the floor its pipeline used (recorded on the version): not without --force --reason.
    assert run(uri, "promote", "motion-zigzag", "2") == 1
    assert "FAIL motion_gain 0.3000, 95% CI [0.2500, 0.3500] over 8 pairs: lower bound 0.2500 <= min_motion_gain 0.4000" \
        in capsys.readouterr().out
    with pytest.raises(ValueError, match="reason"):
        run(uri, "promote", "zigzag", "2", "--force")
    assert run(uri, "promote", "zigzag", "2", "--force", "--reason", "known-good by eye") == 0
    assert AliasState.read(client, "motion-zigzag") == AliasState(champion="2", challenger="2", previous_champion="1")
    capsys.readouterr()

    assert run(uri, "list") == 0
    assert capsys.readouterr().out.strip() == "motion-zigzag: champion=v2, previous-champion=v1, challenger=v2"
    assert run(uri, "show", "zigzag") == 0
    shown = capsys.readouterr().out
    assert "v2 [champion, challenger]" in shown and "promotion_reason: known-good by eye" in shown
    assert "INCONSISTENT" not in shown

    assert run(uri, "rollback", "zigzag", "--reason", "v2 flickers") == 0
    assert AliasState.read(client, "motion-zigzag").champion == "1"
    capsys.readouterr()

    # Thresholds given by hand replace the recorded ones.
    assert run(uri, "promote", "zigzag", "2", "--set", "min_motion_gain=0.2", "--set", "tolerance=0.5") == 0
    assert "ok motion_gain 0.3000, 95% CI [0.2500, 0.3500] over 8 pairs: lower bound 0.2500 > min_motion_gain 0.2000" \
        in capsys.readouterr().out


def test_errors_are_one_line(registry, capsys):
    uri, _ = registry
    assert run(uri, "promote", "zigzag", "99") == 2
    assert capsys.readouterr().err.startswith("motionlora registry promote: error:")
