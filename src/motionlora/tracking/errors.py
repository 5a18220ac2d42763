"""What an MLflow error means, read from its error code (or, for a server that never answered, from
the HTTP error it was raised from) rather than from its message.

The same codes arrive from a local store (MlflowException) and over HTTP (RestException, a
subclass), so callers catch `MlflowException` and ask these helpers what happened. It is
re-exported here so that the rest of motionlora reaches MLflow only through `tracking`.
"""

from __future__ import annotations

import re
from typing import Callable, Iterator, TypeVar

import requests
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST, ErrorCode

__all__ = ["MlflowException", "already_exists", "describe", "does_not_exist", "unless_missing", "unreachable"]

T = TypeVar("T")
# What requests raises once its retries are spent without an answer (refused, timed out, unknown
# host) or with only errors (a proxy's 502/503 while the server is down).
_NO_ANSWER = (requests.exceptions.ConnectionError, requests.exceptions.RetryError)


def _has_code(err: BaseException, code: int) -> bool:
    return isinstance(err, MlflowException) and err.error_code == ErrorCode.Name(code)


def already_exists(err: BaseException) -> bool:
    """The thing to be created exists already (RESOURCE_ALREADY_EXISTS)."""
    return _has_code(err, RESOURCE_ALREADY_EXISTS)


def does_not_exist(err: BaseException) -> bool:
    """The thing asked for is not there (RESOURCE_DOES_NOT_EXIST)."""
    return _has_code(err, RESOURCE_DOES_NOT_EXIST)


def unless_missing(call: Callable[..., T], *args: object) -> T | None:
    """`call(*args)`, or None when what it names does not exist; any other error is raised.

    For reads and deletes where "not there" is an answer (a free lock, a tag already gone), not a failure.
    """
    try:
        return call(*args)
    except MlflowException as err:
        if does_not_exist(err):
            return None
        raise


def _causes(err: BaseException) -> Iterator[BaseException]:
    cause = err.__cause__ or err.__context__
    while cause is not None:
        yield cause
        cause = cause.__cause__ or cause.__context__


def unreachable(err: BaseException) -> bool:
    """The tracking server did not answer (refused, timed out, unknown host) after the retries.

    MLflow reports this with the generic INTERNAL_ERROR code, raised while handling requests' own
    error, which is what tells it apart.
    """
    return isinstance(err, MlflowException) and any(isinstance(cause, _NO_ANSWER) for cause in _causes(err))


def describe(err: BaseException) -> str:
    """One line for the user: an unreachable server says where and why, briefly; anything else as MLflow says it."""
    if not unreachable(err):
        return str(err)
    message = getattr(err, "message", str(err))
    where = re.search(r"host='([^']+)', port=(\d+)", message)
    why = re.findall(r"\[Errno -?\d+\] [^\"')]+|timed out|Read timed out", message)
    return (f"cannot reach the MLflow tracking server{f' at {where[1]}:{where[2]}' if where else ''}"
            f"{f' ({why[-1].strip()})' if why else ''}; is it running? Set --tracking-uri or MLFLOW_TRACKING_URI")
