"""views/live.py: the panel's live-refresh loop, on a real store, with runs written by another process.

The loop needs only an object with ``refresh()``, ``poll_error``, ``_lock`` and ``_render``; here that is a small
watcher over the real :class:`~nbtrack.views.panel_model.PanelModel` (the ipywidgets panel around it is tested
in tests/test_widgets.py). tests/test_live.py is remote/live.py's.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest

from nbtrack.views.live import poll
from nbtrack.views.panel_model import PanelModel

INTERVAL = 0.05


class Watcher:
    """What the loop drives: refreshes the model and records each change it saw."""

    def __init__(self, store: Path) -> None:
        self.model = PanelModel(store)
        self.poll_error: str | None = None
        self._lock = threading.Lock()
        self.changes: list[int] = []
        self.renders = 0
        self.fail_next = False
        self.changed = threading.Event()

    def refresh(self) -> bool:
        if self.fail_next:
            self.fail_next = False
            raise OSError("store unreadable")
        changed = self.model.refresh()
        if changed:
            self.changes.append(self.model.n_matching)
            self.changed.set()
        return changed

    def _render(self, controls: bool = True) -> None:
        self.renders += 1


def write_run(store: Path, name: str) -> None:
    """A run recorded by another process, as a script or another kernel writes it."""
    env = {**os.environ, "NBTRACK_DIR": str(store)}
    code = f"import nbtrack\nwith nbtrack.track(name={name!r}, experiment='live', environment=False):\n    pass\n"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)


def start(watcher: Watcher) -> tuple[threading.Thread, threading.Event, threading.Event]:
    stop, wake = threading.Event(), threading.Event()
    thread = threading.Thread(target=poll, args=(weakref.ref(watcher), stop, wake, INTERVAL), daemon=True)
    thread.start()
    return thread, stop, wake


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


@pytest.fixture
def store(store_dir: Path) -> Path:
    write_run(store_dir, "first")
    return store_dir


def test_a_run_written_by_another_process_is_picked_up_and_stop_ends_the_thread(store):
    watcher = Watcher(store)
    assert watcher.model.n_matching == 1
    thread, stop, wake = start(watcher)
    try:
        time.sleep(3 * INTERVAL)
        assert watcher.changes == []  # nothing landed: checks, no refresh
        write_run(store, "second")
        assert watcher.changed.wait(10), "the loop did not see the new run"
        assert watcher.changes == [2] and "second" in watcher.model.frame["name"].tolist()
    finally:
        stop.set()
        wake.set()
        thread.join(5)
    assert not thread.is_alive()


def test_a_refresh_error_is_kept_for_the_panel_and_cleared_by_the_next_good_check(store):
    watcher = Watcher(store)
    watcher.fail_next = True
    thread, stop, wake = start(watcher)
    try:
        assert wait_for(lambda: watcher.poll_error is not None)
        assert watcher.poll_error == "OSError: store unreadable" and thread.is_alive()  # the loop goes on
        wake.set()  # a user action: check now
        assert wait_for(lambda: watcher.poll_error is None)
        assert watcher.renders >= 1  # the panel was redrawn without the error
    finally:
        stop.set()
        wake.set()
        thread.join(5)
    assert not thread.is_alive()


def test_the_thread_ends_when_nobody_holds_the_panel(store):
    watcher = Watcher(store)
    thread, _stop, _wake = start(watcher)
    assert thread.is_alive()
    del watcher
    gc.collect()
    thread.join(5)
    assert not thread.is_alive()
