"""Runs and bytes of a push or pull on stderr while it runs."""

from __future__ import annotations

import sys
import threading
import time

from nbtrack.remote.report import human_bytes


class Progress:
    """Runs and bytes on stderr: a redrawn bar on a terminal, a line every few seconds otherwise."""

    def __init__(self, label: str, total_runs: int, total_bytes: int, enabled: bool | None) -> None:
        self.stream = sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = (tty if enabled is None else enabled) and total_runs > 0
        self.tty = tty
        self.label, self.total_runs, self.total_bytes = label, total_runs, total_bytes
        self.runs = 0
        self.bytes = 0
        self.started = time.monotonic()
        self._last = 0.0
        self._guard = threading.Lock()

    def advance(self, runs: int = 0, nbytes: int = 0) -> None:
        with self._guard:
            self.runs += runs
            self.bytes += nbytes
            if not self.enabled:
                return
            now = time.monotonic()
            interval = 0.1 if self.tty else 5.0
            if now - self._last >= interval or self.runs == self.total_runs:
                self._last = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-6)
        fraction = self.runs / self.total_runs if self.total_runs else 1.0
        size = (
            f"{human_bytes(self.bytes)}/{human_bytes(self.total_bytes)}"
            if self.total_bytes
            else human_bytes(self.bytes)
        )
        text = f"{self.label} {self.runs:,}/{self.total_runs:,} runs  {size}  {self.runs / elapsed:.1f} runs/s"
        if self.tty:
            width = 24
            filled = int(width * fraction)
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
