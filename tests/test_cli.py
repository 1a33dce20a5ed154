import json
import subprocess
import sys

import pytest

import nbtrack
from nbtrack.cli import main
from nbtrack.errors import StoreCorruptionWarning


@pytest.fixture
def two_runs(store_dir):
    with nbtrack.track(name="a", experiment="x", params={"lr": 0.1}) as a:
        nbtrack.log_metric("acc", 0.9)
    with pytest.raises(RuntimeError), nbtrack.track(name="b", experiment="y"):
        raise RuntimeError("nope")
    return store_dir, a.id


def nb(store, *args):
    return ["--store", str(store), *args]


def test_runs_table_csv_json(two_runs, capsys):
    store, run_id = two_runs
    assert main(nb(store, "runs")) == 0
    out = capsys.readouterr().out
    assert run_id in out and "failed" in out and "params.lr" in out
    assert main(nb(store, "runs", "--format", "json", "--experiment", "x")) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in rows] == [run_id] and rows[0]["metrics.acc"] == 0.9
    assert main(nb(store, "runs", "--format", "csv", "--status", "failed")) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("run_id,") and len(lines) == 2


def test_show_and_prefix(two_runs, capsys):
    store, run_id = two_runs
    assert main(nb(store, "show", run_id[:14])) == 0
    out = capsys.readouterr().out
    assert run_id in out and "lr = 0.1" in out and "acc = 0.9" in out


def test_rm(two_runs, capsys):
    store, run_id = two_runs
    assert main(nb(store, "rm", run_id)) == 0
    assert run_id not in [r for r in nbtrack.runs().run_id]


def test_errors_are_one_line_with_exit_codes(two_runs, capsys):
    store, _ = two_runs
    assert main(nb(store, "show", "zzzzzz")) == 1
    err = capsys.readouterr().err
    assert err.startswith("nbtrack: error: no run") and err.count("\n") == 1 and "Traceback" not in err
    assert main(nb(store, "runs", "--where", "params.nope > 1")) == 1
    assert "unknown column" in capsys.readouterr().err
    assert main(nb(store, "rm", "zzzz", "../../etc")) == 1
    with pytest.raises(SystemExit) as exc:
        main(["runs", "--format", "xml"])
    assert exc.value.code == 2


def test_console_script_entry_point(two_runs):
    store, run_id = two_runs
    out = subprocess.run(
        [sys.executable, "-m", "nbtrack.cli", "--store", str(store), "runs", "-f", "csv"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert run_id in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "nbtrack.cli", "--store", str(store), "show", "0000"], capture_output=True, text=True
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


def test_doctor_repairs_damaged_lines(two_runs, capsys):
    store, _ = two_runs
    path = store / "runs.jsonl"
    path.write_bytes(path.read_bytes() + b"deadbeef {not json}\n")
    with pytest.warns(StoreCorruptionWarning, match="damaged line"):
        assert main(nb(store, "doctor")) == 1
    assert "line" in capsys.readouterr().out
    assert main(nb(store, "doctor", "--repair")) == 0
    out = capsys.readouterr().out
    assert "set 1 damaged line(s) aside" in out
    assert main(nb(store, "doctor")) == 0
    assert list(store.glob("runs.jsonl.damaged-*"))


def test_import_is_cheap():
    code = (
        "import sys, nbtrack; heavy = [m for m in ('pandas', 'matplotlib', 'ipywidgets', 'IPython') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_show_lists_params_by_source_models_artifacts_outputs_and_links(store_dir, capsys):
    from nbtrack.store.local import get_store
    from tests.contents_helpers import record_run

    store = get_store()
    first = record_run(store, name="prepare")
    second = record_run(store, name="train", c=1.0, keep_output=False, upstream={"results/preds.csv": first.id})
    assert main(nb(store_dir, "show", first.id)) == 0
    out = capsys.readouterr().out
    assert "params (1 explicit, 2 inline, 1 framework):\n  explicit:\n    lr = 0.1\n  inline:\n    C = 0.5\n" in out
    model = first.models["clf"]
    assert (
        f"  clf: sklearn.linear_model._logistic.LogisticRegression, pickle, {nbtrack.format.size(model['size'])}, "
        f"hash {model['hash'][:12]} (sklearn {model['framework_version']}, pickle, auto)" in out
    )
    assert "  huge: big.Model, not kept: over the 500 MB limit (600.0 MB)" in out
    assert "artifacts:\n  figure-1.png: figure, image/png, " in out and "  notes.txt: file, text/plain, 16 B" in out
    assert "outputs:\n  results/preds.csv: 12 B, kept, hash " in out
    assert f"downstream (runs that read its outputs):\n  results/preds.csv -> {second.id}" in out
    assert "upstream" not in out
    assert main(nb(store_dir, "show", second.id)) == 0
    out = capsys.readouterr().out
    assert "results/preds.csv: 12 B, hashed only" in out
    assert f"upstream (inputs an earlier run wrote):\n  results/preds.csv <- {first.id}" in out
    assert "downstream" not in out
    assert main(nb(store_dir, "show", second.id, "--format", "json")) == 0
    assert json.loads(capsys.readouterr().out)["upstream"] == {"results/preds.csv": first.id}


def test_show_and_diff_read_a_store_of_release_0_1_0(tmp_path, capsys):
    import shutil
    from pathlib import Path

    from nbtrack.store.local import get_store

    shutil.copytree(Path(__file__).parent / "fixtures" / "store-0.1.0" / "store", tmp_path / "store")
    store = get_store(tmp_path / "store")
    run_ids = sorted(store.run_docs())
    for run_id in run_ids:
        assert main(nb(tmp_path / "store", "show", run_id)) == 0
        out = capsys.readouterr().out
        assert "params:" in out and "models:" not in out and "outputs:" not in out and "upstream" not in out
    d = nbtrack.diff(run_ids[0], run_ids[-1], store=store)
    assert d.models == [] and d.outputs == [] and all("source" not in r for r in d.params)
    frame = nbtrack.runs(store=store)
    assert not [c for c in frame.columns if c.startswith(("models.", "outputs."))]
