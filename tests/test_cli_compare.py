"""nbtrack.cli.compare: ``nbtrack compare`` as a table, JSON, CSV and a plot, and as a console command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

import nbtrack
from nbtrack.cli import main

# runs from the store -------------------------------------------------------------------------------------------


def _record(experiment="exp", data=None, n=6):
    rng = np.random.default_rng(9)
    for lr, mu in ((0.01, 0.80), (0.1, 0.84)):
        for seed in range(n):
            payload = None if data is None else {"train": data(lr, seed)}
            with nbtrack.track(
                name="fit",
                experiment=experiment,
                params={"lr": lr, "seed": seed, "epochs": 3},
                data=payload,
                environment=False,
            ):
                for step in range(3):
                    nbtrack.log_metric("acc", mu - 0.05 * (2 - step) + rng.normal(0, 0.005), step=step)


# command line -----------------------------------------------------------------------------------------------------


def test_cli_compare_table_json_csv_and_plot(store_dir, capsys, tmp_path):
    _record()
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
    _record()
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
