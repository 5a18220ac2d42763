"""The names of what `motionlora evaluate` writes into its --out folder. The registry reads
metrics.json back from the same folder, so the name lives here, once, for both sides."""

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.html"
VIDEOS_DIR = "videos"
