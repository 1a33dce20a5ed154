"""Direct logging (NBTRACK_TRACKING_URI) without a server: nothing to do, or one warning and the run kept."""

from __future__ import annotations

import socket
import threading
import warnings

import pytest

import nbtrack
from nbtrack.remote.live import LIVE_ENV, live_log, wait_live


def test_nothing_happens_without_a_tracking_uri(store_dir, monkeypatch):
    monkeypatch.delenv(LIVE_ENV, raising=False)
    before = {t.name for t in threading.enumerate()}
    live_log(nbtrack.get_store(), {"id": "x"}, True)
    assert "nbtrack-live" not in {t.name for t in threading.enumerate()} - before
    assert wait_live(0)


def test_an_unreachable_server_costs_one_warning(store_dir, monkeypatch):
    pytest.importorskip("mlflow")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv(LIVE_ENV, uri)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with nbtrack.track(name="down", experiment="live-down", environment=False) as run:
            run.log_metric("loss", 0.5)
        assert wait_live(60)
    messages = [str(w.message) for w in caught if issubclass(w.category, nbtrack.NbtrackWarning)]
    assert len(messages) == 1 and "unreachable" in messages[0] and f"nbtrack push --to {uri}" in messages[0]
    assert nbtrack.get_run(run.id).status == "finished"
