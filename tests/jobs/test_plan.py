"""jobs/plan.py: seeds, seed params, which groups need runs (on real comparisons) and the preview."""

from __future__ import annotations

import numpy as np
import pytest

import nbtrack
from nbtrack.errors import JobError
from nbtrack.jobs import plan
from nbtrack.store.local import get_store


def test_new_seeds_never_collide_with_recorded_or_explicit_ones():
    assert plan.new_seeds({0, 1, 2}, 3) == [3, 4, 5]
    assert plan.new_seeds({0, 5, 7, "x"}, 4) == [8, 9, 10, 11]
    assert plan.new_seeds(set(), 2) == [0, 1]
    assert plan.new_seeds({3, 4}, 3, explicit=[4, 10, 3, 11, 12]) == [10, 11, 12]
    assert plan.new_seeds({1}, 5, explicit=[1, 2]) == [2]  # explicit seeds run out: fewer
    rng = np.random.default_rng(0)
    used = set(rng.integers(0, 50, 30).tolist())
    fresh = plan.new_seeds(used, 20)
    assert not used & set(fresh) and len(set(fresh)) == 20


def test_the_seed_param_is_the_seed_like_one_outside_the_configuration():
    assert plan.pick_seed_param(["C", "seed"], ["C"]) == "seed"
    assert plan.pick_seed_param(["fold", "random_state", "C"], ["C"]) == "random_state"
    assert plan.pick_seed_param(["C", "split"], ["C"], declared="split") == "split"
    with pytest.raises(JobError, match="seed_param="):
        plan.pick_seed_param(["C", "depth"], ["C"])


def record(groups: dict[float, list[float]]) -> None:
    for C, scores in groups.items():
        for seed, acc in enumerate(scores):
            with nbtrack.track("fit", experiment="p", params={"C": C, "seed": seed}, environment=False):
                nbtrack.log_metric("acc", acc)


def test_undecided_pairs_and_small_groups_need_runs(store_dir):
    record({0.1: [0.70, 0.71, 0.69], 1.0: [0.72, 0.70, 0.71], 10.0: [0.7, 0.71]})
    cmp = nbtrack.compare("p", sequential=True)
    counts = {label: len(ids) for label, ids in plan.comparison_runs(cmp).items()}
    assert counts == {"C=0.1": 3, "C=1.0": 3, "C=10.0": 2}
    want = plan.needs(cmp, counts, max_runs=30)
    assert set(want) == {"C=0.1", "C=1.0", "C=10.0"} and want["C=10.0"] >= 1
    assert plan.needs(cmp, counts, max_runs=3) == {"C=10.0": 1}  # the others are at max_runs
    assert plan.decided_pairs(cmp) == (0, len(cmp.pairs))


def test_decided_pairs_need_nothing(store_dir):
    rng = np.random.default_rng(1)
    record({0.1: list(0.5 + rng.normal(0, 0.01, 12)), 1.0: list(0.9 + rng.normal(0, 0.01, 12))})
    cmp = nbtrack.compare("p", sequential=True)
    assert bool(cmp.pairs["decided"].all())
    assert plan.needs(cmp, {"C=0.1": 12, "C=1.0": 12}, max_runs=30) == {}
    assert plan.needs(cmp, {"C=0.1": 12, "C=1.0": 12}, max_runs=30, until=None) == {"C=0.1": 18, "C=1.0": 18}


def test_preview_says_what_would_run_without_running_it(store_dir):
    record({0.1: [0.70, 0.71, 0.69], 1.0: [0.72, 0.70, 0.71]})
    cmp = nbtrack.compare("p", sequential=True)
    before = len(nbtrack.runs())
    shown = plan.preview(cmp, workers=2)
    assert len(nbtrack.runs()) == before and not (get_store().root / "jobs").exists()
    assert [g["group"] for g in shown["groups"]] == ["C=0.1", "C=1.0"]
    first = shown["groups"][0]
    assert first["seed_param"] == "seed" and first["new_runs"] >= 1 and first["runs"] == 3
    assert first["seeds"][0] == 3 and shown["groups"][1]["seeds"] == first["seeds"][: len(shown["groups"][1]["seeds"])]
    assert shown["runs"] == sum(g["new_runs"] for g in shown["groups"])
    assert shown["seconds"] is not None and shown["seconds"] >= 0 and shown["workers"] == 2


def test_inputs_are_shipped_as_blobs_only_when_asked_and_once(store_dir, tmp_path, monkeypatch):
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    monkeypatch.chdir(tmp_path)
    with nbtrack.track("fit", experiment="p", params={"seed": 0}, data={"train": "d.csv"}) as run:
        pass
    store = get_store()
    group = plan.GroupState("g0", "all", run.id, {}, "seed", cwd=str(tmp_path))
    assert group.inputs is None  # nothing copied for the local engine
    inputs = plan.ship_inputs(store, group)
    assert list(inputs) == ["d.csv"] and store.get_blob(inputs["d.csv"]) == b"a,b\n1,2\n"
    (tmp_path / "d.csv").write_text("changed")
    assert plan.ship_inputs(store, group) == inputs  # computed once per group, not per task
