"""nbtrack.capture.notebook: the kernel's notebook path and experiment name, its snapshot, and the history."""

from __future__ import annotations

import json
import os
import sys
import time

import nbformat
import pytest

from nbtrack.capture import notebook
from nbtrack.capture.notebook import (
    default_experiment,
    experiment_name,
    load_history,
    notebook_experiment,
    notebook_path,
    snapshot,
    store_history,
)
from nbtrack.store.local import Store


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "store")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("NBTRACK_EXPERIMENT", raising=False)
    monkeypatch.delenv("NBTRACK_SNAPSHOT", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(notebook, "_snapshot_cache", {})


def write_notebook(path, *sources, output="secret token 123"):
    nb = nbformat.v4.new_notebook()
    for source in sources:
        cell = nbformat.v4.new_code_cell(source)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output)]
        cell.execution_count = 1
        nb.cells.append(cell)
    nbformat.write(nb, str(path))
    return path


def test_history_round_trip_shares_one_blob_per_cell(store):
    sources = ["import pandas as pd", "lr = 0.1\nfit(lr)", "import pandas as pd", "s = '\udcff surrogate'"]
    digest = store_history(store, sources)
    assert load_history(store, digest) == sources
    cells = store.get_json(digest)
    assert len(cells) == 4 and cells[0] == cells[2]  # the same source, the same blob
    longer = store_history(store, [*sources, "print(lr)"])
    assert store.get_json(longer)[:4] == cells  # a later run's history reuses the earlier cells' blobs
    assert store_history(store, sources) == digest


def test_a_cell_blob_removed_from_the_store_is_written_again(tmp_path):
    first = Store(tmp_path / "a")
    store_history(first, ["x = 1"])
    other = Store(tmp_path / "b")  # a new store: this process has the source's hash, the store lacks it
    assert load_history(other, store_history(other, ["x = 1"])) == ["x = 1"]


def test_notebook_path_from_vs_code_then_jupyter_server(tmp_path, clean_env, monkeypatch):
    vsc = write_notebook(tmp_path / "vsc.ipynb", "a = 1")
    (tmp_path / "nbs").mkdir()
    lab = write_notebook(tmp_path / "nbs" / "lab.ipynb", "b = 2")
    assert notebook_path(None) == (None, None) and notebook_path({}) == (None, None)
    assert notebook_path({"__vsc_ipynb_file__": str(vsc)}) == (vsc, "__vsc_ipynb_file__")
    monkeypatch.setenv("JPY_SESSION_NAME", "nbs/lab.ipynb")  # relative to the server root (the cwd here)
    assert notebook_path({"__vsc_ipynb_file__": str(vsc)})[1] == "__vsc_ipynb_file__"  # VS Code's is first
    assert notebook_path({"__vsc_ipynb_file__": str(tmp_path / "gone.ipynb")}) == (lab, "JPY_SESSION_NAME")
    assert notebook_path({}) == (lab, "JPY_SESSION_NAME")
    monkeypatch.chdir(tmp_path / "nbs")  # the kernel runs next to the notebook: found by its name
    assert notebook_path({}) == (lab, "JPY_SESSION_NAME")
    monkeypatch.setenv("JPY_SESSION_NAME", "0f1e2d3c-uuid")  # JupyterLab's placeholder before the name is known
    assert notebook_path({}) == (None, None)
    monkeypatch.setenv("JPY_SESSION_NAME", "renamed.ipynb")  # not on disk
    assert notebook_path({}) == (None, None)


def test_experiment_name_is_the_notebooks_stem(clean_env, monkeypatch):
    assert experiment_name(None) is None and experiment_name({"__vsc_ipynb_file__": 3}) is None
    assert experiment_name({"__vsc_ipynb_file__": "/x/churn model.ipynb"}) == "churn model"  # no file needed
    monkeypatch.setenv("JPY_SESSION_NAME", "work/sweep.ipynb")
    assert experiment_name({}) == "sweep"
    assert experiment_name({"__vsc_ipynb_file__": "/x/vsc.ipynb"}) == "vsc"
    monkeypatch.setenv("JPY_SESSION_NAME", "console-1")
    assert experiment_name({}) is None


def test_the_default_experiment(clean_env, monkeypatch):
    assert notebook_experiment() is None and default_experiment() == "default"  # no shell, no session
    monkeypatch.setenv("JPY_SESSION_NAME", "sweep.ipynb")
    assert default_experiment() == "sweep"
    monkeypatch.setenv("NBTRACK_EXPERIMENT", "chosen")
    assert notebook_experiment() == "chosen" and default_experiment() == "chosen"


def test_snapshot_of_a_saved_notebook(tmp_path, store, clean_env):
    path = write_notebook(tmp_path / "exp.ipynb", "import nbtrack", "%%track\nlr = 0.1")
    ran_before_save = os.stat(path).st_mtime - 10
    info = snapshot(store, path, "JPY_SESSION_NAME", ran_before_save, "%%track\nlr = 0.1\n")
    assert store.get_blob(info["blob"]) == path.read_bytes()
    assert info["path"] == str(path) and info["source"] == "JPY_SESSION_NAME" and info["size"] == path.stat().st_size
    assert info["stale"] is False and info["stale_reason"] is None and info["redacted"] is False
    assert snapshot(store, path, "JPY_SESSION_NAME", None, "import nbtrack")["blob"] == info["blob"]


def test_a_snapshot_older_than_the_cell_is_stale(tmp_path, store, clean_env):
    path = write_notebook(tmp_path / "exp.ipynb", "lr = 0.1")
    info = snapshot(store, path, "JPY_SESSION_NAME", time.time() + 60, "lr = 0.2")
    assert info["stale"] is True
    assert info["stale_reason"] == "saved before the last executed cell; does not contain the tracked cell as it ran"


def test_redact_mode_stores_the_notebook_without_outputs(tmp_path, store, clean_env, monkeypatch):
    path = write_notebook(tmp_path / "exp.ipynb", "print(token)")
    monkeypatch.setenv("NBTRACK_SNAPSHOT", "redact")
    info = snapshot(store, path, "__vsc_ipynb_file__", None, "print(token)")
    stored = store.get_blob(info["blob"])
    assert info["redacted"] is True and b"secret token" not in stored and b"secret token" in path.read_bytes()
    nb = nbformat.reads(stored.decode(), as_version=4)
    assert nb.cells[0].source == "print(token)" and nb.cells[0].outputs == [] and nb.cells[0].execution_count is None
    assert not info["stale"]


def test_snapshot_mode_reads_the_environment(monkeypatch):
    for value, mode in [(None, "on"), ("OFF", "off"), (" redact ", "redact"), ("bogus", "on")]:
        if value is None:
            monkeypatch.delenv("NBTRACK_SNAPSHOT", raising=False)
        else:
            monkeypatch.setenv("NBTRACK_SNAPSHOT", value)
        assert notebook.snapshot_mode() == mode


def test_a_file_that_is_not_a_notebook_is_stored_and_marked_stale(tmp_path, store, clean_env):
    path = tmp_path / "broken.ipynb"
    path.write_text("{ not json")
    info = snapshot(store, path, "JPY_SESSION_NAME", None, "x = 1")
    assert store.get_blob(info["blob"]) == b"{ not json" and info["stale"] is True
    json.dumps(info)


# the status of each history cell (recorded by the magic's post_run_cell) -----------------------------------


def _cell(ip, source):
    return ip.run_cell(source, store_history=True)


def _last_run():
    import nbtrack

    return nbtrack.get_run(nbtrack.runs().run_id.iloc[0])


def test_cells_that_raised_are_recorded_with_the_run_with_the_line_that_raised(ip):
    _cell(ip, "a = 1")
    _cell(ip, "b = 2\nc = 1 / 0\nd = 3")
    _cell(ip, "e = (")  # a SyntaxError: nothing of it ran
    _cell(ip, "%%time\nf = 1\nint('x')")  # a cell magic: its line is not the cell's
    _cell(ip, "for i in range(3):\n    if i == 1:\n        raise KeyError(i)")
    _cell(ip, "%%track -n status -q\nr = a")
    run = _last_run()
    assert run.history[1].startswith("b = 2")
    assert run.history_failed == [
        {"index": 1, "error": "ZeroDivisionError", "line": 2},
        {"index": 2, "error": "SyntaxError", "line": 0},
        {"index": 3, "error": "ValueError"},
        {"index": 4, "error": "KeyError", "line": 3},  # inside the loop: the statement of lines 1-3 raised
    ]
    assert run.doc["history_failed"] == run.history_failed


def test_an_earlier_tracked_cell_that_raised_is_a_failed_history_entry(ip):
    _cell(ip, "a = 1")
    _cell(ip, "%%track -n boom -q\nx = 1 / 0")
    _cell(ip, "%%track -n ok -q\nr = a")
    ok = _last_run()
    assert ok.history_failed == [{"index": 1, "error": "ZeroDivisionError"}]  # the earlier %%track cell raised
    _cell(ip, "b = 2")
    _cell(ip, "%%track -n first -q\nr = b")
    assert _last_run().history_failed == [{"index": 1, "error": "ZeroDivisionError"}]


def test_old_records_without_statuses_read_as_none(tmp_path):
    from nbtrack.run import Run

    record = Run(id="01hxyz", history_len=3)
    assert record.history_failed == [] and "history_failed" not in record.to_doc()


def test_cells_that_raised_before_nbtrack_was_loaded_are_known_from_ipythons_own_record(ip):
    ip.run_line_magic("unload_ext", "nbtrack")
    _cell(ip, "a = 1")
    _cell(ip, "b = 1 / 0")
    ip.run_line_magic("load_ext", "nbtrack")
    _cell(ip, "c = [][1]")
    _cell(ip, "%%track -n late -q\nr = a")
    failed = _last_run().history_failed
    if not hasattr(ip.history_manager, "exceptions"):  # IPython 8 keeps no such record
        assert failed == [{"index": 2, "error": "IndexError", "line": 1}]
        return
    assert failed == [{"index": 1, "error": "ZeroDivisionError"}, {"index": 2, "error": "IndexError", "line": 1}]


# the notebook outside JupyterLab: papermill's output, the working directory ----------------------------------


def test_the_working_directory_notebook_that_holds_the_running_cell(tmp_path, clean_env, monkeypatch):
    monkeypatch.setattr(notebook, "_facts_cache", {})
    write_notebook(tmp_path / "churn.ipynb", "import nbtrack", "%%track\nlr = 0.1")
    write_notebook(tmp_path / "other.ipynb", "x = 1")
    found = notebook.in_working_directory("%%track\nlr = 0.1\n")  # as the kernel has it, whitespace aside
    assert found == notebook.NotebookOrigin("churn", tmp_path / "churn.ipynb", "cwd")
    assert notebook.in_working_directory("y = 2") is None and notebook.in_working_directory(None) is None
    assert notebook.locate({}, "%%track\nlr = 0.1") == found and notebook.locate({}) is None  # no cell: no match
    assert experiment_name({}, "%%track\nlr = 0.1") == "churn" and notebook_path({}, "import nbtrack") == (
        tmp_path / "churn.ipynb",
        "cwd",
    )
    write_notebook(tmp_path / "churn.nbconvert.ipynb", "import nbtrack", "%%track\nlr = 0.1")  # nbconvert's copy
    assert notebook.in_working_directory("import nbtrack") == found
    write_notebook(tmp_path / "copy.ipynb", "import nbtrack")  # two unrelated notebooks hold it: unknown
    assert notebook.in_working_directory("import nbtrack") is None
    monkeypatch.setenv("JPY_SESSION_NAME", "elsewhere/lab.ipynb")  # a name from the server comes first
    assert notebook.locate({}, "%%track\nlr = 0.1") == notebook.NotebookOrigin("lab", None, "JPY_SESSION_NAME")


def test_a_papermill_output_names_its_input(tmp_path, clean_env, monkeypatch):
    monkeypatch.setattr(notebook, "_facts_cache", {})
    path = write_notebook(tmp_path / "out-3.ipynb", "lr = 0.2", "fit(lr)")
    nb = nbformat.read(path, as_version=4)
    nb.metadata["papermill"] = {"input_path": "s3://bucket/nbs/train.ipynb", "output_path": str(path)}
    nbformat.write(nb, path)
    write_notebook(tmp_path / "train.ipynb", "fit(lr)")  # the input beside it holds the cell too
    assert notebook.in_working_directory("fit(lr)") == notebook.NotebookOrigin("train", path, "papermill")


def test_the_origin_reports_how_it_was_found(clean_env, monkeypatch):
    assert notebook.notebook_origin() is None
    monkeypatch.setenv("JPY_SESSION_NAME", "sweep.ipynb")
    assert notebook.notebook_origin() == notebook.NotebookOrigin("sweep", None, "JPY_SESSION_NAME")
    monkeypatch.setenv("NBTRACK_EXPERIMENT", "chosen")
    assert notebook.notebook_origin() == notebook.NotebookOrigin("chosen", None, "NBTRACK_EXPERIMENT")


# the same, in real kernels started by nbclient, nbconvert and papermill -----------------------------------------

NAMING_CELLS = [
    "import nbtrack\n%load_ext nbtrack",
    "%%track --name magic -q\nlr = 0.1",
    "with nbtrack.track(name='api', environment=False):\n    pass",
]


def kernel_env(store_dir):
    env = {**os.environ, "NBTRACK_DIR": str(store_dir)}
    for var in ("JPY_SESSION_NAME", "NBTRACK_EXPERIMENT", "NBTRACK_TRACKING_URI"):
        env.pop(var, None)
    return env


def experiments_of(store_dir):
    from nbtrack.store import local as store_mod

    store_mod._stores.pop(store_dir.absolute(), None)
    docs = Store(store_dir).run_docs().values()
    return sorted((d["name"], d["experiment"], d.get("notebook_source")) for d in docs)


@pytest.mark.kernel
def test_nbclient_with_the_notebooks_folder_names_the_experiment(tmp_path):
    from nbclient import NotebookClient

    folder = tmp_path / "work"
    folder.mkdir()
    path = write_notebook(folder / "churn model.ipynb", *NAMING_CELLS)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    client.execute(env=kernel_env(tmp_path / "store"))
    assert experiments_of(tmp_path / "store") == [("api", "churn model", "cwd"), ("magic", "churn model", "cwd")]


@pytest.mark.kernel
def test_jupyter_nbconvert_execute_names_the_experiment(tmp_path):
    import subprocess

    folder = tmp_path / "nbs"
    folder.mkdir()
    write_notebook(folder / "churn.ipynb", *NAMING_CELLS)
    for _ in range(2):  # the second time, churn.nbconvert.ipynb (the first run's output) sits beside it
        subprocess.run(
            [sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", "notebook", "nbs/churn.ipynb"],
            cwd=tmp_path,  # nbconvert starts the kernel in the notebook's folder, whatever its own cwd
            env=kernel_env(tmp_path / "store"),
            check=True,
            capture_output=True,
            timeout=300,
        )
    assert (folder / "churn.nbconvert.ipynb").is_file()
    assert experiments_of(tmp_path / "store") == [("api", "churn", "cwd")] * 2 + [("magic", "churn", "cwd")] * 2


@pytest.mark.kernel
def test_papermill_names_the_experiment_after_its_input(tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    (tmp_path / "nbs").mkdir()
    (tmp_path / "runs").mkdir()
    path = write_notebook(tmp_path / "nbs" / "train.ipynb", "lr = 0.1", *NAMING_CELLS)
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    for var, value in kernel_env(tmp_path / "store").items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    papermill.execute_notebook(
        str(tmp_path / "nbs" / "train.ipynb"),
        str(tmp_path / "runs" / "train-lr0.2.ipynb"),
        parameters={"lr": 0.2},
        cwd=str(tmp_path / "runs"),  # the kernel runs beside the output notebook papermill keeps writing
        progress_bar=False,
        kernel_name="python3",
    )
    assert experiments_of(tmp_path / "store") == [("api", "train", "papermill"), ("magic", "train", "papermill")]


@pytest.mark.kernel
def test_vs_codes_variable_names_the_experiment(tmp_path):
    from nbclient import NotebookClient

    folder = tmp_path / "work"
    folder.mkdir()
    vsc = folder / "in vscode.ipynb"
    cells = [f"__vsc_ipynb_file__ = {str(vsc)!r}  # what VS Code sets", *NAMING_CELLS]
    nb = nbformat.read(write_notebook(vsc, *cells), as_version=4)
    other = tmp_path / "elsewhere"  # the kernel's cwd has no notebook
    other.mkdir()
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(other)}}).execute(
        env=kernel_env(tmp_path / "store")
    )
    expected = [("api", "in vscode", "__vsc_ipynb_file__"), ("magic", "in vscode", "__vsc_ipynb_file__")]
    assert experiments_of(tmp_path / "store") == expected


def test_a_tracked_block_in_a_cell_knows_the_history_cells_that_raised(ip):
    _cell(ip, "a = 1")
    _cell(ip, "b = 1 / 0")
    _cell(ip, "import nbtrack\nwith nbtrack.track(name='block'):\n    r = a")
    assert _last_run().history_failed[0]["index"] == 1
    assert _last_run().history_failed[0]["error"] == "ZeroDivisionError"
