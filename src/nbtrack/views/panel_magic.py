"""The ``%nbtrack`` line magic; its one subcommand so far is ``%nbtrack panel``.

Kept apart from :mod:`nbtrack.views.widgets` so that ``%load_ext nbtrack`` does not wait for ipywidgets or pandas:
they are imported (:func:`import_panel`) by the thread ``%load_ext`` starts (:mod:`nbtrack.capture.warm_up`), once
the first tracked cell's needs are loaded and no cell is running (most of the panel's first show was these two
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


def import_panel() -> None:
    """Import the panel's modules (ipywidgets, pandas); an import error shows when the panel is opened, not here."""
    with contextlib.suppress(Exception):
        importlib.import_module("nbtrack.views.widgets")
        importlib.import_module("pandas")


def warm_up() -> threading.Thread:
    """Import the panel's modules in a daemon thread of their own; returns the thread."""
    thread = threading.Thread(target=import_panel, name="nbtrack-panel-warm-up", daemon=True)
    thread.start()
    return thread


def register(ipython: Any) -> None:
    """Register ``%nbtrack`` (from ``%load_ext nbtrack``, whose warm-up thread then calls :func:`import_panel`)."""
    ipython.register_magics(NbtrackLineMagics)
