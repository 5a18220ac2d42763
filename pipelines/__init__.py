"""The motion-customization pipeline: its DAG, compiled YAML, and the commands that run, compile,
submit and schedule it (`python -m pipelines ...`). KFP stays out of the `motionlora` library."""
