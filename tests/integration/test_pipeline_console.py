"""What `make run` shows (pipelines.local.StepConsole): a line per step start and finish, progress
with an ETA, and kfp.local's executor dumps and the steps' warnings in per-step log files instead.

A small pipeline of the project's own kind of components runs under the real kfp.local (with its
cache on, as `make run` has it), twice: the second run reuses the cacheable step and says so. The
progress display is tested line by line with a fake clock.
"""


import io
import re
from pathlib import Path

import pytest
from kfp import dsl

from components import component
from pipelines.local import StepConsole, progress_of, run_pipeline

STEP_LINE = re.compile(r"^\[\d\d:\d\d\] ")


@component
def count(text: str, steps: int) -> str:
    """Prints like a training step: library noise, a warning, `step N/M:` log lines."""
    import logging
    import warnings

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print("some library's chatter")
    warnings.warn("a third-party deprecation")
    for step in range(1, steps + 1):
        logging.getLogger("motionlora.train").info("step %d/%d: loss=%.3f", step, steps, 1.0 / step)
    return text.upper()


@component
def stamp(text: str, run: str) -> str:
    """Takes the run's id, as the project's MLflow-tracking steps take their parent run's."""
    return f"{text}@{run}"


@dsl.pipeline(name="console-check")
def toy(text: str = "hi", steps: int = 4):
    counted = count(text=text, steps=steps).set_cpu_limit("1")  # which kfp.local warns it ignores
    stamp(text=counted.output, run=dsl.PIPELINE_JOB_ID_PLACEHOLDER).set_caching_options(enable_caching=False)


def _run(root: Path, verbose: bool = False) -> tuple[StepConsole, list[str]]:
    out = io.StringIO()
    console = run_pipeline(toy, {"text": "hi", "steps": 4}, root, verbose=verbose, out=out)
    return console, out.getvalue().splitlines()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kfp")


@pytest.fixture(scope="module")
def first(root):
    return _run(root)


def test_the_console_shows_a_line_per_step_start_and_finish_and_progress(first):
    console, lines = first
    assert all(STEP_LINE.match(line) for line in lines), lines
    said = [STEP_LINE.sub("", line) for line in lines]
    assert said[0] == f"step logs in {console.run_dir / 'logs'} (--verbose shows them here)"
    assert said[1] == "count started"
    assert [re.sub(r"ETA \S+$", "ETA <t>", line) for line in said[2:5]] == [
        "count train 1/4 steps (25%)",  # nothing to estimate from yet
        "count train 2/4 steps (50%), ETA <t>",
        "count train 3/4 steps (75%), ETA <t>",
    ]
    assert re.fullmatch(r"count done in \d+\.\ds", said[5])
    assert said[6] == "stamp started" and re.fullmatch(r"stamp done in \d+\.\ds", said[7])
    assert len(said) == 8
    assert console.outcomes == [("count", "done"), ("stamp", "done")]


def test_executor_dumps_and_warnings_go_to_the_step_logs(first):
    console, lines = first
    shown = "\n".join(lines)
    log = (console.run_dir / "logs" / "count.log").read_text()
    for noise in ("Got executor_input", "some library's chatter", "a third-party deprecation",
                  "have no effect in the current local runner"):  # the last one: kfp.local's, in this process
        assert noise in log and noise not in shown
    assert "step 4/4: loss=0.250" in log
    assert "Running pipeline" in (console.run_dir / "logs" / "pipeline.log").read_text()
    assert "Got executor_input" in (console.run_dir / "logs" / "stamp.log").read_text()


def test_a_second_run_reuses_the_cached_step_and_says_so(first, root):
    console, lines = _run(root)
    said = [STEP_LINE.sub("", line) for line in lines]
    assert said[1] == "count reused from an earlier run (kfp.local cache: same component and inputs), not run again"
    assert said[2] == "stamp started"  # takes the run id: never the same inputs twice
    assert console.outcomes == [("count", "reused"), ("stamp", "done")]
    assert console.run_dir != first[0].run_dir


def test_verbose_shows_what_the_step_logs_hold(root):
    console, lines = _run(root, verbose=True)
    shown = "\n".join(lines)
    assert "Got executor_input" in shown and "count reused from an earlier run" in shown
    assert "Got executor_input" in (console.run_dir / "logs" / "stamp.log").read_text()


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _console(tmp_path, clock, bars=None) -> tuple[StepConsole, io.StringIO]:
    out = io.StringIO()
    console = StepConsole(tmp_path, out, bars, clock=clock)
    console.enter_step("train", "motion-customization-1")
    console.attempt()
    return console, out


def test_progress_lines_come_at_each_quarter_with_an_eta(tmp_path):
    clock = FakeClock()
    console, out = _console(tmp_path, clock)
    for step in range(25, 401, 25):  # the train loop logs every 25 steps; a step takes 0.5 s
        clock.now += 12.5
        console.write(f"    [KFP Executor 2026-01-01 00:00:00,000 INFO]: step {step}/400: loss=0.1, lr=0.001\n")
    clock.now += 1
    console.leave_step(True)
    assert [STEP_LINE.sub("", line) for line in out.getvalue().splitlines()][-5:] == [
        "train started",
        "train 100/400 steps (25%), ETA 2m30s",
        "train 200/400 steps (50%), ETA 1m40s",
        "train 300/400 steps (75%), ETA 50.0s",
        "train done in 3m21s",
    ]
    assert "step 400/400: loss=0.1" in console.step_log("train").read_text()


def test_an_evaluation_bar_is_followed_by_the_videos_it_makes(tmp_path):
    clock = FakeClock()
    console, out = _console(tmp_path, clock)
    for done in range(9):
        console.write(f"    evaluate: {100 * done // 8:3d}%|##        | {done}/8 [00:0{done}<00:10,  1.77s/video]\n")
        clock.now += 10
    said = [STEP_LINE.sub("", line) for line in out.getvalue().splitlines()]
    assert said[-3:] == ["train evaluate 2/8 videos (25%), ETA 1m00s", "train evaluate 4/8 videos (50%), ETA 40.0s",
                         "train evaluate 6/8 videos (75%), ETA 20.0s"]


def test_on_a_terminal_progress_is_a_bar_with_an_eta(tmp_path):
    clock = FakeClock()
    terminal = FakeTerminal()
    console, out = _console(tmp_path, clock, bars=terminal)
    for step in (1, 2, 3):
        console.write(f"step {step}/4: loss=1.0\n")
    assert "train:  75%" in terminal.getvalue() and "| 3/4 [" in terminal.getvalue()
    console.leave_step(True)
    assert [STEP_LINE.sub("", line) for line in out.getvalue().splitlines()][-2:] == ["train started",
                                                                                      "train done in 0.0s"]


def test_a_failed_step_names_its_log(tmp_path):
    console, out = _console(tmp_path, FakeClock())
    console.write("Traceback (most recent call last):\nValueError: no clips\n")
    console.leave_step(False)
    log = console.step_log("train")
    assert out.getvalue().splitlines()[-1].endswith(f"train FAILED after 0.0s; its log: {log}")
    assert "ValueError: no clips" in log.read_text()


@pytest.mark.parametrize("line, expected", [
    ("[KFP Executor 2026 INFO]: step 25/400: loss=1.1, lr=0.001", ("train", 25, 400, "steps")),
    ("evaluate:  25%|##5       | 1/4 [00:01<00:05,  1.77s/video]", ("evaluate", 1, 4, "videos")),
    ("Loading weights: 100%|##########| 36/36 [00:00<00:00, 11584.70it/s]", None),  # not a step's progress
    ("resuming from step 3 (checkpoints/step-3)", None),
])
def test_what_counts_as_progress(line, expected):
    assert progress_of(line) == expected
