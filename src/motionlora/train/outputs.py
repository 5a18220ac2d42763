"""What a training run writes into its folder, by name: the steps that read a run's output (the
pipeline's evaluate and register) find it here without importing the trainer."""

ADAPTER_DIR = "adapter"
SUMMARY_FILE = "train_summary.json"
RUN_FILE = "mlflow_run.json"
SYNC_FILE = "debug/sync.jsonl"
SUMMARY_FORMAT = "motionlora.train-summary/1"
