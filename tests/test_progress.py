"""The push/pull progress bar on stderr."""

from __future__ import annotations

from nbtrack.remote.progress import Progress


def test_progress_shows_runs_and_bytes(monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    bar = Progress("push", 2, 0, None)
    bar.advance(1, 1500)
    bar.advance(1, 2500)
    bar.close()
    text = sys.stderr.getvalue()
    assert "\r[############............] push 1/2 runs  1.5 KB" in text
    assert "[########################] push 2/2 runs  4.0 KB" in text and text.endswith("\n")
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal: silent unless asked
    quiet = Progress("push", 2, 0, None)
    quiet.advance(2, 10)
    assert sys.stderr.getvalue() == ""
