"""nbtrack: every ``%%track`` cell (or ``with nbtrack.track():`` block) becomes a recorded run.

Importing nbtrack is cheap: the store, the run lifecycle, pandas, matplotlib and ipywidgets are imported
only by the features that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from nbtrack.capture.active import (
    log_artifact,
    log_data,
    log_metric,
    log_metrics,
    log_model,
    log_param,
    log_params,
    set_tags,
)
from nbtrack.errors import NbtrackWarning, NoActiveRunError

if TYPE_CHECKING:  # what type checkers see of the lazy names below
    from nbtrack.capture.lifecycle import ActiveRun, active_run
    from nbtrack.capture.tracking import track
    from nbtrack.store.local import get_store, set_store

__all__ = [
    "ActiveRun",
    "Chart",
    "Comparison",
    "DataCheckReport",
    "DataExpectationError",
    "Fingerprint",
    "ModelInfo",
    "NbtrackWarning",
    "NoActiveRunError",
    "Run",
    "RunDiff",
    "__version__",
    "active_run",
    "chart_runs",
    "check_data",
    "color_of",
    "compare",
    "delete_run",
    "diff",
    "expect",
    "export",
    "fingerprint",
    "get_run",
    "get_store",
    "load_ipython_extension",
    "load_model",
    "log_artifact",
    "log_data",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "models",
    "panel",
    "pull",
    "push",
    "run_more",
    "runs",
    "set_store",
    "set_tag",
    "set_tags",
    "sweep",
    "track",
    "unload_ipython_extension",
]

# Imported at first use, so `import nbtrack` (and `%load_ext nbtrack`) loads neither the store nor the lifecycle.
_LAZY = {
    "track": "capture.tracking",
    "ActiveRun": "capture.lifecycle",
    "active_run": "capture.lifecycle",
    "get_store": "store.local",
    "set_store": "store.local",
    "runs": "query.search",
    "get_run": "query.search",
    "delete_run": "query.search",
    "set_tag": "query.search",
    "Run": "run",
    "panel": "views.widgets",
    "compare": "analysis.comparison",
    "Comparison": "analysis.comparison",
    "chart_runs": "charts",
    "Chart": "charts",
    "color_of": "charts",
    "diff": "analysis.rundiff",
    "RunDiff": "analysis.rundiff",
    "push": "remote.push",
    "pull": "remote.pull",
    "fingerprint": "data.fingerprint",
    "Fingerprint": "data.fingerprint",
    "check_data": "data.checks",
    "expect": "data.expect",
    "DataCheckReport": "data.findings",
    "DataExpectationError": "errors",
    "export": "exporting.exporter",
    "load_model": "capture.model_loading",
    "models": "capture.model_loading",
    "ModelInfo": "capture.model_loading",
    "run_more": "jobs.start",
    "sweep": "jobs.start",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nbtrack' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"nbtrack.{module}"), name)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nbtrack``: the ``%%track`` cell magic and the ``%nbtrack`` panel line magic (safe to repeat).

    Only the magics are imported here; a background thread then loads what the first tracked cell and the
    panel need (:mod:`nbtrack.capture.warm_up`).
    """
    from nbtrack.capture import warm_up
    from nbtrack.capture.magic import load_ipython_extension as load_track
    from nbtrack.views.panel_magic import import_panel
    from nbtrack.views.panel_magic import register as load_panel

    magics = load_track(ipython)
    load_panel(ipython)
    warm_up.start(quiet=magics.wait_until_quiet, after=import_panel)


def unload_ipython_extension(ipython: Any) -> None:
    from nbtrack.capture.magic import unload_ipython_extension as unload

    unload(ipython)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the prebuilt JupyterLab sidebar lives (for ``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": "nbtrack"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The jupyter_server extension (REST API for the sidebar) is :mod:`nbtrack.server`."""
    return [{"module": "nbtrack.server"}]
