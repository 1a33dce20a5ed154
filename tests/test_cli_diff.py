"""nbtrack.cli.diff: ``nbtrack diff A B`` as text and JSON, and a clear error for an unknown run."""

from __future__ import annotations

import json

import nbtrack
from nbtrack.cli import main


def _run(params, metric, data=None, environment=False):
    with nbtrack.track(name="fit", experiment="d", params=params, data=data, environment=environment) as run:
        nbtrack.log_metric("acc", metric)
    return run.id


def test_cli_diff(store_dir, capsys):
    a = _run({"lr": 0.1}, 0.8)
    b = _run({"lr": 0.2}, 0.9)
    store = ["--store", str(store_dir)]
    assert main([*store, "diff", a[:12], b[:12]]) == 0
    assert "~ lr: 0.1 -> 0.2" in capsys.readouterr().out
    assert main([*store, "diff", a, b, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["a"] == a and data["params"][0] == {"name": "lr", "a": 0.1, "b": 0.2, "change": "changed"}
    assert main([*store, "diff", a, "zzzzzz"]) == 1
    assert capsys.readouterr().err.startswith("nbtrack: error: no run")
