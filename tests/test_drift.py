"""nbtrack.data.drift: what changed in a run's data since the previous run (summary line and sidebar drift)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack.data import fingerprint as fpmod
from nbtrack.data.drift import change_notes, data_change, describe_change


@pytest.fixture(autouse=True)
def _fresh_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_CACHE_DIR", str(tmp_path / "cache"))
    fpmod._profile_cache.clear()


def normal(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


def test_change_notes_for_the_summary_line(tmp_path):
    ref = pd.DataFrame({"x": normal(1000), "y": normal(1000, 1), "k": np.arange(1000)})
    fp = nbtrack.fingerprint
    before = fp(ref, profile=True).to_dict()
    assert describe_change(fp(ref.assign(x=ref["x"] - 1.3), profile=True).to_dict(), before) == "x mean -1.3 sd"
    assert describe_change(fp(ref.drop(columns="k").assign(z=1.0), profile=True).to_dict(), before).startswith("-k, +z")
    assert describe_change(fp(ref.astype({"k": float}), profile=True).to_dict(), before) == "k int64 -> float64"
    assert describe_change(fp(ref.head(900), profile=True).to_dict(), before).startswith("rows 1000 -> 900")
    nulls = ref.copy()
    nulls.loc[:99, "y"] = np.nan
    assert "y nulls +10%" in describe_change(fp(nulls, profile=True).to_dict(), before)
    swapped = ref.copy()
    swapped.loc[[0, 1], "k"] = [1, 0]
    assert describe_change(fp(swapped, profile=True).to_dict(), before) == "values of k"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.csv").write_text("a\n1\n")
    (tmp_path / "d" / "b.csv").write_text("a\n2\n")
    old_dir, old_file = fp(tmp_path / "d").to_dict(), fp(tmp_path / "d" / "a.csv").to_dict()
    (tmp_path / "d" / "a.csv").write_text("a\n10\n")
    (tmp_path / "d" / "b.csv").unlink()
    (tmp_path / "d" / "c.csv").write_text("a\n3\n")
    assert describe_change(fp(tmp_path / "d").to_dict(), old_dir) == "+c.csv, -b.csv, ~a.csv"
    assert describe_change(fp(tmp_path / "d" / "a.csv").to_dict(), old_file) == "size 4 B -> 5 B"
    notes = change_notes(
        {"t": fp(ref.assign(x=ref["x"] + 1), profile=True).to_dict(), "same": before}, {"t": before, "same": before}
    )
    assert notes == {"t": "x mean +1.0 sd"}
    assert describe_change({"algorithm": "old", "hash": "1"}, before) == "fingerprint scheme changed"


def test_data_change_states_notes_and_findings():
    ref = pd.DataFrame({"x": normal(500), "k": np.arange(500)})
    before = {"train": nbtrack.fingerprint(ref, profile=True).to_dict()}
    assert data_change({}, None).state == "none"
    assert data_change(before, None).summary() == {"state": "first", "changed": [], "added": [], "removed": []}
    assert data_change(before, dict(before)).state == "unchanged"
    shifted = {
        "train": nbtrack.fingerprint(ref.assign(x=ref["x"] + 2), profile=True).to_dict(),
        "test": nbtrack.fingerprint(ref.head(10), profile=True).to_dict(),
    }
    change = data_change(shifted, before)
    assert change.summary() == {"state": "changed", "changed": ["train"], "added": ["test"], "removed": []}
    assert change.notes == {"train": "x mean +2.0 sd"} and change.findings == {}
    checked = data_change(shifted, before, findings=True)
    assert {f["statistic"] for f in checked.findings["train"]} >= {"mean_shift"}
    assert {f["column"] for f in checked.findings["train"]} <= {"x", None}  # None: the dataset-level finding
    assert data_change({}, before).summary()["removed"] == ["train"]
