import pandas as pd
import pytest

import nbtrack
from nbtrack.query.search import QueryError


@pytest.fixture
def populated(store_dir):
    made = []
    for lr in (0.01, 0.1, 1.0):
        for seed in range(2):
            with nbtrack.track(
                name=f"lr{lr}",
                experiment="sweep",
                params={"lr": lr, "seed": seed},
                tags={"opt": "adam" if lr < 1 else "sgd"},
            ) as run:
                nbtrack.log_metric("acc", 0.5 + lr / 4 + seed / 100)
            made.append(run.id)
    with pytest.raises(ValueError), nbtrack.track(name="broken", experiment="other"):
        raise ValueError("x")
    return made


def test_runs_frame_shape_like_mlflow(populated):
    frame = nbtrack.runs()
    assert list(frame.columns[:7]) == ["run_id", "experiment", "name", "status", "start_time", "end_time", "duration"]
    assert {"params.lr", "params.seed", "metrics.acc", "tags.opt"} <= set(frame.columns)
    assert len(frame) == 7
    assert frame.run_id.tolist() == sorted(frame.run_id, reverse=True)  # newest first
    assert isinstance(frame.start_time.dtype, pd.DatetimeTZDtype)
    assert frame["metrics.acc"].dtype == float


def test_filters(populated):
    assert len(nbtrack.runs(experiment="sweep")) == 6
    assert nbtrack.runs(status="failed").name.tolist() == ["broken"]
    got = nbtrack.runs(where="params.lr < 0.5 and metrics.acc > 0.52")
    assert sorted(got["params.lr"]) == [0.1, 0.1]
    assert len(nbtrack.runs(where="tags.opt in ['sgd'] or params.seed == 0")) == 4
    assert len(nbtrack.runs(where="not (params.lr == 1.0)")) == 5
    assert len(nbtrack.runs(where=lambda run: run.params.get("seed") == 1)) == 3


def test_bad_where_is_a_clear_error(populated):
    with pytest.raises(QueryError, match=r"unknown column 'params\.lrr'"):
        nbtrack.runs(where="params.lrr < 1")
    with pytest.raises(QueryError, match="not allowed"):
        nbtrack.runs(where="__import__('os').system('true')")
    with pytest.raises(QueryError, match="cannot parse"):
        nbtrack.runs(where="params.lr <")


@pytest.mark.parametrize("expression", ["10**10**7 > 1", "10**10**10 > 1", "'a'*10**9 == name", "1<<10**9"])
def test_hostile_where_is_refused_fast_in_the_kernel_and_the_cli(populated, capsys, expression):
    """Issue 18, reproduction 1: these once held the GIL for seconds (or forever) and allocated gigabytes."""
    from nbtrack.cli import main

    with pytest.raises(QueryError, match=r"exceeds nbtrack's query limits|not allowed|needs numbers"):
        nbtrack.runs(where=expression)
    assert main(["runs", "--where", expression]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_empty_store_gives_empty_frame_with_columns(store_dir):
    frame = nbtrack.runs()
    assert frame.empty and "run_id" in frame.columns


def test_abandoned_when_owner_process_is_gone(store_dir):
    import subprocess
    import sys

    code = (
        "import os, nbtrack; nbtrack.set_store(os.environ['S']);"
        "r = nbtrack.ActiveRun(nbtrack.get_store(), name='dies').start(); print(r.id, flush=True); os._exit(9)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**__import__("os").environ, "S": str(store_dir)},
        capture_output=True,
        text=True,
    )
    run_id = out.stdout.strip()
    assert nbtrack.get_run(run_id).status == "abandoned"
    assert nbtrack.runs(status="abandoned").run_id.tolist() == [run_id]
