"""What push and pull report: one line per run, a one-line summary."""

from __future__ import annotations

import warnings

import pytest

from nbtrack.errors import NbtrackWarning
from nbtrack.remote.report import Report, RunAction, human_bytes, warn


def test_run_lines_say_would_on_a_dry_run():
    action = RunAction("01abc", "exp", "create", detail="3 params")
    assert action.line(dry_run=True).startswith("would create ")
    assert action.line(dry_run=False).startswith("create ")
    failed = RunAction("01abc", "exp", "failed", error="HTTP 400")
    assert failed.line(dry_run=True).endswith("(HTTP 400)") and failed.line(dry_run=True).startswith("failed")


def test_summary_counts_actions_rate_and_size():
    report = Report("push", "http://host:5000", seconds=2.0, bytes=1_500_000)
    report.actions = [
        RunAction("a", "e", "create"),
        RunAction("b", "e", "create"),
        RunAction("c", "e", "up to date"),
        RunAction("d", "e", "failed"),
    ]
    assert [a.run_id for a in report.sent] == ["a", "b"]
    assert [a.run_id for a in report.skipped] == ["c"] and [a.run_id for a in report.failed] == ["d"]
    assert str(report) == "push to http://host:5000: 2 create, 1 up to date, 1 failed in 2.0 s, 1.0 runs/s, 1.5 MB"
    assert str(Report("pull", "h", dry_run=True)) == "dry run: pull from h: nothing to do"


def test_human_bytes():
    assert human_bytes(999) == "999 B"
    assert human_bytes(1500) == "1.5 KB"
    assert human_bytes(2.5e12) == "2,500.0 GB"


def test_warnings_are_nbtrack_warnings():
    with pytest.warns(NbtrackWarning, match="^nbtrack: run x not sent$"):
        warn("run x not sent")
    with warnings.catch_warnings():
        warnings.simplefilter("error", NbtrackWarning)
        with pytest.raises(NbtrackWarning):
            warn("boom")
