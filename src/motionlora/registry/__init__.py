"""The model registry side of motionlora: adapters logged as MLflow models and registered as
versions of `motion-<concept>`, the promotion gate, and the aliases `challenger`, `champion` and
`previous-champion`, which only move under a per-model lock (see `lock`).

Modules: `names` (model, alias and tag names), `gate` (the promotion rules), `lock`, `promotion`
(promote, rollback, consistency), `model` (the pyfunc model), `registration` (the pipeline's
register step), `pipeline_run` (the pipeline's MLflow parent run), `commands` (the CLI).
"""
