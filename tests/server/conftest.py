"""Fixtures for the server-extension tests: a jupyter_server with nbtrack enabled, unauthenticated access
off (as the extension template tests it), and a store in its root directory with a few runs."""

from __future__ import annotations

import pytest

import nbtrack
from nbtrack.store import local as store_mod

XSS_NAME = "<img src=x onerror=alert(1)>"


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"nbtrack": True}, "allow_unauthenticated_access": False}}


@pytest.fixture(autouse=True)
def _no_env_store(monkeypatch):
    monkeypatch.delenv("NBTRACK_DIR", raising=False)
    monkeypatch.delenv("NBTRACK_EXPERIMENT", raising=False)


def _run(store, name, experiment, params, metrics, *, data=None, fail=False):
    with nbtrack.track(name, experiment, params, store=store, data=data, environment=False) as run:
        nbtrack.log_metrics(metrics)
        if fail:
            raise RuntimeError("boom")
    return run.id


@pytest.fixture
def runs_store(jp_root_dir):
    """The server root's store: 5 runs of experiment ``credit`` (one failed), 3 of ``other``, one XSS name."""
    path = jp_root_dir / ".nbtrack"
    store = store_mod.get_store(path)
    ids: dict[str, str] = {}
    for i, lr in enumerate([0.1, 0.1, 0.1, 0.3, 0.3]):
        ids[f"credit{i}"] = _run(store, f"credit-{i}", "credit", {"lr": lr, "seed": i}, {"acc": 0.8 + 0.01 * i})
    with pytest.raises(RuntimeError):
        _run(store, "broken", "credit", {"lr": 0.5}, {"acc": 0.1}, fail=True)
    ids["failed"] = next(k for k, doc in store.run_docs().items() if doc["name"] == "broken")
    for i in range(3):
        ids[f"other{i}"] = _run(store, f"other-{i}", "other", {"depth": i}, {"loss": 1.0 / (i + 1)})
    ids["xss"] = _run(store, XSS_NAME, "other", {"note": "<script>alert(1)</script>"}, {"loss": 0.5})
    yield store, ids
    store_mod._stores.pop(path.absolute(), None)
