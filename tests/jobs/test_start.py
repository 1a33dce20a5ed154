"""jobs/start.py: sweep over new configurations of one run, the forms of run_more's target, refusals."""

from __future__ import annotations

import pytest

import nbtrack
from nbtrack.errors import JobError
from nbtrack.jobs.start import configs_of

pytest.importorskip("sklearn")
pytest.importorskip("ipykernel")


def test_a_grid_is_every_combination_and_a_list_is_taken_as_given():
    assert configs_of({"C": [0.1, 1.0], "shuffle": [False]}) == [
        {"C": 0.1, "shuffle": False},
        {"C": 1.0, "shuffle": False},
    ]
    assert configs_of([{"C": 3}]) == [{"C": 3}]


@pytest.mark.kernel
@pytest.mark.xdist_group("jobs")
def test_sweep_stops_a_clearly_worse_configuration_through_the_sequential_verdict(store):
    runs = nbtrack.runs(experiment="clear", store=store.root)
    base = runs[runs["params.shuffle"] == False]["run_id"].iloc[0]  # noqa: E712  # a column of bools
    job = nbtrack.sweep(base, grid={"shuffle": [False, True]}, seeds=12, workers=2, progress=False)
    assert job.kind == "sweep" and job.stop_reason == "decided"
    assert job.comparison.verdict("shuffle=True") == "worse"
    runs = job.runs()
    assert 2 * 3 <= len(runs) < 2 * 12  # stopped before every seed ran
    assert {nbtrack.get_run(r, store=store.root).origin["kind"] for r in runs["run_id"]} == {"sweep"}
    assert sorted(runs["params.shuffle"].unique()) == [False, True]


@pytest.mark.kernel
@pytest.mark.xdist_group("jobs")
def test_a_group_whose_export_is_unverified_is_refused_saying_why(store):
    before = len(nbtrack.runs(store=store.root))
    with pytest.raises(JobError, match="does not reproduce its metrics"):
        nbtrack.run_more("noisy", progress=False)
    assert len(nbtrack.runs(store=store.root)) == before


@pytest.mark.kernel
@pytest.mark.xdist_group("jobs")
def test_a_sweep_of_a_param_the_script_does_not_take_is_refused(store):
    base = nbtrack.runs(experiment="clear", store=store.root)["run_id"].iloc[0]
    with pytest.raises(JobError, match="no param depth"):
        nbtrack.sweep(base, grid={"depth": [1, 2]}, progress=False)
