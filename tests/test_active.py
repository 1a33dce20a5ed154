"""capture/active.py: the per-thread stack of active runs and the module-level ``nbtrack.log_*`` calls on it."""

from __future__ import annotations

import threading

import pytest

import nbtrack
from nbtrack.capture import active
from nbtrack.capture.active import active_run, pop_active, push_active, require_run
from nbtrack.capture.lifecycle import ActiveRun
from nbtrack.errors import NbtrackError, NoActiveRunError
from nbtrack.store.local import get_store


@pytest.fixture
def runs(store_dir):
    """Two runs that are not started (nothing is written): the stack only needs objects with log_* methods."""
    made = [ActiveRun(get_store()), ActiveRun(get_store())]
    yield made
    for run in made:  # a failing test must not leave a run active for the next one
        pop_active(run)


def test_no_run_outside_a_run_and_require_run_names_the_call():
    assert active_run() is None
    with pytest.raises(NoActiveRunError, match=r"nbtrack\.log_thing\(\) needs an active run") as info:
        require_run("log_thing")
    assert isinstance(info.value, NbtrackError) and "%%track" in str(info.value)


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (active.log_metric, ("a", 1)),
        (active.log_metrics, ({"a": 1},)),
        (active.log_param, ("a", 1)),
        (active.log_params, ({"a": 1},)),
        (active.log_data, ("d", "d.csv")),
        (active.set_tags, ({"a": 1},)),
    ],
)
def test_every_module_level_call_outside_a_run_raises_naming_itself(call, args):
    with pytest.raises(NoActiveRunError, match=rf"nbtrack\.{call.__name__}\(\)"):
        call(*args)


def test_the_public_log_calls_are_these_functions():
    for name in ("log_metric", "log_metrics", "log_param", "log_params", "log_data", "set_tags"):
        assert getattr(nbtrack, name) is getattr(active, name), name


def test_module_level_calls_reach_the_active_run(runs, tmp_path):
    run = runs[0]
    (tmp_path / "xs.csv").write_text("a\n1\n")
    push_active(run)
    active.log_metric("loss", 0.5, step=3)
    active.log_metrics({"acc": 0.9, "f1": 0.8})
    active.log_param("lr", 0.1)
    active.log_params({"layers": 2})
    active.set_tags({"team": "a"})
    record = active.log_data("xs", tmp_path / "xs.csv")
    pop_active(run)
    assert run.metrics == {"loss": 0.5, "acc": 0.9, "f1": 0.8} and run.series["loss"]["step"] == [3]
    assert run.params == {"lr": 0.1, "layers": 2} and run.tags == {"team": "a"}
    assert record is not None and "xs" in run.data
    assert active_run() is None


def test_the_innermost_run_wins_and_pop_removes_from_anywhere(runs):
    outer, inner = runs
    push_active(outer)
    push_active(inner)
    assert active_run() is inner
    nbtrack.log_metric("m", 1)
    pop_active(outer)  # from anywhere in the stack
    assert active_run() is inner and inner.metrics == {"m": 1.0} and outer.metrics == {}
    pop_active(inner)
    pop_active(inner)  # not active: nothing happens
    assert active_run() is None
    with pytest.raises(NoActiveRunError):
        nbtrack.log_metric("m", 2)


def test_popping_the_inner_run_gives_the_outer_one_back(runs):
    outer, inner = runs
    push_active(outer)
    push_active(inner)
    pop_active(inner)
    assert active_run() is outer
    nbtrack.log_metric("m", 2)
    assert outer.metrics == {"m": 2.0} and inner.metrics == {}


def test_each_thread_has_its_own_stack(runs):
    mine, theirs = runs
    push_active(mine)
    pushed, logged = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def other() -> None:
        seen["before"] = active_run()  # the main thread's run is not this thread's
        try:
            require_run("log_metric")
        except NoActiveRunError as exc:
            seen["error"] = exc
        push_active(theirs)
        pushed.set()
        logged.wait(10)
        nbtrack.log_metric("t", 2)
        seen["after"] = active_run()
        pop_active(theirs)

    thread = threading.Thread(target=other)
    thread.start()
    assert pushed.wait(10)
    assert active_run() is mine  # the other thread's push did not change this thread's run
    nbtrack.log_metric("m", 1)
    logged.set()
    thread.join(10)
    assert not thread.is_alive()
    assert seen["before"] is None and isinstance(seen["error"], NoActiveRunError) and seen["after"] is theirs
    assert mine.metrics == {"m": 1.0} and theirs.metrics == {"t": 2.0}
    assert active_run() is mine
