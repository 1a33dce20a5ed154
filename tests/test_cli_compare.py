"""nbtrack.cli.compare: ``nbtrack compare`` as a table, JSON, CSV and a plot, and as a console command."""

from __future__ import annotations

import json
import subprocess
import sys

from compare_helpers import record_runs

from nbtrack.cli import main

# runs from the store -------------------------------------------------------------------------------------------


# command line -----------------------------------------------------------------------------------------------------


def test_cli_compare_table_json_csv_and_plot(store_dir, capsys, tmp_path):
    record_runs()
    store = ["--store", str(store_dir)]
    assert main([*store, "compare", "--experiment", "exp", "--metric", "acc"]) == 0
    out = capsys.readouterr().out
    assert "lr=0.1 *" in out and "worse" in out
    assert main([*store, "compare", "-e", "exp", "-m", "acc", "--baseline", "lr=0.01", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"groups", "pairs", "warnings"} and data["pairs"][0]["verdict"] == "better"
    assert (
        main(
            [
                *store,
                "compare",
                "-e",
                "exp",
                "-m",
                "acc",
                "--format",
                "csv",
                "--table",
                "pairs",
                "--plot",
                str(tmp_path / "p.png"),
                "--kind",
                "diff",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0].startswith("metric,lr,group,reference") and len(lines) == 2
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert main([*store, "compare", "-e", "exp", "-m", "nope"]) == 1
    assert "no metric 'nope'" in capsys.readouterr().err
    assert main([*store, "compare", "-e", "exp", "-m", "acc", "--by", "lr", "--minimize", "acc", "--unpaired"]) == 0
    assert "lower is better (given)" in capsys.readouterr().out


def test_cli_compare_console_entry(store_dir):
    record_runs()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nbtrack.cli",
            "--store",
            str(store_dir),
            "compare",
            "-e",
            "exp",
            "-m",
            "acc",
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["pairs"][0]["group"] == "lr=0.01"
