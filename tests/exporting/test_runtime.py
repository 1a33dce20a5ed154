"""exporting/runtime.py: what an exported script calls at run time (its command line, data guards, its own run).

tests/test_export_runtime.py checks the ``nbtrack.export_runtime`` alias; tests/test_exporter.py runs whole
exported scripts made from real kernels.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import nbtrack
from nbtrack.data.fingerprint import fingerprint
from nbtrack.errors import DataChangedError, NbtrackWarning
from nbtrack.exporting import runtime

DEFAULTS = {
    "lr": 0.1,
    "epochs": 3,
    "use_bn": True,
    "layers": [4, 2],
    "pair": (1, 2),
    "batch_size": 8,
    "name": "a",
    "seed": None,
}


@pytest.fixture(autouse=True)
def fresh_options():
    """The runtime keeps the script's options in module state: each test starts from a fresh script's."""
    saved = dict(runtime._options), dict(runtime._files)
    yield
    runtime._options.clear()
    runtime._options.update(saved[0])
    runtime._files.clear()
    runtime._files.update(saved[1])


def run_python(code: str, cwd: Path, store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = cwd / "script.py"
    script.write_text(textwrap.dedent(code))
    env = {**os.environ, "NBTRACK_DIR": str(store)}
    for var in ("NBTRACK_EXPERIMENT", "JPY_SESSION_NAME", "NBTRACK_TRACKING_URI"):
        env.pop(var, None)
    return subprocess.run(
        [sys.executable, str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


# parameters ---------------------------------------------------------------------------------------------------


def test_parameters_default_to_the_run_values():
    assert runtime.parameters(DEFAULTS, argv=[]) == DEFAULTS


def test_command_line_options_are_typed_like_the_run_values():
    got = runtime.parameters(
        DEFAULTS,
        argv=["--lr", "1", "--no-use_bn", "--layers", "[1]", "--pair", "(5, 6)", "--batch-size", "16", "--seed", "7"],
    )
    assert got == {**DEFAULTS, "lr": 1.0, "use_bn": False, "layers": [1], "pair": (5, 6), "batch_size": 16, "seed": 7}
    assert type(got["lr"]) is float and type(got["pair"]) is tuple
    assert runtime.parameters(DEFAULTS, argv=["--batch_size", "4", "--name", "007"])["batch_size"] == 4
    assert runtime.parameters(DEFAULTS, argv=["--name", "007"])["name"] == "007"  # a str stays a str


def test_a_bad_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        runtime.parameters(DEFAULTS, argv=["--layers", "3"])
    assert info.value.code == 2 and "expected a Python literal like [4, 2]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        runtime.parameters(DEFAULTS, argv=["--epochs", "three"])


def test_a_param_named_like_an_option_of_the_script_gets_a_prefixed_flag():
    got = runtime.parameters({"params": 1, "help": "x"}, argv=["--param-params", "2", "--param-help", "y"])
    assert got == {"params": 2, "help": "y"}


def test_params_file_then_command_line(tmp_path, capsys):
    path = tmp_path / "params.yaml"
    path.write_text('# edited by hand\nlr: 1e-3\nepochs: "5"\nuse_bn: false\npair: [7, 8]\nextra: 1\n')
    got = runtime.parameters(DEFAULTS, argv=["--params", str(path), "--epochs", "9"])
    assert got == {**DEFAULTS, "lr": 0.001, "epochs": 9, "use_bn": False, "pair": (7, 8)}
    assert "ignoring unknown params extra" in capsys.readouterr().err
    got = runtime.parameters(DEFAULTS, argv=["--params", str(path)])
    assert got["epochs"] == 5 and type(got["epochs"]) is int  # a quoted number made the run value's type
    path.write_text("epochs: many\n")
    with pytest.raises(SystemExit, match="params file: epochs: 'many' is not a int"):
        runtime.parameters(DEFAULTS, argv=["--params", str(path)])


def test_script_options_are_kept_for_the_guards_and_the_metrics(tmp_path):
    runtime.parameters(DEFAULTS, argv=["--allow-data-change", "--metrics-file", str(tmp_path / "m.json")])
    assert runtime._options == {
        "allow_data_change": True,
        "metrics_file": str(tmp_path / "m.json"),
        "script": True,
        "upstream": set(),
    }


def test_a_notebook_reads_no_command_line(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["kernel", "--lr", "5"])
    assert runtime.parameters(DEFAULTS, cli=False, allow_data_change=True) == DEFAULTS
    assert runtime._options["script"] is False and runtime._options["allow_data_change"] is True


def test_read_params_yaml_reads_what_export_writes_and_what_people_type(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "# a comment\n"
        "lr: 0.5  # trailing comment\n"
        '"odd key": "text # not a comment"\n'
        "name: plain text\n"
        "quoted: 'it''s'\n"
        "flag: true\n"
        "off: False\n"
        "none: null\n"
        "tilde: ~\n"
        "empty:\n"
        "big: .inf\n"
        "small: -.inf\n"
        "nan: .nan\n"
        "n: 12\n"
        "exp: 1e-5\n"
        'items: [1, 2.5, "x"]\n'
        'map: {"a": 1}\n'
        "nested:\n"
        "  - ignored\n"
        "no colon line\n"
    )
    got = runtime.read_params_yaml(str(path))
    nan = got.pop("nan")
    assert math.isnan(nan)
    assert got == {
        "lr": 0.5,
        "odd key": "text # not a comment",
        "name": "plain text",
        "quoted": "it's",
        "flag": True,
        "off": False,
        "none": None,
        "tilde": None,
        "empty": None,
        "big": math.inf,
        "small": -math.inf,
        "n": 12,
        "exp": 1e-5,
        "items": [1, 2.5, "x"],
        "map": {"a": 1},
        "nested": None,
    }


# data guards ----------------------------------------------------------------------------------------------------


FRAME = pd.DataFrame({"a": [1, 2, 3]})


def test_check_data_passes_the_recorded_input_and_ignores_what_is_not_data():
    expected = fingerprint(FRAME).hash
    runtime.parameters({}, cli=False)
    record = runtime.check_data("train", FRAME.copy(), expected)
    assert record is not None and record["hash"] == expected
    assert runtime.check_data("model", object(), "0" * 32) is None


def test_a_changed_input_raises_in_a_notebook_and_warns_when_allowed():
    changed = pd.DataFrame({"a": [1, 2, 4]})
    runtime.parameters({}, cli=False)
    with pytest.raises(DataChangedError, match=r"train \(read from train.csv\) differs from the input used by run r1"):
        runtime.check_data("train", changed, fingerprint(FRAME).hash, origin="train.csv", source_run="r1")
    with pytest.raises(DataChangedError, match=r"feat \(computed by the cells before the tracked one\) differs"):
        runtime.check_data("feat", changed, fingerprint(FRAME).hash, strict=False)  # computed by code: stops too
    runtime.parameters({}, cli=False, allow_data_change=True)
    with pytest.warns(NbtrackWarning, match="going on: --allow-data-change"):
        assert runtime.check_data("train", changed, fingerprint(FRAME).hash) is not None


def test_a_changed_file_stops_a_script_with_exit_code_3(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a\n1\n")
    expected = fingerprint(tmp_path / "d.csv").hash
    runtime.parameters({}, argv=[])
    runtime.check_file(str(tmp_path / "d.csv"), expected, name="d")
    assert runtime._files["d"]["hash"] == expected  # the script's run records it
    (tmp_path / "d.csv").write_text("a\n2\n")
    with pytest.raises(SystemExit) as info:
        runtime.check_file(str(tmp_path / "d.csv"), expected, source_run="r1")
    assert info.value.code == runtime.DATA_CHANGED_EXIT == 3
    err = capsys.readouterr().err
    assert "data check failed" in err and "changed since it was used by run r1" in err
    assert "--allow-data-change" in err
    with pytest.raises(SystemExit):
        runtime.check_file(str(tmp_path / "missing.csv"), expected)
    assert "missing.csv not found" in capsys.readouterr().err


def test_an_upstream_stages_new_output_is_no_data_change(tmp_path, capsys):
    (tmp_path / "clean.csv").write_text("a\n1\n")
    (tmp_path / "raw.csv").write_text("a\n1\n")
    expected = fingerprint(tmp_path / "clean.csv").hash
    (tmp_path / "clean.csv").write_text("a\n2\n")  # an earlier DVC stage rewrote it with other params
    (tmp_path / "raw.csv").write_text("a\n2\n")
    runtime.parameters({}, argv=["--upstream-output", str(tmp_path / "clean.csv")])
    runtime.check_file(str(tmp_path / "clean.csv"), expected)
    assert "is an upstream stage's new output" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # the other inputs stay guarded
        runtime.check_file(str(tmp_path / "raw.csv"), expected)
    assert info.value.code == 3


# the script's own run --------------------------------------------------------------------------------------------


SCRIPT = """
    from nbtrack import export_runtime as nbx

    params = nbx.parameters({"lr": 0.1, "steps": 2}, description=__doc__)
    nbx.check_file("data.csv", HASH, source_run="01source")
    nbx.begin_other_run()
    import nbtrack
    nbtrack.log_metric("elsewhere", 1)  # an earlier run's cell: goes nowhere
    nbx.end_other_run()
    nbx.start_run(globals(), source_run="01source", name="fit", experiment="exp", params=params, tags={"k": "v"})
    import nbtrack
    for step in range(params["steps"]):
        nbtrack.log_metric("loss", params["lr"] / (step + 1), step=step)
    acc = 0.75
    print("the code's own output")
    nbx.finish_run(globals(), metrics=["acc"])
"""


def test_a_script_records_its_run_and_prints_the_metrics_last(tmp_path):
    (tmp_path / "data.csv").write_text("x\n1\n")
    code = SCRIPT.replace("HASH", repr(fingerprint(tmp_path / "data.csv").hash))
    proc = run_python(code, tmp_path, tmp_path / "store", "--lr", "1", "--metrics-file", "out/metrics.json")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "the code's own output"
    assert json.loads(lines[-1]) == {"acc": 0.75, "loss": 0.5}
    assert json.loads((tmp_path / "out" / "metrics.json").read_text()) == {"acc": 0.75, "loss": 0.5}
    frame = nbtrack.runs(store=tmp_path / "store")
    assert frame["name"].tolist() == ["fit"]
    got = nbtrack.get_run(frame["run_id"][0], store=tmp_path / "store")
    assert got.status == "finished" and got.experiment == "exp" and got.params == {"lr": 1.0, "steps": 2}
    assert got.tags == {"k": "v", "exported_from": "01source"} and "data.csv" in got.data
    assert "elsewhere" not in got.metrics


def test_a_script_whose_data_changed_exits_3_and_records_no_run(tmp_path):
    (tmp_path / "data.csv").write_text("x\n1\n")
    code = SCRIPT.replace("HASH", repr("0" * 32))
    proc = run_python(code, tmp_path, tmp_path / "store")
    assert proc.returncode == 3 and "data check failed: data.csv changed" in proc.stderr, proc.stderr
    assert proc.stdout == ""
    allowed = run_python(code, tmp_path, tmp_path / "store", "--allow-data-change")
    assert allowed.returncode == 0 and "going on: --allow-data-change" in allowed.stderr
    assert json.loads(allowed.stdout.strip().splitlines()[-1])["acc"] == 0.75


def test_a_failing_script_records_a_failed_run(tmp_path):
    code = """
        from nbtrack import export_runtime as nbx
        nbx.start_run(globals(), source_run="01source", name="boom", params={})
        1 / 0
    """
    proc = run_python(code, tmp_path, tmp_path / "store")
    assert proc.returncode == 1 and "ZeroDivisionError" in proc.stderr
    frame = nbtrack.runs(store=tmp_path / "store")
    assert frame["status"].tolist() == ["failed"]


def test_finish_run_without_start_run_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"finish_run\(\) without start_run\(\)"):
        runtime.finish_run({})
