"""nbtrack's jupyter_server extension: a read-only REST API under ``/nbtrack/api/`` for the JupyterLab sidebar.

Only this subpackage imports jupyter_server and tornado, so kernels never load them. All endpoints are
GET, authenticated by jupyter_server, and answer JSON (errors as ``{"code": ..., "message": ...}``); the
optional ``dir`` argument names the notebook's folder, relative to the server root, whose ``.nbtrack``
store to read (``NBTRACK_DIR`` in the server's environment wins, as it does for kernels):

- ``version``: ``{"name", "version", "api"}``, so the sidebar can tell a missing or different server part;
- ``stamp``: changes whenever a run is written;
- ``runs?experiment=&status=&q=&where=&offset=&limit=``: ``{"runs": [records], "total": N, "columns": ...}``
  (the selection of ``nbtrack.runs()``; ``columns``: the params and tags that differ, the metrics);
- ``runs/<id>``: the stored record, unchanged; ``runs/<id>/details``: it with status, drift and export
  formats and the run's models, artifacts, outputs and linked runs (``contents``); ``runs/<id>/export?format=``:
  a download; ``runs/<id>/blobs/<digest>``: a model, artifact or kept output that run's record references;
- ``compare?runs=a,b,...&metric=&plots=box&by=``: ``nbtrack.compare`` with its headline and column help;
  ``diff?a=&b=``: ``nbtrack.diff``.

Enabled on install by ``etc/jupyter/jupyter_server_config.d/nbtrack.json``.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "nbtrack.server"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    from nbtrack import __version__
    from nbtrack.server.handlers import setup_handlers

    root = getattr(server_app.contents_manager, "root_dir", None) or server_app.root_dir
    setup_handlers(server_app.web_app, root)
    server_app.log.info("nbtrack %s: REST API at %snbtrack/api/", __version__, server_app.base_url)
