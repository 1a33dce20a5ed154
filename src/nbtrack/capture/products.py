"""What a run produced, gathered around its code: displayed figures, output files and upstream links.

The lifecycle calls :func:`begin` when a run starts (figure capture starts, the file system clock is
noted) and :func:`end` when it finishes (figures become artifacts, changed files become outputs, file
inputs are linked to the runs that wrote them). ``%%track --no-outputs`` calls :func:`skip_outputs`
before the run starts. Each part that fails becomes one warning; the run keeps the rest.
"""

from __future__ import annotations

import sys
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbtrack.capture.figures import FigureCapture
from nbtrack.capture.guard import warn
from nbtrack.capture.outputs import fs_now, outputs_enabled

__all__ = ["begin", "end", "skip_outputs"]


@dataclass
class _Watch:
    outputs: bool = True
    root: Path | None = None  # the working directory when the run started
    since: float = 0.0  # the file system's coarse clock at the start
    started: float = 0.0  # time.time() just after: files stamped in between may predate the run
    figures: FigureCapture | None = None
    written: frozenset[str] | None = None  # what the cell opened for writing, when its opens were recorded


_watches: weakref.WeakKeyDictionary[Any, _Watch] = weakref.WeakKeyDictionary()


def skip_outputs(run: Any) -> None:
    """Record no output files for ``run`` (call before it starts)."""
    _watches.setdefault(run, _Watch()).outputs = False


def cell_wrote(run: Any, written: frozenset[str] | None) -> None:
    """Tell ``run``'s watch which files its cell opened for writing (see :mod:`nbtrack.capture.outputs`)."""
    watch = _watches.get(run)
    if watch is not None:
        watch.written = written


def begin(run: Any) -> None:
    """Start watching for what ``run`` (an ActiveRun) produces."""
    watch = _watches.setdefault(run, _Watch())
    try:
        if watch.outputs and outputs_enabled():
            watch.root, watch.since = Path.cwd(), fs_now()
            watch.started = time.time()
        watch.figures = FigureCapture.start()
    except Exception as exc:
        warn(f"figures and output files of run {run.id} not recorded: {exc}")


def end(run: Any) -> None:
    """Stop watching ``run`` and record its figures, output files and upstream runs."""
    from nbtrack.capture.artifacts import add_artifact, next_name
    from nbtrack.capture.outputs import record_outputs
    from nbtrack.capture.upstream import link_upstream

    watch = _watches.pop(run, None) or _Watch(outputs=False)
    if watch.figures is not None:
        try:
            for image in watch.figures.stop():
                add_artifact(run, next_name(run.record.artifacts, "figure", ".png"), image, "figure", "image/png")
            note = watch.figures.limit_note()
            if note:
                warn(f"run {run.id}: {note}")
        except Exception as exc:
            warn(f"figures of run {run.id} not recorded: {exc}")
    if watch.root is not None:
        try:
            note = record_outputs(run, watch.root, watch.since, _notebook(), watch.written, watch.started)
            if note:
                warn(note)
        except Exception as exc:
            warn(f"output files of run {run.id} not recorded: {exc}")
    try:  # files the cell only read (Run.files_read, capture/file_reads.py, where that field exists) link too
        link_upstream(run, getattr(run.record, "files_read", None))
    except Exception as exc:
        warn(f"upstream runs of run {run.id} not recorded: {exc}")


def _notebook() -> Path | None:
    """The running notebook's file, when a frontend says which it is (it is not an output of the run)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return None
    from nbtrack.capture.notebook import notebook_path

    return notebook_path(shell.user_ns)[0]
