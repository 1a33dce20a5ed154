"""nbtrack.analysis.grouping: runs into groups (baselines, missing values, data identity, where runs come from)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack.analysis.comparison import Comparison, compare


def frame(groups: dict, param: str = "lr", metric: str = "acc", seeds: bool = True, extra: dict | None = None):
    """A runs() shaped DataFrame: one row per value, params.<param> = the group key, params.seed = position."""
    rows = []
    for key, values in groups.items():
        for i, v in enumerate(values):
            row = {"run_id": f"run-{key}-{i}", "experiment": "x", f"params.{param}": key, f"metrics.{metric}": v}
            if seeds:
                row["params.seed"] = i
            row.update(extra or {})
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture
def three():
    rng = np.random.default_rng(5)
    return {0.01: rng.normal(0.80, 0.01, 8), 0.1: rng.normal(0.83, 0.01, 8), 1.0: rng.normal(0.80, 0.01, 8)}


def test_baseline_as_label_dict_or_run_id(three):
    f = frame(three)
    by_label = compare(f, metric="acc", baseline="lr=0.01")
    by_dict = compare(f, metric="acc", baseline={"lr": 0.01})
    by_run = compare(f, metric="acc", baseline="run-0.01-3")
    for cmp in (by_label, by_dict, by_run):
        assert set(cmp.pairs.reference) == {"lr=0.01"} and set(cmp.pairs.group) == {"lr=0.1", "lr=1.0"}
    assert by_label.verdict("lr=0.1") == "better"
    with pytest.raises(ValueError, match="matches no group"):
        compare(f, metric="acc", baseline="lr=5")
    with pytest.raises(ValueError, match="not a param"):
        compare(f, metric="acc", baseline={"momentum": 0.9})


def test_missing_metric_values_are_left_out_with_a_warning(three):
    f = frame(three)
    f.loc[0, "metrics.acc"] = np.nan
    cmp = compare(f, metric="acc")
    assert cmp.groups.set_index("lr").loc[0.01, "n"] == 7
    assert any("1 run without a finite value of acc" in w for w in cmp.warnings)


# runs from the store -------------------------------------------------------------------------------------------


def _record(experiment="exp", data=None, n=6):
    rng = np.random.default_rng(9)
    for lr, mu in ((0.01, 0.80), (0.1, 0.84)):
        for seed in range(n):
            payload = None if data is None else {"train": data(lr, seed)}
            with nbtrack.track(
                name="fit",
                experiment=experiment,
                params={"lr": lr, "seed": seed, "epochs": 3},
                data=payload,
                environment=False,
            ):
                for step in range(3):
                    nbtrack.log_metric("acc", mu - 0.05 * (2 - step) + rng.normal(0, 0.005), step=step)


def test_compare_runs_from_the_store_by_experiment_ids_or_current(store_dir, monkeypatch):
    _record()
    with pytest.raises(RuntimeError), nbtrack.track(experiment="exp", params={"lr": 9.0}):
        raise RuntimeError("failed runs are outcomes (issue 14): counted, never silently left out")
    by_name = compare("exp", metric="acc")
    assert list(by_name.groups.n) == [6, 6, 0] and by_name.pairs.verdict.iloc[0] == "worse"
    assert list(by_name.groups.n_failed) == [0, 0, 1] and by_name.failure_policy == "worst"
    assert by_name.groups.same_data.isna().all()
    ids = list(nbtrack.runs(experiment="exp", status="finished").run_id[:8])
    assert by_name.runs.run_id.nunique() == 12
    assert compare(ids, metric="acc").runs.run_id.nunique() == 8
    assert compare([i[:12] for i in ids], metric="acc").runs.run_id.nunique() == 8  # prefixes
    monkeypatch.setenv("NBTRACK_EXPERIMENT", "exp")
    assert compare(metric="acc").runs.run_id.nunique() == 12
    with pytest.raises(ValueError, match="no finished runs"):
        compare("nope", metric="acc")
    assert nbtrack.compare is compare and nbtrack.Comparison is Comparison


def test_different_data_is_flagged(store_dir):
    _record(data=lambda lr, seed: np.arange(10) + (seed == 0))  # seed 0 trained on other data
    cmp = compare("exp", metric="acc")
    assert not cmp.groups.same_data.any()
    assert any("used different data 'train'" in w for w in cmp.warnings)


def test_same_data_everywhere_is_true(store_dir):
    _record(data=lambda lr, seed: np.arange(10))
    cmp = compare("exp", metric="acc")
    assert cmp.groups.same_data.all() and not any("different data" in w for w in cmp.warnings)
