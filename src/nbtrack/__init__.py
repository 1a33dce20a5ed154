"""nbtrack: every ``%%track`` cell (or ``with nbtrack.track():`` block) becomes a recorded run.

Importing nbtrack is cheap: pandas, matplotlib and ipywidgets are imported only by the features that
need them.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from .store import get_store, set_store
from .tracking import (
    ActiveRun,
    NbtrackWarning,
    NoActiveRunError,
    active_run,
    log_data,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    set_tags,
    track,
)

__all__ = [
    "ActiveRun",
    "NbtrackWarning",
    "NoActiveRunError",
    "Run",
    "__version__",
    "active_run",
    "delete_run",
    "get_run",
    "get_store",
    "load_ipython_extension",
    "log_data",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "runs",
    "set_store",
    "set_tag",
    "set_tags",
    "track",
    "unload_ipython_extension",
]

_LAZY = {
    "runs": "query",
    "get_run": "query",
    "delete_run": "query",
    "set_tag": "query",
    "Run": "run",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nbtrack' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"nbtrack.{module}"), name)


def load_ipython_extension(ipython: Any) -> None:
    from .magic import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magic import unload_ipython_extension as unload

    unload(ipython)
