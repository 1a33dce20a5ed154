"""capture/guard.py: names, steps, the metric-name cap and the one warning about what was not saved."""

import errno
import os
import warnings

import pytest

from nbtrack import NbtrackWarning
from nbtrack.capture import guard
from nbtrack.errors import RunDeletedError, StoreWriteError


@pytest.mark.parametrize("step, expected", [(3, 3), (True, 1), (2.0, 2), (-(2**63), -(2**63)), ("4", 4)])
def test_whole_steps_are_kept(step, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert guard.clean_step(step, "m") == expected


@pytest.mark.parametrize(
    "step, said",
    [
        (2.5, "not a whole number"),
        (float("nan"), "not a whole number"),
        ("x", "not a whole number"),
        (10**30, "64-bit range"),
        (2**63, "64-bit"),
    ],
)
def test_other_steps_are_refused_with_a_warning(step, said):
    with pytest.warns(NbtrackWarning, match=said):
        assert guard.clean_step(step, "m") is None


def test_the_metric_name_cap_is_configurable(monkeypatch):
    assert guard.max_metric_names() == guard.MAX_METRICS == 1_000
    monkeypatch.setenv("NBTRACK_MAX_METRICS", "7")
    assert guard.max_metric_names() == 7
    monkeypatch.setenv("NBTRACK_MAX_METRICS", "many")
    assert guard.max_metric_names() == 1_000


def test_clean_key_never_calls_a_slow_or_broken_repr():
    class Key:
        def __repr__(self):
            raise RuntimeError("no")

    assert "repr failed" in guard.clean_key(Key(), "param")
    assert guard.clean_key("caf\udce9", "param") == "caf\udce9"  # kept exactly; the record escapes it


def test_save_problems_say_what_was_and_was_not_saved():
    problems = guard.SaveProblems()
    assert problems.message("r", "/s", record_saved=True, start_saved=True, code="cell") is None
    problems.fail("the run record", PermissionError(errno.EACCES, "Permission denied"))
    problems.fail("the metric series", OSError(errno.ENOSPC, "No space left on device"))
    text = problems.message("r1", "/store", record_saved=False, start_saved=False, code="cell")
    assert text.startswith("run r1 could not be saved to /store (PermissionError: Permission denied [EACCES])")
    assert "Not saved: the run record, the metric series (OSError: No space left on device [ENOSPC])" in text
    assert "set NBTRACK_DIR to a writable folder" in text
    problems.ok("the run record")
    problems.ok("the notebook history")
    text = problems.message("r1", "/store", record_saved=True, start_saved=True, code="code")
    assert "was saved to /store, but the metric series could not be saved" in text and "free some disk space" in text
    assert "kept without it. Also saved: the notebook history." in text


def test_a_store_write_error_is_described_by_the_os_error_it_wraps():
    def wrapped(code: int, filename: str | None) -> StoreWriteError:
        try:
            try:
                raise OSError(code, os.strerror(code), filename)
            except OSError as exc:
                raise StoreWriteError(code, "nbtrack could not lock /s/lock (...); nothing was written") from exc
        except StoreWriteError as error:
            return error

    said = guard.describe_error(wrapped(errno.EACCES, "/s/lock"))
    assert said == "PermissionError: Permission denied [EACCES] at /s/lock"
    assert guard.describe_error(wrapped(errno.ENOSPC, "ab")) == "OSError: No space left on device [ENOSPC]"
    bare = StoreWriteError(errno.EDQUOT, "nbtrack could not create the store folder /s; nothing was saved")
    assert guard.describe_error(bare) == f"OSError: {os.strerror(errno.EDQUOT)} [EDQUOT]"
    assert guard.describe_error(ValueError("odd")) == "ValueError: odd"


def test_a_run_deleted_while_it_ran_is_said_in_the_stores_words_only():
    problems = guard.SaveProblems()
    problems.fail("the metric series", OSError(errno.ENOSPC, "No space left on device"))
    deleted = RunDeletedError("run r1 was deleted while it ran; its final record was not saved")
    problems.fail("the run record", deleted)
    assert problems and problems.message("r1", "/s", record_saved=False, start_saved=True, code="cell") == str(deleted)
