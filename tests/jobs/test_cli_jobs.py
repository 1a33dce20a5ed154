"""cli/jobs.py: ``nbtrack run-more`` and ``nbtrack sweep`` on the real notebook's runs."""

from __future__ import annotations

import pytest

import nbtrack
from nbtrack.cli import main
from nbtrack.cli.jobs import parse_grid


def test_a_grid_option_is_typed_like_labels():
    assert parse_grid(["C=0.1,1", "kind='3',b", "flag=True,False"]) == {
        "C": [0.1, 1],
        "kind": ["3", "b"],
        "flag": [True, False],
    }


def test_a_malformed_grid_is_one_line_and_exit_code_1(store_dir, capsys):
    assert main(["sweep", "01abc", "--grid", "C"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nbtrack: error:") and "Traceback" not in err


@pytest.mark.kernel
@pytest.mark.xdist_group("jobs")
def test_run_more_decides_an_experiment_and_sweep_respects_its_budget(store, capsys):
    pytest.importorskip("sklearn")
    assert main(["--store", str(store.root), "run-more", "clear", "--workers", "2", "--max-runs", "14", "-q"]) == 0
    out = capsys.readouterr().out
    assert "run_more: done, decided" in out and "worse" in out
    base = nbtrack.runs(experiment="clear", store=store.root)["run_id"].iloc[-1]
    before = len(nbtrack.runs(store=store.root))
    code = main(["--store", str(store.root), "sweep", base, "--grid", "C=0.5,2", "--seeds", "3", "--budget", "2", "-q"])
    assert code == 0 and "budget spent" in capsys.readouterr().out
    added = nbtrack.runs(store=store.root).head(len(nbtrack.runs(store=store.root)) - before)
    assert len(added) == 2 and sorted(added["params.C"]) == [0.5, 2.0]
