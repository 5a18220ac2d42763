"""Connecting to the Kubernetes API: in-cluster service account first, else the local kubeconfig."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def api_client() -> client.ApiClient:
    """An API client for where this runs: a pipeline pod (service account) or a workstation (kubeconfig)."""
    try:
        config.load_incluster_config()
    except ConfigException:
        config.load_kube_config()
    return client.ApiClient()


def current_namespace() -> str:
    """This pod's namespace, else the kubeconfig context's, else "default"."""
    if SA_NAMESPACE_FILE.exists():
        return SA_NAMESPACE_FILE.read_text().strip()
    try:
        _, active = config.list_kube_config_contexts()
    except (ConfigException, FileNotFoundError):
        return "default"
    return (active or {}).get("context", {}).get("namespace", "default")
