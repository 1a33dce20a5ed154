"""The panel's live refresh: a daemon thread that checks the store's stamp and refreshes the panel on change.

It checks every second while runs are landing and backs off to 5 s while nothing changes; a user action wakes
it. It holds the panel through a weak reference, so a panel nobody holds any more is collected and the thread
ends. The panel object only needs ``refresh()``, ``poll_error``, ``_lock`` and ``_render``.
"""

from __future__ import annotations

import threading
from typing import Any

POLL_INTERVAL = 1.0  # seconds between checks of the store's stamp while runs are landing
POLL_MAX = 5.0  # longest interval, reached after a quiet while


def poll(ref: Any, stop: threading.Event, wake: threading.Event, interval: float) -> None:
    """The live-refresh loop: a ``stat`` of the store per check, a refresh only when its stamp changed."""
    delay = interval
    while not stop.is_set():
        woken = wake.wait(delay)
        wake.clear()
        if stop.is_set():
            return
        panel = ref()
        if panel is None:
            return
        try:
            changed = panel.refresh()
            if panel.poll_error is not None:
                with panel._lock:
                    panel.poll_error = None
                    panel._render(controls=False)
        except Exception as exc:  # keep polling; the error is shown in the panel
            panel.poll_error = f"{type(exc).__name__}: {exc}"
            changed = False
        del panel
        delay = interval if changed or woken else min(POLL_MAX, delay * 1.5)
