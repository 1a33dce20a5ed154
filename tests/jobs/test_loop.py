"""jobs/loop.py on real runs: scripts exported from a real notebook, rerun as subprocesses with new seeds.

The stopping rule decides the constructed clear case before the budget and spends the budget on the equal
case; results are visible through nbtrack.runs() while the job runs; a killed worker and a crashing script
are failed runs with their stderr, retried, and no run is recorded twice or left running.
"""

from __future__ import annotations

import threading
import time

import pytest

import nbtrack

pytest.importorskip("sklearn")
pytest.importorskip("ipykernel")
pytestmark = [pytest.mark.kernel, pytest.mark.xdist_group("jobs")]


def job_runs(store, job):
    frame = nbtrack.runs(store=store.root)
    return frame[frame["run_id"].isin(job.run_ids)]


def test_a_clear_difference_is_decided_before_the_budget(store):
    cmp = nbtrack.compare("clear", metric="acc")
    assert cmp.verdict("shuffle=True") != "worse"  # 3 seeds each do not settle it
    job = nbtrack.run_more(cmp, workers=2, max_runs=14, progress=False)
    assert job.stop_reason == "decided" and job.state == "done"
    assert job.comparison.verdict("shuffle=True") == "worse"
    assert job.decided == (1, 1)
    added = job_runs(store, job)
    assert 0 < len(added) < 2 * (14 - 3)  # stopped early
    assert set(added["status"]) == {"finished"}
    for _shuffle, rows in added.groupby("params.shuffle"):
        assert sorted(rows["params.seed"]) == list(range(3, 3 + len(rows)))  # new seeds, same for both groups
    origins = [nbtrack.get_run(r, store=store.root).origin for r in added["run_id"]]
    assert {o["kind"] for o in origins} == {"run_more"} and {o["job"] for o in origins} == {job.id}
    assert len({o["task"] for o in origins}) == len(origins)
    assert (nbtrack.runs(store=store.root)["status"] == "running").sum() == 0


def test_an_equal_case_spends_the_budget_and_results_show_up_live(store, capsys):
    before = len(nbtrack.runs(store=store.root))
    seen: list[int] = []
    done = threading.Event()

    def poll():
        while not done.is_set():
            seen.append(len(nbtrack.runs(store=store.root)))
            time.sleep(0.2)

    watcher = threading.Thread(target=poll)
    watcher.start()
    try:
        job = nbtrack.run_more("equal", budget=4, workers=2, progress=True)
    finally:
        done.set()
        watcher.join()
    assert job.stop_reason == "budget spent" and len(job.run_ids) == 4
    assert job.decided == (0, 1)
    after = len(nbtrack.runs(store=store.root))
    assert after == before + 4
    assert any(before < n < after for n in seen), seen  # some runs were visible before the job ended
    assert "pairs decided" in capsys.readouterr().err  # the progress bar (or its text form without tqdm)


def test_killed_and_crashing_scripts_are_failed_runs_retried_without_duplicates(book, store):
    folder = book[0]
    (folder / "kill-3").write_text("")  # the first attempt of seed 3 is SIGKILLed mid-run
    (folder / "fail-4").write_text("")  # seed 4 always raises
    try:
        job = nbtrack.run_more("crash", until=None, max_runs=5, workers=2, retries=1, progress=False)
    finally:
        for name in ("kill-3", "fail-4"):
            (folder / name).unlink(missing_ok=True)
    states = {key: t["state"] for key, t in job.tasks.items()}
    assert states == {"g0-s3-a1": "failed", "g0-s3-a2": "done", "g0-s4-a1": "failed", "g0-s4-a2": "failed"}
    runs = job_runs(store, job)
    assert len(runs) == 4 and runs["run_id"].is_unique
    finished = runs[runs["status"] == "finished"]
    assert list(finished["params.seed"]) == [3]
    killed = nbtrack.get_run(job.tasks["g0-s3-a1"]["run"], store=store.root)
    assert killed.status == "failed" and killed.error["type"] == "TaskKilled"
    for key in ("g0-s4-a1", "g0-s4-a2"):
        failed = nbtrack.get_run(job.tasks[key]["run"], store=store.root)
        assert failed.status == "failed" and failed.params["seed"] == 4
        assert "boom: seed 4" in str(failed.error)
    assert (nbtrack.runs(store=store.root)["status"] == "running").sum() == 0
