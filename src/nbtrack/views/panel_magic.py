"""The ``%nbtrack`` line magic; its one subcommand so far is ``%nbtrack panel``.

Kept apart from :mod:`nbtrack.views.widgets` so that ``%load_ext nbtrack`` does not wait for ipywidgets or pandas:
they are imported by a daemon thread started by :func:`register` (most of the panel's first show was these two
imports, ~2 s), so by the time ``%nbtrack panel`` runs, usually a cell or more later, they are loaded. A cell
that imports them meanwhile simply waits for the thread's import to finish (Python's per-module import lock).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import shlex
import threading
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

USAGE = "%nbtrack panel [EXPERIMENT] [--store DIR] [--page-size N] [--static]"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="%nbtrack", add_help=False, exit_on_error=False)
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("panel", add_help=False, exit_on_error=False)
    p.add_argument("experiment", nargs="?", default=None)
    p.add_argument("--store", default=None)
    p.add_argument("--page-size", type=int, default=None)
    p.add_argument("--static", action="store_true", help="no live refresh")
    return parser


@magics_class
class NbtrackLineMagics(Magics):
    @line_magic
    def nbtrack(self, line: str) -> Any:
        """``%nbtrack panel [EXPERIMENT] [--store DIR] [--page-size N] [--static]``: the runs panel.

        Without EXPERIMENT it shows every run, with the experiment filter preset to this notebook's
        experiment when known. ``--static`` turns live refresh off.
        """
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%nbtrack: {exc}. Usage: {USAGE}") from None
        if not argv:
            raise UsageError(f"Usage: {USAGE}")
        if argv[0] != "panel":
            raise UsageError(f"%nbtrack: unknown subcommand {argv[0]!r}. Usage: {USAGE}")
        try:
            args, unknown = _parser().parse_known_args(argv)
        except (argparse.ArgumentError, SystemExit) as exc:
            raise UsageError(f"%nbtrack: {exc}. Usage: {USAGE}") from None
        if unknown:
            raise UsageError(f"%nbtrack: unrecognized {' '.join(unknown)!r}. Usage: {USAGE}")
        from nbtrack.views.panel_model import PAGE_SIZE
        from nbtrack.views.widgets import panel

        return panel(args.experiment, store=args.store, page_size=args.page_size or PAGE_SIZE, live=not args.static)


def warm_up() -> threading.Thread:
    """Import the panel's modules (ipywidgets, pandas) in a daemon thread; returns the thread."""

    def load() -> None:
        with contextlib.suppress(Exception):  # an import error shows when the panel is opened, not here
            importlib.import_module("nbtrack.views.widgets")
            importlib.import_module("pandas")

    thread = threading.Thread(target=load, name="nbtrack-panel-warm-up", daemon=True)
    thread.start()
    return thread


def register(ipython: Any) -> None:
    """Register ``%nbtrack`` (called from ``%load_ext nbtrack``) and warm up the panel's imports."""
    ipython.register_magics(NbtrackLineMagics)
    warm_up()
