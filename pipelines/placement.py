"""Compile-time settings of the train step on a cluster: GPUs, node placement, retries, timeout.

They are constants in one place so that a cluster with other GPU labels or taints changes one file
(then `python -m pipelines compile`); the compiled YAML is checked into pipelines/compiled/.
"""

GPU_RESOURCE = "nvidia.com/gpu"
TRAIN_GPUS = 1  # per train pod; with nodes > 1 the Trainer's TrainJob requests its own GPUs
GPU_NODE_SELECTOR = {"nvidia.com/gpu.present": "true"}
GPU_TOLERATIONS = ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)
TRAIN_RETRIES = 2  # node loss, preemption, image pulls; a retry resumes only if --out is on shared storage
TRAIN_BACKOFF = "120s"
TRAIN_BACKOFF_FACTOR = 2.0
TRAIN_TIMEOUT_S = 12 * 3600
