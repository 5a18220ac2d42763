"""What an MLflow error means, read from its error code rather than its message.

The same codes arrive from a local store (MlflowException) and over HTTP (RestException, a
subclass), so callers catch `MlflowException` and ask these helpers what happened.
"""

from __future__ import annotations

import re


def _has_code(err: BaseException, *names: str) -> bool:
    from mlflow.exceptions import MlflowException

    return isinstance(err, MlflowException) and err.error_code in names


def already_exists(err: BaseException) -> bool:
    """The thing to be created exists already (RESOURCE_ALREADY_EXISTS)."""
    return _has_code(err, "RESOURCE_ALREADY_EXISTS")


def does_not_exist(err: BaseException) -> bool:
    """The thing asked for is not there (RESOURCE_DOES_NOT_EXIST)."""
    return _has_code(err, "RESOURCE_DOES_NOT_EXIST")


def unreachable(err: BaseException) -> bool:
    """The tracking server did not answer at all (refused, timed out, unknown host) after the retries."""
    from mlflow.exceptions import MlflowException

    return isinstance(err, MlflowException) and "Max retries exceeded" in err.message


def describe(err: BaseException) -> str:
    """One line for the user: an unreachable server says where and why, briefly; anything else as MLflow says it."""
    if not unreachable(err):
        return str(err)
    message = getattr(err, "message", str(err))
    where = re.search(r"host='([^']+)', port=(\d+)", message)
    why = re.findall(r"\[Errno -?\d+\] [^\"')]+|timed out|Read timed out", message)
    return (f"cannot reach the MLflow tracking server{f' at {where[1]}:{where[2]}' if where else ''}"
            f"{f' ({why[-1].strip()})' if why else ''}; is it running? Set --tracking-uri or MLFLOW_TRACKING_URI")
