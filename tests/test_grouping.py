"""nbtrack.analysis.grouping: runs into groups (baselines, missing values, data identity, where runs come from)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from compare_helpers import frame, record_runs

import nbtrack
from nbtrack.analysis.comparison import Comparison, compare


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


def test_compare_runs_from_the_store_by_experiment_ids_or_current(store_dir, monkeypatch):
    record_runs()
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
    record_runs(data=lambda lr, seed: np.arange(10) + (seed == 0))  # seed 0 trained on other data
    cmp = compare("exp", metric="acc")
    assert not cmp.groups.same_data.any()
    assert any("used different data 'train'" in w for w in cmp.warnings)


def test_same_data_everywhere_is_true(store_dir):
    record_runs(data=lambda lr, seed: np.arange(10))
    cmp = compare("exp", metric="acc")
    assert cmp.groups.same_data.all() and not any("different data" in w for w in cmp.warnings)


# typed keys, missing params, seeds (issue 14) -----------------------------------------------------------------


def test_string_and_int_params_are_different_groups_with_different_labels():
    rng = np.random.default_rng(3)
    rows = [
        {"run_id": f"{k}{i}", "params.depth": depth, "params.seed": i, "metrics.acc": v}
        for k, (depth, mu) in enumerate(((3, 0.8), ("3", 0.7)))
        for i, v in enumerate(rng.normal(mu, 0.01, 5))
    ]
    cmp = compare(pd.DataFrame(rows), metric="acc", baseline={"depth": 3})
    assert sorted(cmp.groups.group) == ["depth='3'", "depth=3"]
    assert list(cmp.pairs.group) == ["depth='3'"] and list(cmp.pairs.reference) == ["depth=3"]
    assert cmp.verdict("depth='3'") == "worse"
    assert compare(pd.DataFrame(rows), metric="acc", baseline="depth='3'").pairs.reference.iloc[0] == "depth='3'"


def test_missing_param_is_not_none_and_near_equal_floats_warn(store_dir):
    for i in range(4):
        for params in ({"opt": None}, {}, {"opt": "adam"}):
            with nbtrack.track(experiment="miss", params={**params, "seed": i, "lr": 0.1}, environment=False):
                nbtrack.log_metric("acc", 0.8 + 0.01 * i)
    cmp = compare("miss", metric="acc")
    assert sorted(cmp.groups.group) == ["opt=<missing>", "opt=None", "opt=adam"]
    rows = [
        {"run_id": f"{k}{i}", "params.lr": lr, "metrics.acc": 0.8 + 0.01 * i}
        for k, lr in enumerate((0.1, 0.1000000001))
        for i in range(3)
    ]
    near = compare(pd.DataFrame(rows), metric="acc")
    assert len(near.groups) == 2 and any("6th significant digit" in w for w in near.warnings)


def test_seed_like_params_and_several_declared_variance_sources():
    from nbtrack.analysis.grouping import is_seed_like

    for name in ("seed", "random_state", "random_seed", "rng_seed", "data_seed", "seed_init", "fold", "cv_fold",
                 "rep", "repeat", "replicate", "trial", "run", "Trial", "outer_fold"):  # fmt: skip
        assert is_seed_like(name), name
    for name in ("lr", "split", "iteration", "seeding_method", "runner", "depth"):
        assert not is_seed_like(name), name
    rng = np.random.default_rng(4)
    rows = []
    split_effect = {(s, p): rng.normal(0, 0.05) for s in range(3) for p in range(3)}
    for model, shift in (("a", 0.0), ("b", 0.01)):
        for s in range(3):
            for p in range(3):
                value = 0.8 + shift + split_effect[s, p] + rng.normal(0, 0.001)
                rows.append({"run_id": f"{model}{s}{p}", "params.model": model, "params.random_seed": s,
                             "params.split": p, "metrics.acc": value})  # fmt: skip
    f = pd.DataFrame(rows)
    undeclared = compare(f, metric="acc")  # split is a setting unless declared: 2 x 3 groups
    assert len(undeclared.groups) == 6
    cmp = compare(f, metric="acc", seed_params=["split"], baseline="model=a")
    assert list(cmp.groups.group) == ["model=a", "model=b"] and bool(cmp.pairs.paired.iloc[0])
    assert cmp.verdict("model=b") == "better"  # pairing by (random_seed, split) removes both sources
    assert any("random_seed, split" in n for n in cmp.notes)
    assert any("seed_params names 'nope'" in w for w in compare(f, metric="acc", seed_params=["nope"]).warnings)
