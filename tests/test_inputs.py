"""nbtrack.data.inputs: the sides of a check given as 'RUN_ID:name' references to recorded inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack.data import fingerprint as fpmod


@pytest.fixture(autouse=True)
def _fresh_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_CACHE_DIR", str(tmp_path / "cache"))
    fpmod._profile_cache.clear()


def found(report, statistic: str, column: str | None = None):
    return [f for f in report.findings if f.statistic == statistic and (column is None or f.column == column)]


def normal(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


def test_run_references(store_dir):
    ref = pd.DataFrame({"x": normal(3000), "k": 1})
    with nbtrack.track(name="base", environment=False) as run:
        nbtrack.log_data("train", ref)
    with nbtrack.track(name="two", environment=False) as two:
        nbtrack.log_data("a", ref)
        nbtrack.log_data("b", ref)
    cur = ref.assign(x=ref["x"] + 1).drop(columns="k")
    for target in (f"{run.id}:train", run.id, f"{run.id[:10]}:train"):
        report = nbtrack.check_data(cur, target)
        assert found(report, "column_removed", "k") and found(report, "mean_shift", "x")
        assert report.reference == target
    assert nbtrack.check_data(f"{two.id}:a", f"{run.id}:train").ok
    with pytest.raises(KeyError, match="has no data input 'nope'; it has: train"):
        nbtrack.check_data(cur, f"{run.id}:nope")
    with pytest.raises(KeyError, match="2 data inputs"):
        nbtrack.check_data(cur, two.id)
