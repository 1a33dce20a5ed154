"""What ``%load_ext nbtrack`` starts in the background, so the first ``%%track`` cell does not wait for it.

``%load_ext`` itself only registers the magics (a few small modules). A daemon thread then does, in order,
what the first tracked cell would otherwise do on its own critical path:

1. import the cell's recording (:mod:`nbtrack.capture.cell_run`: the lifecycle, the store, the data modules);
2. read the default store's records when its journal is large (``WARM_STORE_BYTES``): at 100,000 runs this
   is most of a second or two, every later read of the store only replays what was appended since;
3. the installed-package list (on-disk cache, else a scan of site-packages: :mod:`nbtrack.capture.environment`);
4. once no cell has run for ``QUIET_SECONDS`` (the user is typing), whatever else the caller asks for (the
   panel's ipywidgets and pandas: a second of imports that would slow the cells it overlapped, GIL included).

A cell that needs one of these while the thread is still at it waits for the thread's result (Python's
per-module import lock, the journal's guard) instead of doing the work twice; a failure in the thread is
silent, and the cell that needs the thing then does it and reports it as usual. The thread is honest in a
notebook, where the user types between cells: a tracked cell run straight after ``%load_ext`` still waits
for steps 1 and 2. A damaged store's warning, emitted by step 2, shows with the ``%load_ext`` cell.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Callable
from typing import Any

WARM_STORE_BYTES = 1 << 20  # a smaller store is read in milliseconds by the cell itself
QUIET_SECONDS = 0.5
IDLE_WAIT_SECONDS = 3600.0  # step 4 waits at most this long for a quiet moment, then gives up (the panel imports)
ready = threading.Event()  # set once steps 1-3 are done (or failed) in this process


def read_store_ahead() -> None:
    """Read the default store's records into this process (step 2), when its journal is large."""
    from nbtrack.store.local import get_store

    store = get_store()
    try:
        size = os.stat(store.journal.path).st_size
    except OSError:  # no store yet: the first run creates it
        return
    if size >= WARM_STORE_BYTES:
        store.run_docs()


def read_packages_ahead() -> None:
    from nbtrack.capture.environment import installed_packages

    installed_packages()


def _steps(quiet: Callable[[float, float], bool] | None, after: Callable[[], Any] | None) -> None:
    for step in (
        lambda: importlib.import_module("nbtrack.capture.cell_run"),
        read_store_ahead,
        read_packages_ahead,
    ):
        with contextlib.suppress(Exception):
            step()
    ready.set()
    if after is not None and (quiet is None or quiet(QUIET_SECONDS, IDLE_WAIT_SECONDS)):
        with contextlib.suppress(Exception):
            after()


def start(
    quiet: Callable[[float, float], bool] | None = None, after: Callable[[], Any] | None = None
) -> threading.Thread:
    """Start the warm-up thread. ``after`` is step 4; ``quiet(seconds, timeout)`` blocks until no cell ran for
    ``seconds`` (``TrackMagics.wait_until_quiet``) and says whether that happened before ``timeout``."""
    thread = threading.Thread(target=_steps, args=(quiet, after), name="nbtrack-warm-up", daemon=True)
    thread.start()
    return thread
