"""nbtrack.cli.remote: the options of ``nbtrack push`` and ``nbtrack pull``, the report they print and its exit
code, and a dry-run push to a local sqlite tracking URI (no server). Pushing and pulling for real is in
test_push.py, against an MLflow server."""

from __future__ import annotations

import argparse

import pytest

import nbtrack
from nbtrack.cli import build_parser, main
from nbtrack.cli.remote import print_report
from nbtrack.remote.report import Report, RunAction

try:
    import mlflow  # noqa: F401

    HAVE_MLFLOW = True
except ImportError:  # pragma: no cover - the test extra installs it
    HAVE_MLFLOW = False


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("push", ["--to", "--experiment", "--since", "--dry-run", "--force", "--workers", "--quiet", "--verbose"]),
        ("pull", ["--from", "--experiment", "--dry-run", "--workers", "--quiet", "--verbose"]),
    ],
)
def test_help_lists_the_options(command, options, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: nbtrack {command}")
    for option in options:
        assert option in text, option


def test_push_arguments():
    args = build_parser().parse_args(["push", "01abc", "01def", "--to", "http://h:5000", "-e", "a", "-e", "b", "-n"])
    assert args.runs == ["01abc", "01def"] and args.to == "http://h:5000" and args.experiment == ["a", "b"]
    assert args.dry_run and not args.force and args.workers is None and args.since is None
    args = build_parser().parse_args(["push", "--to", "x", "--since", "7d", "--force", "--workers", "2", "-q", "-v"])
    assert args.runs == [] and args.since == "7d" and args.force and args.workers == 2 and args.quiet and args.verbose


def test_pull_arguments():
    args = build_parser().parse_args(["pull", "--from", "http://h:5000", "-e", "credit", "--dry-run"])
    assert args.source == "http://h:5000" and args.experiment == "credit" and args.dry_run and args.workers is None


@pytest.mark.parametrize(
    "argv",
    [["push"], ["push", "--workers", "two", "--to", "x"], ["pull", "-e", "x"], ["pull", "--from", "x"]],
)
def test_a_missing_or_bad_option_is_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "nbtrack" in capsys.readouterr().err


def test_the_report_and_its_exit_code(capsys):
    args = argparse.Namespace(dry_run=False, verbose=False)
    report = Report("push", "http://h:5000", seconds=2.0)
    report.actions = [
        RunAction("01aaa", "e", "create", detail="1 params"),
        RunAction("01bbb", "e", "up to date"),
        RunAction("01ccc", "e", "failed", error="HTTP 500"),
    ]
    assert print_report(report, args, "pushed") == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "failed           01ccc  e  (HTTP 500)",  # only failures without --verbose
        "push to http://h:5000: 1 create, 1 up to date, 1 failed in 2.0 s, 0.5 runs/s",
    ]
    assert err == "nbtrack: error: 1 runs were not pushed; first: 01ccc: HTTP 500\n"
    report.actions.pop()
    assert print_report(report, argparse.Namespace(dry_run=False, verbose=True), "pushed") == 0
    verbose = capsys.readouterr().out.splitlines()
    assert verbose[:2] == ["create           01aaa  e  1 params", "up to date       01bbb  e"]


@pytest.mark.skipif(not HAVE_MLFLOW, reason="mlflow is not installed (pip install -e '.[test]')")
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning")  # mlflow's own
def test_dry_run_push_to_a_sqlite_uri_sends_nothing(store_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    with nbtrack.track(name="a", experiment="e", params={"lr": 0.1}, environment=False) as run:
        nbtrack.log_metric("acc", 1.0)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["--store", str(store_dir), "push", "--to", uri, "--dry-run", "-q"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"would create     {run.id}  e  1 params, 1 metric points")
    assert lines[-1] == f"dry run: push to {uri}: 1 create"
    # nothing was sent: the server has no such experiment to pull
    assert main(["--store", str(store_dir), "pull", "--from", uri, "-e", "e", "--dry-run", "-q"]) == 1
    assert capsys.readouterr().err == f"nbtrack: error: no experiment 'e' on {uri}\n"
