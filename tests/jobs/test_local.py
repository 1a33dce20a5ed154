"""jobs/local.py: the local engine runs tasks in parallel subprocesses and cancels them for real."""

from __future__ import annotations

import time

from nbtrack.jobs.local import LocalEngine
from nbtrack.jobs.tasks import Engine, Task


def sleeper(task_id: str, seconds: float) -> Task:
    return Task(task_id, f"import time; time.sleep({seconds}); print('{task_id}')".encode(), "s.py", [], None, {}, 60.0)


def test_tasks_run_in_parallel_and_come_back_as_they_complete():
    engine = LocalEngine(workers=2)
    assert isinstance(engine, Engine) and engine.workers == 2
    try:
        engine.submit(sleeper("slow", 4.0))
        engine.submit(sleeper("fast", 0.5))
        order = [r.task_id for r in engine.results()]
    finally:
        engine.close()
    assert order == ["fast", "slow"]  # the task submitted second came back first: both ran at once


def test_cancel_kills_running_tasks_drops_waiting_ones_and_keeps_finished_results():
    engine = LocalEngine(workers=2)
    try:
        engine.submit(sleeper("quick", 0.0))
        engine.submit(sleeper("long", 60.0))
        engine.submit(sleeper("queued", 60.0))
        first = next(engine.results())
        assert first.task_id == "quick"
        time.sleep(0.5)
        started = time.perf_counter()
        engine.cancel()
        rest = list(engine.results(timeout=30))
        assert time.perf_counter() - started < 15
    finally:
        engine.close()
    assert rest == []
    assert engine.pending == 0


def test_results_of_tasks_finished_before_a_cancel_are_still_yielded():
    engine = LocalEngine(workers=2)
    try:
        engine.submit(sleeper("done", 0.0))
        deadline = time.time() + 60
        while engine._done.empty() and time.time() < deadline:
            time.sleep(0.05)
        engine.cancel()
        assert [r.task_id for r in engine.results(timeout=10)] == ["done"]
    finally:
        engine.close()
