"""The cyclic collector's pause (store/collector.py): nested pauses, from several threads, leave it as found."""

from __future__ import annotations

import gc
import threading

import pytest

from nbtrack.store import collector


@pytest.fixture(autouse=True)
def _collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_a_pause_stops_collections_and_the_collector_is_on_again_after_nested_pauses():
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()


def test_a_collector_the_user_turned_off_stays_off():
    gc.disable()
    with collector.paused():
        pass
    assert not gc.isenabled()


def test_an_error_inside_a_pause_turns_the_collector_back_on():
    with pytest.raises(RuntimeError), collector.paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_pauses_overlapping_in_threads_end_with_the_collector_on():
    inside, leave = threading.Barrier(3), threading.Event()

    def pause():
        with collector.paused():
            inside.wait()
            leave.wait()

    threads = [threading.Thread(target=pause) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert not gc.isenabled()
    leave.set()
    for thread in threads:
        thread.join()
    assert gc.isenabled()
