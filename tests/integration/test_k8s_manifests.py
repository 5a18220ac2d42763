"""infra/k8s: both overlays build with a real kustomize, pass strict offline schema validation, grant
the pipeline exactly the rights the launcher uses, keep secrets out, and agree with the launcher."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from motionlora.launch import LaunchSettings
from motionlora.launch.versions import DEFAULT_RUNTIME, TRAINER_VERSION

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "infra" / "k8s"
OVERLAYS = ("dev", "prod")
# The oldest and newest Kubernetes minors we claim; kubernetes-validate ships their schemas offline.
K8S_VERSIONS = ("1.31.0", "1.35.0")
NAMESPACE = "motionlora"
GPU_SELECTOR = {"nvidia.com/gpu.present": "true"}
GPU_TOLERATIONS = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def kustomize_command(path: Path) -> list[str]:
    if shutil.which("kustomize"):
        return ["kustomize", "build", str(path)]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize", str(path)]
    pytest.fail("needs kustomize or kubectl (apt-get install kubectl) to build infra/k8s")


@lru_cache(maxsize=None)
def build(overlay: str) -> tuple[dict, ...]:
    out = subprocess.run(kustomize_command(K8S / "overlays" / overlay), capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return tuple(doc for doc in yaml.safe_load_all(out.stdout) if doc)


def find(overlay: str, kind: str, name: str) -> dict:
    (obj,) = [o for o in build(overlay) if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


def containers(obj: dict) -> list[dict]:
    spec = obj.get("spec", {})
    pod = spec.get("template", {}).get("spec", spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {}))
    return pod.get("containers", []) + pod.get("initContainers", [])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_into_one_namespace_with_nothing_cluster_wide(overlay):
    objs = build(overlay)
    assert {o["metadata"].get("namespace") for o in objs} == {NAMESPACE}
    assert not [o for o in objs if o["kind"] in ("ClusterRole", "ClusterRoleBinding", "Namespace", "Secret")]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_passes_strict_schema_validation(overlay, version):
    for obj in build(overlay):
        kubernetes_validate.validate(obj, version, strict=True)


def test_strict_validation_catches_a_misplaced_field():
    """Guards the guard: a field the schema does not know must fail, not pass silently."""
    deployment = json.loads(json.dumps(find("prod", "Deployment", "mlflow")))
    deployment["spec"]["template"]["spec"]["containers"][0]["nodeSelector"] = GPU_SELECTOR
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pipeline_role_grants_exactly_what_the_launcher_uses(overlay):
    role = find(overlay, "Role", "motionlora-pipeline")
    granted = {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    assert granted == {
        *(("trainer.kubeflow.org", "trainjobs", v) for v in ("create", "get", "list", "watch", "delete")),
        *(("", "pods", v) for v in ("get", "list", "watch")),
        ("", "pods/log", "get"),
    }
    assert all(not rule.get("resourceNames") and not rule.get("nonResourceURLs") for rule in role["rules"])
    binding = find(overlay, "RoleBinding", "motionlora-pipeline")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "motionlora-pipeline"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "motionlora-pipeline", "namespace": NAMESPACE}]
    find(overlay, "ServiceAccount", "motionlora-pipeline")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_credentials_come_only_from_secrets_referenced_by_name(overlay):
    sensitive = re.compile(r"KEY|TOKEN|PASSWORD|SECRET|_URI$|USER", re.I)
    referenced = set()
    for obj in build(overlay):
        for c in containers(obj):
            for env in c.get("env", []):
                if sensitive.search(env["name"]):
                    assert "value" not in env, f"{obj['kind']}/{obj['metadata']['name']}: {env['name']} is a literal"
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    referenced.add(ref["name"])
        if obj["kind"] == "ConfigMap":
            assert not [k for k in obj["data"] if re.search(r"KEY|TOKEN|PASSWORD|SECRET", k, re.I) and k != "MOTIONLORA_SECRET_ENV"]
        volumes = obj.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", [])
        referenced |= {v["secret"]["secretName"] for v in volumes if "secret" in v}
    assert referenced == {"mlflow-db", "mlflow-s3", "mlflow-auth"}
    # Training pods get the pipeline's MLflow user by reference ("secret/key"), never by value.
    refs = json.loads(find(overlay, "ConfigMap", "motionlora-launch")["data"]["MOTIONLORA_SECRET_ENV"])
    assert refs == {"MLFLOW_TRACKING_USERNAME": "mlflow-client/username", "MLFLOW_TRACKING_PASSWORD": "mlflow-client/password"}


def test_only_dev_runs_its_own_database_and_object_store():
    def workloads(overlay):
        return {o["metadata"]["name"] for o in build(overlay) if o["kind"] in ("Deployment", "StatefulSet", "Job")}

    assert workloads("dev") == {"mlflow", "mlflow-postgres", "minio", "minio-bucket"}
    assert workloads("prod") == {"mlflow"}
    assert find("dev", "ConfigMap", "mlflow-config")["data"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert "MLFLOW_S3_ENDPOINT_URL" not in find("prod", "ConfigMap", "mlflow-config")["data"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_locked_down_and_bounded(overlay):
    pods = [o for o in build(overlay) if containers(o)]
    assert len(pods) == (4 if overlay == "dev" else 1)
    for obj in pods:
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for c in containers(obj):
            where = f"{obj['kind']}/{obj['metadata']['name']}/{c['name']}"
            assert c["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}, where
            for kind in ("requests", "limits"):
                assert set(c["resources"][kind]) == {"cpu", "memory"}, f"{where}: {kind}"


def _allowed_sources(overlay: str, app: str) -> list[dict]:
    """The `from` entries of every NetworkPolicy that selects pods labelled app.kubernetes.io/name=`app`."""
    sources = []
    for policy in (o for o in build(overlay) if o["kind"] == "NetworkPolicy"):
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        if selector.get("app.kubernetes.io/name") == app:
            sources += [source for rule in policy["spec"].get("ingress", []) for source in rule["from"]]
    return sources


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default_and_let_only_the_pipeline_and_the_ui_reach_mlflow(overlay):
    policies = {o["metadata"]["name"]: o["spec"] for o in build(overlay) if o["kind"] == "NetworkPolicy"}
    assert policies["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    assert _allowed_sources(overlay, "mlflow") == [
        {"podSelector": {"matchLabels": {"motionlora.io/mlflow-client": "true"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
    ]
    mlflow_only = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlflow"}}}
    if overlay == "dev":
        assert _allowed_sources(overlay, "mlflow-postgres") == [mlflow_only]
        assert _allowed_sources(overlay, "minio") == [mlflow_only, {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "minio-bucket"}}}]
    # The label the policy admits is the one pipeline steps and training pods carry.
    from motionlora.launch.trainjob import MLFLOW_CLIENT_LABEL
    from pipelines.placement import MLFLOW_CLIENT_LABEL as STEP_LABEL

    assert MLFLOW_CLIENT_LABEL == STEP_LABEL == ("motionlora.io/mlflow-client", "true")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mlflow_requires_a_login_configured_from_a_secret(overlay):
    [container] = containers(find(overlay, "Deployment", "mlflow"))
    assert "--app-name=basic-auth" in container["args"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == "/etc/mlflow-auth/basic_auth.ini"
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == {"secretKeyRef": {"name": "mlflow-auth", "key": "admin-password"}}
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == {"secretKeyRef": {"name": "mlflow-auth", "key": "flask-secret-key"}}
    mount = {m["name"]: m for m in container["volumeMounts"]}["auth"]
    assert mount == {"name": "auth", "mountPath": "/etc/mlflow-auth", "readOnly": True}


def test_prod_pulls_images_by_digest():
    images = [c["image"] for o in build("prod") for c in containers(o)]
    images.append(find("prod", "ConfigMap", "motionlora-launch")["data"]["MOTIONLORA_IMAGE"])
    assert images and all(re.fullmatch(r"[\w./-]+@sha256:[0-9a-f]{64}", image) for image in images), images


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_launch_config_holds_every_key_the_train_step_reads(overlay):
    from pipelines.placement import LAUNCH_KEYS

    assert set(LAUNCH_KEYS) <= set(find(overlay, "ConfigMap", "motionlora-launch")["data"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_launch_config_is_what_the_launcher_needs(overlay):
    data = find(overlay, "ConfigMap", "motionlora-launch")["data"]
    settings = LaunchSettings.from_env(data, launcher="trainer")
    mlflow_image = find(overlay, "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert settings.image == mlflow_image != "motionlora"  # the overlay's image, copied after `images:`
    assert settings.runtime == DEFAULT_RUNTIME
    assert find(overlay, "PersistentVolumeClaim", settings.pvc)
    service = find(overlay, "Service", "mlflow")
    assert settings.env["MLFLOW_TRACKING_URI"] == f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"


def test_prod_places_training_on_gpu_nodes_and_dev_does_not():
    prod = LaunchSettings.from_env(find("prod", "ConfigMap", "motionlora-launch")["data"], launcher="trainer")
    dev = LaunchSettings.from_env(find("dev", "ConfigMap", "motionlora-launch")["data"], launcher="trainer")
    assert prod.node_selector == GPU_SELECTOR and list(prod.tolerations) == GPU_TOLERATIONS
    assert not dev.node_selector and not dev.tolerations
    assert find("prod", "PersistentVolumeClaim", "motionlora-data")["spec"]["accessModes"] == ["ReadWriteMany"]


def test_trainer_version_is_pinned_in_one_place():
    """The launcher's module pins it; the vendored CRD carries it in its name; no manifest repeats it."""
    crds = sorted(p.name for p in (K8S / "crds").iterdir())
    assert crds == [f"trainer.kubeflow.org_trainjobs-{TRAINER_VERSION}.yaml"]
    mentions = [p for p in K8S.rglob("*.yaml") if "crds" not in p.parts and re.search(r"\bv2\.\d+\.\d+\b", p.read_text())]
    assert mentions == []
