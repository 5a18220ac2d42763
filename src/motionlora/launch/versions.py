"""The one place the Kubeflow Trainer version is pinned.

Trainer's TrainJob API is `v1alpha1` and breaks between minor releases: the field that patches the
runtime's pods was `spec.podSpecOverrides` in v2.0, became `spec.podTemplateOverrides` in v2.1 and
was replaced by `spec.runtimePatches` (keyed by manager) in v2.2; v2.3 then changed how
runtimePatches merge. The launcher writes exactly one shape, so the cluster must run the version
pinned here. The README's install commands read it from this module, and the TrainJob CRD
vendored for tests is `infra/k8s/crds/trainer.kubeflow.org_trainjobs-<version>.yaml`.
"""

from __future__ import annotations

TRAINER_VERSION = "v2.2.1"
TRAINER_GROUP = "trainer.kubeflow.org"
TRAINER_API_VERSION = "v1alpha1"
TRAINJOB_PLURAL = "trainjobs"
DEFAULT_RUNTIME = "torch-distributed"

# How each Trainer minor line spells the pod-patch field of a TrainJob.
_PATCH_FIELDS = {"v2.0": "podSpecOverrides", "v2.1": "podTemplateOverrides", "v2.2": "runtimePatches"}
# The minor line whose shape `motionlora.launch.trainjob` writes.
_WRITTEN_LINE = "v2.2"


def patch_field(version: str = TRAINER_VERSION) -> str:
    """The TrainJob field that patches runtime pods, refusing versions whose shape we do not write."""
    line = ".".join(version.split(".")[:2])
    if line != _WRITTEN_LINE:
        known = ", ".join(f"{v}: spec.{f}" for v, f in _PATCH_FIELDS.items())
        raise ValueError(
            f"Kubeflow Trainer {version} is not supported: the launcher writes the {_WRITTEN_LINE} TrainJob "
            f"(spec.{_PATCH_FIELDS[_WRITTEN_LINE]}); the pod-patch field differs by version ({known}; "
            "v2.3 changed runtimePatches merging)"
        )
    return _PATCH_FIELDS[line]

