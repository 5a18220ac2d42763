"""What an MLflow error means, read from its error code rather than its message.

The same codes arrive from a local store (MlflowException) and over HTTP (RestException, a
subclass), so callers catch `MlflowException` and ask these helpers what happened.
"""

from __future__ import annotations


def _has_code(err: BaseException, *names: str) -> bool:
    from mlflow.exceptions import MlflowException

    return isinstance(err, MlflowException) and err.error_code in names


def already_exists(err: BaseException) -> bool:
    """The thing to be created exists already (RESOURCE_ALREADY_EXISTS)."""
    return _has_code(err, "RESOURCE_ALREADY_EXISTS")


def does_not_exist(err: BaseException) -> bool:
    """The thing asked for is not there (RESOURCE_DOES_NOT_EXIST)."""
    return _has_code(err, "RESOURCE_DOES_NOT_EXIST")
