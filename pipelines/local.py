"""`make run`: the whole pipeline on this machine through kfp.local, with MLflow in the working folder.

Each step runs as a subprocess of this Python (`SubprocessRunner(use_venv=False)`: the project's
venv, no pip installs). MLflow is the SQLite store `mlflow.db` with artifacts under `mlartifacts/`,
both in the repository's working folder, which `make ui` serves. The default base model and CLIP
are the shapes-world models shipped in `models/`.
"""

import re
import time
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ROOT / "outputs"
PIPELINE_ROOT = OUTPUTS / "kfp"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _local(value: str) -> str:
    """`value` made absolute when it names something under the repository; else as given (hub ids, URLs)."""
    candidate = ROOT / value
    return str(candidate.resolve()) if "://" not in value and candidate.exists() else value


def local_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """`arguments` with local paths and the SQLite URI made absolute (relative to the repository), so
    the steps do not depend on the directory `make run` was started from."""
    args = dict(arguments)
    for key in ("base_model", "clip_model", "recipe", "dvc_repo"):
        args[key] = _local(args[key]) if args[key] else args[key]
    if not args["dvc_repo"]:
        args["source"] = _local(args["source"])
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
    import mlflow

    from motionlora.registry.names import model_name
    from motionlora.tracking.pipeline_run import latest_pipeline_run
    from motionlora.registry.promotion import AliasState

    run = latest_pipeline_run(tracking_uri, experiment, since)
    client = mlflow.MlflowClient(tracking_uri)
    tags = run.data.tags if run is not None else {}
    lines = [
        f"pipeline finished: registered {tags.get('motionlora.registered', '?')}, gate {tags.get('motionlora.gate', '?')}, "
        f"promotion {tags.get('motionlora.promotion', 'not attempted')}",
        f"{model_name(concept)}: {AliasState.read(client, model_name(concept)).describe()}",
        f"MLflow: {tracking_uri}; parent run {run.info.run_id if run else '?'} in experiment {experiment!r} "
        "(metrics, report.html and sample videos in its evaluate run)",
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


def run_local(arguments: Mapping[str, Any], pipeline_root: Path = PIPELINE_ROOT) -> int:
    """Run the pipeline with `arguments` over its defaults, step outputs under `pipeline_root`;
    prints where to look (or which step failed and why); returns the exit status."""
    import warnings

    from kfp import local

    from pipelines.arguments import pipeline_parameters
    from pipelines.motion_customization import motion_customization

    merged = {**pipeline_parameters(), **arguments}
    args = local_arguments(merged)
    check_local_source(args["source"])
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root))
    started = time.time()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non-Python base image.*")
        try:
            motion_customization(**args)
        except RuntimeError as err:
            print(_failure(err, args["tracking_uri"], args["experiment"], started))
            return 1
    print(_report(args["tracking_uri"], args["experiment"], args["concept"], started, pipeline_root))
    print(f"took {time.time() - started:.0f}s")
    return 0
