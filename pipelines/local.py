"""`make run`: the whole pipeline on this machine through kfp.local, with MLflow in the working folder.

Each step runs as a subprocess of this Python (`SubprocessRunner(use_venv=False)`: the project's
venv, no pip installs), in the repository folder, so that the repository's models and recipe are
passed (and recorded, in MLflow and in motion.json) by their paths in the repository, not by paths
of this machine. MLflow is the SQLite store `mlflow.db` with artifacts under `mlartifacts/`, both in
the repository's working folder, which `make ui` serves. The default base model and CLIP are the
shapes-world models shipped in `models/`.

The console (`StepConsole`) shows one line when a step starts and one when it finishes, with its
duration, progress with an ETA for the steps that report it (training's `step N/M` log lines,
evaluation's videos), then the closing summary. Everything else that kfp.local and the steps print —
kfp's executor-input dumps, library warnings, the steps' own logs — goes to one file per step,
`<pipeline root>/<run>/logs/<step>.log` (kfp.local's own lines to `pipeline.log` there); `--verbose`
shows it on the console as well.

kfp.local's cache is on (`<pipeline root>/.kfp_cache`): a step whose component, command and inputs
are all as in an earlier run is reused instead of run, and the console says so. Ingest, preprocess,
train and evaluate are keyed by the run's content key, not its parent run id, so a second run of
the same data, model, recipe and settings reuses them (README "Pipeline", caching).
"""

import contextlib
import inspect
import logging
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TextIO

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ROOT / "outputs"
PIPELINE_ROOT = OUTPUTS / "kfp"
STEP_LOGS = "logs"  # under the run's folder: <step>.log, and pipeline.log for kfp.local's own lines
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Progress a step reports: the train loop's log lines ("step 25/400: loss=...") and tqdm bars by their
# description (read as lines: kfp.local reads a step's output with universal newlines, so each "\r"
# redraw of a bar is a line of its own).
_TRAIN_STEP = re.compile(r"\bstep (\d+)/(\d+): ")
_TQDM = re.compile(r"^\s*(?P<desc>[A-Za-z][\w ]*?): *\d+%\|[^|]*\| *(?P<n>\d+)/(?P<total>\d+) ")
TRACKED_BARS = {"evaluate": "videos", "preprocess": "clips", "ingest": "clips"}


def _in_repository(value: str) -> str:
    """`value` as the steps (which run in the repository folder) get it: something in the repository
    by its path there; another existing path made absolute; else as given (hub ids, URLs)."""
    if not value or "://" in value:
        return value
    for candidate in (ROOT / value, Path(value).expanduser()):
        if candidate.exists():
            resolved = candidate.resolve()
            return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(resolved)
    return value


def _absolute(value: str) -> str:
    """`value` made absolute when it names something under the repository; else as given."""
    candidate = ROOT / value
    return str(candidate.resolve()) if "://" not in value and candidate.exists() else value


def local_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """`arguments` as the steps get them, in the repository folder: the models, recipe and DVC repo by
    their paths in the repository (so that no path of this machine is recorded as the base model); a
    plain local source made absolute (the steps read it as a folder, and it is checked before they
    run); the SQLite URI absolute, so that the store is the repository's wherever `make run` started."""
    args = dict(arguments)
    for key in ("base_model", "clip_model", "recipe", "dvc_repo"):
        args[key] = _in_repository(args[key])
    if not args["dvc_repo"]:
        args["source"] = _absolute(args["source"])
    uri = args["tracking_uri"]
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        args["tracking_uri"] = "sqlite:///" + str(ROOT / uri.removeprefix("sqlite:///"))
    return args


def check_local_source(source: str) -> None:
    """Refuse, before any step runs, a plain local source that is missing or holds no files (a URL
    or a DVC path is checked by the ingest step, which can read it)."""
    from motionlora.data.sources import is_direct

    if not is_direct(source) or "://" in source:
        return
    path = Path(source)
    if not path.exists():
        raise ValueError(f"source {source!r} does not exist: give a folder of clips (or one clip file)")
    if path.is_dir() and not any(p.is_file() for p in path.rglob("*")):
        raise ValueError(f"source {source!r} holds no files: put the reference clips (mp4, webm, gif, ...) there")


def _report(tracking_uri: str, experiment: str, concept: str, since: float, pipeline_root: Path) -> str:
    """Where to look after a successful run."""
    from motionlora.registry.names import model_name
    from motionlora.registry.promotion import AliasState
    from motionlora.tracking import tracking_client
    from motionlora.tracking.pipeline_run import TAG_REUSED_FROM, latest_pipeline_run

    run = latest_pipeline_run(tracking_uri, experiment, since)
    client = tracking_client(tracking_uri)
    tags = run.data.tags if run is not None else {}
    reused = tags.get(TAG_REUSED_FROM)
    evaluated = (f"in the evaluate run of pipeline run {reused}, whose work this run reused" if reused
                 else "in its evaluate run")
    lines = [
        f"pipeline finished: registered {tags.get('motionlora.registered', '?')}, gate {tags.get('motionlora.gate', '?')}, "
        f"promotion {tags.get('motionlora.promotion', 'not attempted')}",
        f"{model_name(concept)}: {AliasState.read(client, model_name(concept)).describe()}",
        f"MLflow: {tracking_uri}; parent run {run.info.run_id if run else '?'} in experiment {experiment!r} "
        f"(metrics, report.html and sample videos {evaluated})",
        "look at it with `make ui` (http://127.0.0.1:5000); step outputs are in " + str(pipeline_root),
        f"registry: `motionlora registry show {concept}`",
    ]
    return "\n".join(lines)


def _failure(err: Exception, tracking_uri: str, experiment: str, since: float) -> str:
    """The failed step and its cause, as the step recorded them on the parent run (else KFP's message)."""
    from motionlora.tracking.pipeline_run import failure_message, latest_pipeline_run

    kfp_message = _ANSI.sub("", str(err))
    run = latest_pipeline_run(tracking_uri, experiment, since)
    detail = failure_message(run) if run is not None else None
    return f"pipeline failed: {detail}\n({kfp_message})" if detail else f"pipeline failed: {kfp_message}"


def _duration(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _shown_path(path: Path) -> str:
    """`path` relative to the working folder when it is under it (shorter to read), else as it is."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def progress_of(line: str) -> tuple[str, int, int, str] | None:
    """(what, done, total, unit) when `line` reports a step's progress, else None."""
    if match := _TRAIN_STEP.search(line):
        return "train", int(match[1]), int(match[2]), "steps"
    match = _TQDM.match(line)
    if match and match["desc"] in TRACKED_BARS:
        return match["desc"], int(match["n"]), int(match["total"]), TRACKED_BARS[match["desc"]]
    return None


@dataclass
class _Progress:
    """One progress report of a step: its first observation (the ETA's baseline) and the quarters shown."""

    total: int
    unit: str
    first_done: int
    first_time: float
    quarters: int = 0
    bar: Any = None

    def eta(self, done: int, now: float) -> float | None:
        if done <= self.first_done or now <= self.first_time:
            return None
        return (self.total - done) * (now - self.first_time) / (done - self.first_done)


@dataclass
class StepConsole:
    """What `make run` shows while kfp.local runs the pipeline, and where the rest goes (module doc).

    Used as the `sys.stdout` of the run (kfp.local prints its logs and each step's output there) with
    kfp.local's task functions wrapped (`attached`), so that it knows which step is running. On a
    terminal (`bars` a TTY) progress is a tqdm bar with an ETA; otherwise a line at each quarter.
    """

    pipeline_root: Path
    out: TextIO
    bars: TextIO | None = None
    verbose: bool = False
    clock: Callable[[], float] = time.monotonic
    run_dir: Path | None = None
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (step, "done" | "reused" | "failed")
    _started: float | None = None
    _pending: list[str] = field(default_factory=list)
    _log: TextIO | None = None
    _pipeline_log: TextIO | None = None
    _step: str | None = None
    _step_started: float = 0.0
    _attempts: int = 0
    _partial: str = ""
    _progress: dict[str, _Progress] = field(default_factory=dict)

    # ----- the stream kfp.local prints to -----

    def write(self, text: str) -> int:
        if self.verbose:
            self.out.write(text)
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            self._line(line)
        return len(text)

    def flush(self) -> None:
        self.out.flush()
        if self._log is not None:
            self._log.flush()

    def isatty(self) -> bool:
        return False

    def _line(self, line: str) -> None:
        plain = _ANSI.sub("", line)
        if self._log is not None:
            self._log.write(plain + "\n")
        else:
            self._pending.append(plain)
        if self._step is not None and not self.verbose and (progress := progress_of(plain)):
            self._show_progress(*progress)

    # ----- what the console shows -----

    def _say(self, text: str) -> None:
        now = self.clock()
        if self._started is None:
            self._started = now
        minutes, seconds = divmod(int(now - self._started), 60)
        self.out.write(f"[{minutes:02d}:{seconds:02d}] {text}\n")
        self.out.flush()

    def _open_run(self, pipeline_resource_name: str) -> None:
        if self.run_dir is not None:
            return
        self.run_dir = self.pipeline_root / pipeline_resource_name.split("/")[0]
        (self.run_dir / STEP_LOGS).mkdir(parents=True, exist_ok=True)
        self._pipeline_log = (self.run_dir / STEP_LOGS / "pipeline.log").open("a", encoding="utf-8")
        self._pipeline_log.write("".join(line + "\n" for line in self._pending))
        self._pending.clear()
        self._log = self._pipeline_log
        self._say(f"step logs in {_shown_path(self.run_dir / STEP_LOGS)}" + ("" if self.verbose else
                                                                             " (--verbose shows them here)"))

    def step_log(self, step: str) -> Path:
        assert self.run_dir is not None
        return self.run_dir / STEP_LOGS / f"{step}.log"

    def enter_step(self, step: str, pipeline_resource_name: str) -> None:
        self._open_run(pipeline_resource_name)
        self._flush_partial()
        self._step, self._step_started, self._attempts = step, self.clock(), 0
        self._log = self.step_log(step).open("a", encoding="utf-8")

    def attempt(self) -> None:
        """The step runs (it was not served from the cache): once, or again on a retry."""
        self._attempts += 1
        self._say(f"{self._step} started" if self._attempts == 1 else f"{self._step} retrying (attempt {self._attempts})")

    def leave_step(self, succeeded: bool) -> None:
        step, took = self._step, self.clock() - self._step_started
        self._flush_partial()
        for progress in self._progress.values():
            if progress.bar is not None:
                progress.bar.close()
        self._progress.clear()
        if self._log is not None and self._log is not self._pipeline_log:
            self._log.close()
        self._log, self._step = self._pipeline_log, None
        if not succeeded:
            outcome = "failed"
            self._say(f"{step} FAILED after {_duration(took)}; its log: {_shown_path(self.step_log(step))}")
        elif self._attempts == 0:
            outcome = "reused"
            self._say(f"{step} reused from an earlier run (kfp.local cache: same component and inputs), not run again")
        else:
            outcome = "done"
            self._say(f"{step} done in {_duration(took)}")
        self.outcomes.append((step, outcome))

    def close(self) -> None:
        self._flush_partial()
        if self._pipeline_log is not None:
            self._pipeline_log.close()
        self._log = self._pipeline_log = None
        if self._pending and not self.verbose:  # the run failed before any step: show why
            self.out.write("".join(line + "\n" for line in self._pending))
        self._pending.clear()

    def _flush_partial(self) -> None:
        if self._partial:
            partial, self._partial = self._partial, ""
            self._line(partial)

    def _show_progress(self, what: str, done: int, total: int, unit: str) -> None:
        now = self.clock()
        progress = self._progress.get(what)
        if progress is None or progress.total != total or done < progress.first_done:
            if progress is not None and progress.bar is not None:
                progress.bar.close()
            progress = self._progress[what] = _Progress(total, unit, done, now)
        label = what if what == self._step else f"{self._step} {what}"
        if self.bars is not None:
            if progress.bar is None:
                from tqdm import tqdm

                progress.bar = tqdm(total=total, initial=done, desc=label, unit=unit.removesuffix("s"),
                                    file=self.bars, leave=False, dynamic_ncols=True,
                                    mininterval=0)  # progress comes seldom: a line per video, per 25 steps
            progress.bar.update(done - progress.bar.n)
            return
        quarter = 4 * done // total if total > 0 else 0
        if quarter > progress.quarters and done < total:
            progress.quarters = quarter
            eta = progress.eta(done, now)
            left = f", ETA {_duration(eta)}" if eta is not None else ""
            self._say(f"{label} {done}/{total} {unit} ({100 * done // total}%){left}")

    # ----- kfp.local, wrapped -----

    @contextlib.contextmanager
    def attached(self) -> Iterator["StepConsole"]:
        """kfp.local's output into this console for the `with` block: its stdout, its log records and
        the warnings raised in this process (the steps' own go to their stdout), and its task
        functions wrapped to mark where each step starts and ends."""
        import warnings

        from kfp.local import status, task_dispatcher
        from kfp.local.orchestrator import task_executor

        execute, run_task = task_executor.execute_single_task, task_dispatcher.run_single_task_implementation
        execute_signature = inspect.signature(execute)

        def execute_step(*args: Any, **kwargs: Any) -> Any:
            named = execute_signature.bind(*args, **kwargs).arguments
            self.enter_step(named["task_name"], named["pipeline_resource_name"])
            succeeded = False
            try:
                outputs, task_status = execute(*args, **kwargs)
                succeeded = task_status == status.Status.SUCCESS
                return outputs, task_status
            finally:
                self.leave_step(succeeded)

        def run_step(*args: Any, **kwargs: Any) -> Any:
            self.attempt()
            return run_task(*args, **kwargs)

        def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
            self.write(warnings.formatwarning(message, category, filename, lineno, line))

        root = logging.getLogger()
        handler, level = logging.StreamHandler(self), root.level
        task_executor.execute_single_task, task_dispatcher.run_single_task_implementation = execute_step, run_step
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(self):
                warnings.showwarning = show_warning
                warnings.filterwarnings("ignore", message=".*non-Python base image.*")
                yield self
        finally:
            task_executor.execute_single_task, task_dispatcher.run_single_task_implementation = execute, run_task
            root.removeHandler(handler)
            root.setLevel(level)
            self.close()


def run_pipeline(pipeline: Callable[..., Any], arguments: Mapping[str, Any], pipeline_root: Path,
                 verbose: bool = False, out: TextIO | None = None, bars: TextIO | None = None) -> StepConsole:
    """Run `pipeline` with `arguments` on kfp.local (its cache on, step outputs under `pipeline_root`),
    showing it through a StepConsole on `out` (default: stdout), with progress bars on `bars` (default:
    stderr) when that is a terminal. kfp.local's RuntimeError, if a step failed, passes through."""
    from kfp import local

    out = sys.stdout if out is None else out
    bars = sys.stderr if bars is None else bars
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root), enable_caching=True)
    console = StepConsole(Path(pipeline_root), out, bars if bars.isatty() and not verbose else None, verbose)
    with console.attached():
        pipeline(**arguments)
    return console


def run_local(arguments: Mapping[str, Any], pipeline_root: Path = PIPELINE_ROOT, verbose: bool = False) -> int:
    """Run the pipeline with `arguments` over its defaults, step outputs under `pipeline_root`, in the
    repository folder; prints a line per step, then where to look (or which step failed and why);
    returns the exit status. `verbose`: everything kfp.local and the steps print, too."""
    from pipelines.arguments import pipeline_parameters
    from pipelines.motion_customization import motion_customization

    merged = {**pipeline_parameters(), **arguments}
    args = local_arguments(merged)
    pipeline_root = Path(pipeline_root).resolve()
    started = time.time()
    with contextlib.chdir(ROOT):
        check_local_source(args["source"])
        try:
            run_pipeline(motion_customization, args, pipeline_root, verbose)
        except RuntimeError as err:
            print(_failure(err, args["tracking_uri"], args["experiment"], started))
            return 1
    print(_report(args["tracking_uri"], args["experiment"], args["concept"], started, pipeline_root))
    print(f"took {time.time() - started:.0f}s")
    return 0
