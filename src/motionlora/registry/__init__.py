"""The model registry side of motionlora: adapters logged as MLflow models and registered as
versions of `motion-<concept>`, the promotion gate, and the aliases `challenger`, `champion` and
`previous-champion`, which only move under a per-model lock (see `lock`).

Modules: `names` (model, alias and tag names), `gate` (the promotion rules), `lock`, `promotion`
(promote, rollback, consistency), `model` (the pyfunc model), `registration` (the pipeline's
register step), `pipeline_run` (a pipeline run's registry side: open it after repairing orphans, promote
its version, withdraw its versions when it fails; the parent run itself is `tracking.pipeline_run`),
`repair` (orphaned runs and their versions), `commands` (the CLI).
"""
