"""Compile-time settings of the steps on a cluster: GPUs, node placement, retries and timeout of the
train step; the identity, resources, labels and credentials of every step's pod.

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

# Every step pod: non-root (KFP's compiler adds no privilege escalation, drop ALL capabilities and the
# RuntimeDefault seccomp profile itself; KFP's executor writes its outputs into the container's
# filesystem, so a step cannot have a read-only root, unlike our own Deployments and TrainJob pods).
RUN_AS_USER = 1000
STEP_RESOURCES = {"cpu_request": "500m", "cpu_limit": "2", "memory_request": "1Gi", "memory_limit": "8Gi"}
TRAIN_RESOURCES = {"cpu_request": "4", "cpu_limit": "8", "memory_request": "16Gi", "memory_limit": "32Gi"}
# Lets the pod through the namespace's NetworkPolicy to MLflow (infra/k8s/base/network-policy.yaml).
MLFLOW_CLIENT_LABEL = ("motionlora.io/mlflow-client", "true")
# The pipeline's MLflow user (MLflow's basic-auth app; infra/k8s/base/mlflow.yaml).
MLFLOW_CLIENT_SECRET = "mlflow-client"
MLFLOW_CLIENT_ENV = {"username": "MLFLOW_TRACKING_USERNAME", "password": "MLFLOW_TRACKING_PASSWORD"}
# What the train step's launcher reads (infra/k8s/base/launch-config.yaml).
LAUNCH_CONFIG_MAP = "motionlora-launch"
LAUNCH_KEYS = ("MOTIONLORA_RUNTIME", "MOTIONLORA_PVC", "MOTIONLORA_MOUNT_PATH", "MOTIONLORA_IMAGE", "MLFLOW_TRACKING_URI",
               "MOTIONLORA_RESOURCES", "MOTIONLORA_SECRET_ENV")
