"""Run ids: time-ordered, unique across processes, strictly increasing within one, safe in paths."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from nbtrack import ids


def test_an_id_encodes_its_creation_time():
    before = time.time()
    run_id = ids.new_run_id()
    after = time.time()
    assert len(run_id) == ids.ID_LENGTH == 26 and ids.is_run_id(run_id)
    assert before - 0.002 <= ids.id_time(run_id) <= after + 0.002


@pytest.fixture
def clock(monkeypatch):
    """A fake clock; the last id made is put back afterwards, so later ids in this process are not pushed into
    the fake clock's future."""
    now = [1_800_000_000_000_000_000]
    monkeypatch.setattr(ids, "_last", ids._last)
    monkeypatch.setattr(ids.time, "time_ns", lambda: now[0])
    return now


def test_ids_increase_inside_one_millisecond_and_when_the_clock_goes_back(clock):
    now = clock
    same_ms = [ids.new_run_id() for _ in range(1000)]
    assert same_ms == sorted(same_ms) and len(set(same_ms)) == 1000
    assert {run_id[:10] for run_id in same_ms} == {same_ms[0][:10]}  # one millisecond, counted up
    now[0] -= 5_000_000_000  # the clock jumps 5 s back (NTP): ids keep increasing
    later = ids.new_run_id()
    assert later > same_ms[-1] and ids.id_time(later) == ids.id_time(same_ms[0])


def test_a_full_millisecond_moves_on_to_the_next(clock, monkeypatch):
    first = ids.new_run_id()
    ms = round(ids.id_time(first) * 1000)
    monkeypatch.setattr(ids, "_last", (ms, (1 << 80) - 1))  # the random part cannot count up any more
    nxt = ids.new_run_id()
    assert nxt > first and round(ids.id_time(nxt) * 1000) == ms + 1


def test_ids_from_two_processes_never_collide():
    code = "from nbtrack import ids\nprint(' '.join(ids.new_run_id() for _ in range(2000)))"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    made = [proc.communicate(timeout=120)[0].split() for proc in procs]
    assert all(len(batch) == 2000 for batch in made)
    assert not set(made[0]) & set(made[1])


def test_the_fake_clock_leaves_no_trace():
    assert abs(ids.id_time(ids.new_run_id()) - time.time()) < 5


@pytest.mark.parametrize(
    "text, run_id, prefix",
    [
        ("01m8ew", False, True),
        ("0" * 26, True, True),
        ("0" * 27, False, False),
        ("", False, False),
        ("01M8EW", False, False),  # ids are lowercase
        ("01m8eu", False, False),  # Crockford base32 has no i, l, o, u
        ("../x", False, False),
        ("a/b", False, False),
        ("01m8ew\n", False, False),
        (None, False, False),
        (12345, False, False),
    ],
)
def test_what_counts_as_an_id_or_a_prefix(text, run_id, prefix):
    assert ids.is_run_id(text) is run_id
    assert ids.is_id_prefix(text) is prefix
