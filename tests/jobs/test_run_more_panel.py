"""The panel's Run more action (views/run_more_action.py) on real exported notebook runs: the preview
appears and asks, Start adds runs (seen live through nbtrack.runs() while the job's thread runs) and the
comparison is shown again with them, Stop cancels the job keeping every finished run and leaving none running."""

from __future__ import annotations

import time

import pytest
from panel_helpers import tick

import nbtrack

pytest.importorskip("sklearn")
pytest.importorskip("ipykernel")
pytestmark = [pytest.mark.kernel, pytest.mark.xdist_group("jobs")]


def compared_panel(experiment: str, store):
    p = nbtrack.panel(experiment, store=store.root, live=False)
    p.run_more.workers = 2
    tick(p)  # every row, as clicks on their checkboxes
    p.metric.value = "acc"
    p.compare_button.click()
    assert not p.run_more.button.disabled, (p.message.value, p.run_more.button.tooltip)
    return p


def count(store, experiment: str) -> int:
    return len(nbtrack.runs(experiment=experiment, store=store.root))


def test_start_from_the_panel_adds_runs_then_shows_the_comparison_again(store):
    p = compared_panel("clear", store)
    action = p.run_more
    try:
        action.button.click()
        assert "shuffle=True" in action.preview.value and "seed = 3" in action.preview.value
        assert "estimated time" in action.preview.value and "about " in action.preview.value
        assert count(store, "clear") == 6  # nothing runs before Start
        action.start_button.click()
        assert action.running and action.stop_button.layout.display == ""
        seen = []
        while action.running:
            seen.append(count(store, "clear"))
            time.sleep(0.2)
        action.thread.join()
        assert action.error is None, action.error
        job = action.job
        assert job.state == "done" and job.run_ids
        assert max(seen) > 6  # runs landed while the job ran
        assert count(store, "clear") == 6 + len(job.run_ids)
        assert f"{len(job.run_ids)} new run" in p.message.value and "pairs decided" in p.message.value
        assert f"Comparison of {6 + len(job.run_ids)} runs" in p.result_title.value  # refreshed
        assert set(job.run_ids) <= set(p.model.selected)
        assert action.stop_button.layout.display == "none"
        if job.stop_reason == "decided":
            assert action.button.disabled  # nothing left to run more of
    finally:
        p.close()


def test_stop_cancels_the_job_and_keeps_its_finished_runs(store):
    p = compared_panel("equal", store)
    action = p.run_more
    try:
        action.button.click()
        action.start_button.click()
        deadline = time.monotonic() + 300
        while count(store, "equal") == 6 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert count(store, "equal") > 6
        action.stop_button.click()
        action.thread.join(timeout=120)
        assert not action.running
        job = action.job
        assert job.state == "cancelled" and job.stop_reason == "cancelled"
        assert 1 <= len(job.run_ids) < 2 * (30 - 3)
        runs = nbtrack.runs(store=store.root)
        assert (runs["status"] == "running").sum() == 0
        assert set(job.run_ids) <= set(runs["run_id"])
        assert "cancelled" in p.message.value
    finally:
        p.close()
