"""Validating TrainJob bodies against the vendored Trainer CRD's own openAPIV3Schema, strictly.

The API server prunes unknown fields of a structural schema silently, so a body with a field of the
wrong Trainer version (e.g. v2.1's podTemplateOverrides) would be accepted and do nothing. Here every
object schema that lists its properties also forbids others, so such a field fails the test instead.
The two CEL rules on metadata.name are checked directly (jsonschema does not run CEL).
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from motionlora.launch.versions import TRAINER_API_VERSION, TRAINER_VERSION

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "infra" / "k8s" / "crds" / f"trainer.kubeflow.org_trainjobs-{TRAINER_VERSION}.yaml"


def _closed(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


@lru_cache(maxsize=1)
def validator() -> jsonschema.Draft7Validator:
    crd = yaml.safe_load(CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == TRAINER_API_VERSION)
    return jsonschema.Draft7Validator(_closed(copy.deepcopy(version["schema"]["openAPIV3Schema"])))


def errors(body: dict[str, Any]) -> list[str]:
    """Every schema violation of `body`, plus the CRD's metadata.name rules."""
    found = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(body)]
    name = body.get("metadata", {}).get("name", "")
    if not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name) or len(name) > 63:
        found.append(f"metadata.name {name!r} is not an RFC 1035 label of at most 63 characters")
    return found
