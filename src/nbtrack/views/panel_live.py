"""The panel's live refresh and lifetime: start/stop the polling thread (:mod:`nbtrack.views.live`), pause it
while no view of the panel is shown, and close every widget of the panel.

A mixin of :class:`nbtrack.views.widgets.Panel`, kept apart from the controls and their layout.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import ipywidgets as widgets

from nbtrack.views.live import poll


class PanelLive:
    """Live refresh of the runs panel; the state it uses is set by ``Panel.__init__``."""

    model: Any
    live: Any
    children: Any
    layout: Any
    run_more: Any
    _lock: Any
    _interval: float
    _stop: threading.Event
    _wake: threading.Event
    _thread: threading.Thread | None

    def _render(self, controls: bool = True) -> None:
        raise NotImplementedError

    def refresh(self, force: bool = False) -> bool:
        """Show runs written since the last check; True when anything changed (cheap when nothing did)."""
        with self._lock:
            changed = self.model.refresh(force=force)
            if changed or force:
                self._render(controls=False)
            return bool(changed)

    def start(self) -> None:
        """Start (or restart) polling the store for new runs."""
        if self.polling:
            return
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)  # a stopped thread finishing its last check
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=poll,
            args=(weakref.ref(self), self._stop, self._wake, self._interval),
            name="nbtrack-panel-refresh",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (the panel stays usable; ``refresh()`` or the ↻ button still update it)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    @property
    def polling(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def close(self) -> None:
        """Stop polling, stop a run-more job, and close the panel and all its controls."""
        self.stop()
        self.run_more.cancel()
        for widget in self._descendants():
            for part in (getattr(widget, "layout", None), getattr(widget, "style", None), widget):
                if isinstance(part, widgets.Widget):
                    part.close()
        self.layout.close()
        super().close()  # type: ignore[misc]

    def _descendants(self) -> list[widgets.Widget]:
        found: list[widgets.Widget] = []
        stack = list(self.children)
        while stack:
            widget = stack.pop()
            found.append(widget)
            stack.extend(getattr(widget, "children", ()))
        return found

    def _live_changed(self, change: Any) -> None:
        if change.new:
            self.start()
        else:
            self.stop()

    def _views_changed(self, change: Any) -> None:
        if not self.live.value:
            return
        if change.new == 0 and (change.old or 0) > 0:
            self.stop()  # the panel's output was cleared or its notebook closed
        elif (change.new or 0) > 0:
            self.start()
