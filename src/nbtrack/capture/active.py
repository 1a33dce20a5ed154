"""Which run the ``nbtrack.log_*`` calls attach to: a stack of active runs per thread.

``track()``, the ``%%track`` magic and exported scripts push their run while the user's code runs
(:class:`~nbtrack.capture.lifecycle.ActiveRun`); the module-level ``log_*`` functions here log to the
innermost one of the calling thread, so two threads can each record their own run.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from nbtrack.errors import NoActiveRunError

_local = threading.local()


def _stack() -> list[Any]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def active_run() -> Any:
    """The innermost run being recorded in this thread, or None."""
    stack = _stack()
    return stack[-1] if stack else None


def push_active(run: Any) -> None:
    """Make ``run`` the one ``nbtrack.log_*`` calls of this thread attach to, until :func:`pop_active`."""
    _stack().append(run)


def pop_active(run: Any) -> None:
    """Stop ``run`` being an active run of this thread (wherever it is in the stack; no-op if it is not)."""
    stack = _stack()
    if run in stack:
        stack.remove(run)


def require_run(call: str) -> Any:
    """The active run, or a :class:`NoActiveRunError` naming the ``nbtrack.<call>()`` that needs one."""
    run = active_run()
    if run is None:
        raise NoActiveRunError(
            f"nbtrack.{call}() needs an active run: call it inside a %%track cell or a `with nbtrack.track():` block"
        )
    return run


# module-level API -------------------------------------------------------------------------------


def log_metric(name: str, value: Any, step: int | None = None) -> None:
    """Log a metric value to the active run; the last value logged is the run's final value."""
    require_run("log_metric").log_metric(name, value, step)


def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> None:
    require_run("log_metrics").log_metrics(metrics, step)


def log_param(name: str, value: Any) -> None:
    require_run("log_param").log_param(name, value)


def log_params(params: Mapping[str, Any]) -> None:
    require_run("log_params").log_params(params)


def log_data(name: str, obj: Any) -> Mapping[str, Any] | None:
    """Fingerprint and profile an input (DataFrame, Series, array, or a file/directory path) of the active run."""
    return require_run("log_data").log_data(name, obj)


def set_tags(tags: Mapping[str, Any]) -> None:
    require_run("set_tags").set_tags(tags)


def log_model(obj: Any, name: str | None = None) -> Mapping[str, Any] | None:
    """Save a trained model with the active run, in its framework's own format (pickle only as the fallback).

    ``name`` defaults to the caller's variable name for ``obj``, else its class name; returns the record
    (``run.models[name]``), or None when it could not be saved (a warning says why). See nbtrack.capture.models.
    """
    return require_run("log_model").log_model(obj, name)


def log_artifact(path_or_bytes: Any, name: str | None = None) -> dict[str, dict[str, Any]]:
    """Keep a file, each file of a directory, or bytes in the store as artifacts of the active run.

    Returns ``{name: {"blob", "size", "media_type", "kind"}}`` as ``run.artifacts`` records them.
    """
    result: dict[str, dict[str, Any]] = require_run("log_artifact").log_artifact(path_or_bytes, name)
    return result
