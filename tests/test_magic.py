"""Fast in-process tests of %%track with IPython's test shell (real-kernel tests: test_kernel.py)."""

import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack import NbtrackWarning


def cell(ip, source):
    """Execute like a notebook cell: stored in history, with an execution count."""
    return ip.run_cell(source, store_history=True)


def last_run():
    frame = nbtrack.runs()
    return nbtrack.get_run(frame.run_id.iloc[0])


def test_literal_params_metrics_and_namespace(ip, capsys):
    result = cell(
        ip,
        "%%track --name baseline -t stage=dev -m acc\nlr = 0.01; epochs = 20; seed = 0\n"
        "acc = 0.5 + lr\nnbtrack_loaded = True\n",
    )
    assert result.success
    assert ip.user_ns["acc"] == 0.51 and ip.user_ns["nbtrack_loaded"] is True
    run = last_run()
    assert run.name == "baseline" and run.status == "finished" and run.experiment == "default"
    assert run.params == {"lr": 0.01, "epochs": 20, "seed": 0, "nbtrack_loaded": True}
    assert run.metrics == {"acc": 0.51} and run.tags == {"stage": "dev"}
    assert run.code.startswith("lr = 0.01") and run.execution_count == result.execution_count
    out = capsys.readouterr().out
    assert "finished baseline" in out and run.id in out and "1 metric (acc=0.51)" in out


def test_quoted_names_and_explicit_params(ip):
    ip.user_ns["batch"] = 128
    cell(ip, "%%track --name \"lr sweep 1\" -p batch -p opt='adam' -p depth=3 -p later --quiet\nlater = [1, 2]\n")
    run = last_run()
    assert run.name == "lr sweep 1"
    assert run.params["batch"] == 128 and run.params["opt"] == "adam" and run.params["depth"] == 3
    assert run.params["later"] == [1, 2]


def test_the_option_line_expands_variables_as_every_magic_does(ip):
    ip.user_ns["lr"] = 0.3
    cell(ip, "%%track -q --name 'lr={lr} $$5 {{x}}'\ny = 1\n")
    assert last_run().name == "lr=0.3 $5 {x}"  # IPython's expansion and its escapes (docs/usage.md)


def test_a_name_of_two_dashes_is_kept(ip):
    cell(ip, "%%track -q --name=--\ny = 1\n")  # the fuzz found argparse turning it into []
    assert last_run().name == "--"


def test_log_calls_inside_the_cell_and_series(ip):
    cell(
        ip, "%%track -q\nimport nbtrack\nfor step in range(5):\n    nbtrack.log_metric('loss', 1/(step+1), step=step)\n"
    )
    run = last_run()
    assert run.series.step.tolist() == [0, 1, 2, 3, 4] and run.metrics["loss"] == pytest.approx(0.2)


def test_failure_is_recorded_once_and_cell_fails(ip, capsys):
    result = cell(ip, "%%track --name boom\nx = 1\n1/0\n")
    assert not result.success
    assert isinstance(result.error_in_exec, Exception) and type(result.error_in_exec).__name__ == "ZeroDivisionError"
    run = last_run()
    assert run.status == "failed" and run.error["type"] == "ZeroDivisionError"
    assert ip.user_ns["x"] == 1
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert text.count("Traceback (most recent call last)") == 1  # printed once
    assert "TrackedCellError" not in text and "run_cell_magic" not in text
    assert "line 3" in text  # line numbers are those of the visible cell (line 1 is %%track)


def test_keyboard_interrupt_is_recorded_as_interrupted(ip):
    result = cell(ip, "%%track -q\nraise KeyboardInterrupt\n")
    assert not result.success
    assert last_run().status == "interrupted"


def test_syntax_error_recorded_as_failed(ip):
    result = cell(ip, "%%track -q\ndef (:\n")
    assert not result.success
    assert last_run().error["type"] == "SyntaxError"


def test_data_inputs_fingerprinted_and_change_reported(ip, capsys, tmp_path):
    ip.user_ns["df"] = pd.DataFrame({"a": [1.0, 2.0]})
    ip.user_ns["arr"] = np.arange(4)
    (tmp_path / "extra.csv").write_text("a,b\n1,2\n")
    cell(ip, "%%track -n fit -d extra.csv\ntotal = df.a.sum() + arr.sum()\n")
    first = last_run()
    assert set(first.data) == {"df", "arr", "extra.csv"}
    assert first.data["df"]["kind"] == "dataframe" and first.data["extra.csv"]["kind"] == "file"
    cell(ip, "%%track -n fit -d extra.csv\ntotal = df.a.sum() + arr.sum()\n")
    assert last_run().parent == first.id
    assert "data unchanged" in capsys.readouterr().out
    ip.user_ns["df"].loc[1, "a"] = 3.0
    cell(ip, "%%track -n fit -d extra.csv\ntotal = df.a.sum() + arr.sum()\n")
    third = last_run()
    assert third.data["df"]["hash"] != first.data["df"]["hash"]
    assert third.data["arr"]["hash"] == first.data["arr"]["hash"]
    assert "data changed df" in capsys.readouterr().out


def test_rerun_without_name_links_by_cell_shape(ip):
    cell(ip, "%%track -q\nlr = 0.1\ny = lr * 2\n")
    first = last_run()
    cell(ip, "%%track -q\nlr = 0.2\ny = lr * 2\n")
    second = last_run()
    assert second.parent == first.id and second.id != first.id
    assert nbtrack.get_run(first.id).params == {"lr": 0.1}  # never overwritten


def test_history_in_execution_order(ip):
    cell(ip, "a = 1")
    cell(ip, "b = a + 1")
    cell(ip, "%%track -q\nc = b + 1\n")
    history = last_run().history
    assert history[-3:] == ["a = 1", "b = a + 1", "%%track -q\nc = b + 1"]


def test_broken_store_never_changes_the_cell(ip, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    nbtrack.set_store(blocker / "store")
    with pytest.warns(NbtrackWarning):
        result = cell(ip, "%%track -q\nz = 41 + 1\n")
    assert result.success and ip.user_ns["z"] == 42


def test_usage_errors_are_clear(ip, capsys):
    cell(ip, '%%track --name "unclosed\nx = 1\n')
    captured = capsys.readouterr()
    assert "No closing quotation" in captured.out + captured.err
    result = cell(ip, "%%track -t novalue\nx = 1\n")
    assert not result.success


def test_reload_is_idempotent(ip):
    ip.run_line_magic("reload_ext", "nbtrack")
    ip.run_line_magic("load_ext", "nbtrack")
    before = len(nbtrack.runs())
    cell(ip, "%%track -q\nq = 1\n")
    assert len(nbtrack.runs()) == before + 1


def test_help_documents_options(ip):
    doc = ip.find_cell_magic("track").__doc__
    for option in ("--name", "--experiment", "--tag", "--param", "--metric", "--data", "--quiet"):
        assert option in doc


def test_html_summary_is_escaped(ip):
    from nbtrack.capture.summary import RunSummary

    cell(ip, "%%track -q -n '<img src=x onerror=alert(1)>'\nv = 1\n")
    run = last_run()
    html = RunSummary(run.doc, {"state": "none", "changed": [], "added": [], "removed": []})._repr_html_()
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def _notebook_with(tmp_path, source, secret):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.v4.new_output("stream", text=secret)]
    nb.cells = [cell]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("mode", ["on", "redact", "off"])
def test_snapshot_modes(ip, tmp_path, monkeypatch, mode):
    source = "%%track -q\nw = 1"
    secret = "token=abc123-printed-by-the-user"
    path = _notebook_with(tmp_path, source, secret)
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    monkeypatch.setenv("NBTRACK_SNAPSHOT", mode)
    cell(ip, source)
    run = last_run()
    if mode == "off":
        assert run.snapshot is None
        return
    assert run.snapshot.cells[0].source == source
    assert run.snapshot_info["source"] == "JPY_SESSION_NAME" and run.snapshot_info["stale"] is False
    stored = "".join(p.read_text("utf-8", "replace") for p in run.store.root.rglob("*") if p.is_file())  # blobs too
    # "on" keeps outputs, with secrets redacted (issue 18); "redact" drops outputs altogether
    assert secret not in stored and ("token=<redacted:" in stored) is (mode == "on")
