"""``nbtrack.export`` (exporting/exporter.py): round trips from real kernels to exported scripts and DVC stages.

The heart is the round trip: notebooks (the examples, and test notebooks built to be hard: cells run out
of order, a cell rerun with changed values, a cell deleted after running, magics, a helper redefined, data
read from a file in an earlier cell) are driven in a real kernel as a frontend drives it; each tracked run
is exported; the script runs in a fresh interpreter; its metrics must equal the recorded ones, its data
guards must pass, and a one-byte change of the data file must stop it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from kernel_helpers import KERNEL_TIMEOUT, KernelSession, code, new_session

import nbtrack
from nbtrack.capture.lifecycle import ActiveRun
from nbtrack.errors import ExportError
from nbtrack.exporting.exporter import export_action
from nbtrack.exporting.plan import plan_export
from nbtrack.exporting.render import render_params_yaml
from nbtrack.exporting.runtime import read_params_yaml
from nbtrack.store import local as store_mod
from nbtrack.store.local import RunNotFoundError, get_store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_notebooks"


# helpers ----------------------------------------------------------------------------------------------------


def run_script(script: Path, cwd: Path, store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The exported script in a fresh interpreter of this venv, with NBTRACK_DIR set."""
    env = {**os.environ, "NBTRACK_DIR": str(store)}
    for var in ("NBTRACK_EXPERIMENT", "JPY_SESSION_NAME", "NBTRACK_TRACKING_URI"):
        env.pop(var, None)
    return subprocess.run(
        [sys.executable, str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=KERNEL_TIMEOUT
    )


def final_metrics(proc: subprocess.CompletedProcess[str]) -> dict[str, float]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def exported_runs(store: Path, source: str) -> list[nbtrack.Run]:
    store_mod._stores.pop(store.absolute(), None)
    frame = nbtrack.runs(store=store)
    if "tags.exported_from" not in frame:
        return []
    ids = frame[frame["tags.exported_from"] == source]["run_id"]
    return [nbtrack.get_run(i, store=store) for i in ids]


def assert_round_trip(run: nbtrack.Run, cwd: Path, store: Path, out: Path) -> Path:
    """Export, run in a fresh interpreter, compare metrics; the new run sits in the store beside the old one."""
    script = nbtrack.export(run, path=out / f"{run.name}-{run.id[-6:]}.py")
    before = len(exported_runs(store, run.id))
    proc = run_script(script, cwd, store)
    assert final_metrics(proc) == run.metrics, script.read_text()
    assert "data check failed" not in proc.stderr and "differs from the input" not in proc.stderr
    new = exported_runs(store, run.id)
    assert len(new) == before + 1
    latest = max(new, key=lambda r: r.id)
    assert latest.status == "finished" and latest.metrics == run.metrics
    assert latest.experiment == run.experiment and latest.name == run.name
    assert {k: v for k, v in latest.params.items()} == run.params
    # every input the script had is the run's, byte for byte (the magic can also record a name the cell
    # binds before reading, like a loop variable left over from an earlier run: the script has no such leftover)
    assert set(latest.data) <= set(run.data)
    assert {k for k, r in run.data.items() if r.get("kind") == "file"} <= set(latest.data)
    assert all(latest.data[k]["hash"] == run.data[k]["hash"] for k in latest.data)
    return script


def replay(session: KernelSession, sources: list[str]) -> None:
    """Send cells to the running kernel one by one with jupyter_client, as a frontend does."""
    kc = session.blocking_client()
    try:
        for source in sources:
            outputs: list[dict] = []
            reply = kc.execute_interactive(source, timeout=KERNEL_TIMEOUT, output_hook=outputs.append)
            errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
            assert reply["content"]["status"] == "ok", f"{source!r} failed: {errors}"
    finally:
        kc.stop_channels()


def flip_a_digit(path: Path) -> None:
    """Change one byte of a CSV: the last digit of the file becomes another digit."""
    data = bytearray(path.read_bytes())
    i = max(j for j, b in enumerate(data) if chr(b).isdigit())
    data[i] = ord("1") if data[i] != ord("1") else ord("2")
    path.write_bytes(bytes(data))


# the messy notebook: out of order, rerun with changed values, a deleted cell, a redefinition, a data file ------

MESSY = {
    "imports": "%load_ext nbtrack\nimport numpy as np\nimport pandas as pd\nimport nbtrack",
    "write": (
        "rng = np.random.default_rng(11)\nn = 240\n"
        "frame = pd.DataFrame({'a': rng.normal(size=n).round(3), 'b': rng.normal(size=n).round(3)})\n"
        "frame['label'] = (frame.a + 0.5 * frame.b + rng.normal(0, 0.5, n) > 0).astype(int)\n"
        "frame.to_csv('points.csv', index=False)"
    ),
    "load": "data = pd.read_csv('points.csv')\ndata.head()",
    "scale1": "SCALE = 1.0",
    "feat1": "def featurize(d):\n    return d[['a', 'b']].to_numpy() / SCALE",
    "clip": "data['a'] = data['a'].clip(-1.5, 1.5)",
    "feat2": "def featurize(d):\n    return np.c_[d[['a', 'b']].to_numpy() / SCALE, np.ones(len(d))]",
    "scale2": "SCALE = 4.0",
    "peek": "%time peek = featurize(data)[:3]\n!echo looking",
    "track": (
        "%%track -n messy -d points.csv -m accuracy\n"
        "lr = 0.5\nsteps = 200\nseed = 3\n"
        "X, y = featurize(data), data['label'].to_numpy()\n"
        "w = np.random.default_rng(seed).normal(0, 0.01, X.shape[1])\n"
        "for _ in range(steps):\n"
        "    p = 1 / (1 + np.exp(-X @ w))\n"
        "    w -= lr * X.T @ (p - y) / len(y)\n"
        "accuracy = float(np.mean((p > 0.5) == y))\n"
        "nbtrack.log_metric('loss', float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))))"
    ),
}


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """Two runs of the `messy` cell, the second after an edit, a deleted mutation cell and a redefinition."""
    folder = tmp_path_factory.mktemp("messy")
    order = ["imports", "write", "load", "feat1", "scale1", "track", "clip", "feat2", "scale2", "peek"]
    session = new_session(folder, [code(MESSY[k]) for k in MESSY], name="messy.ipynb")
    with session.kernel():
        replay(session, [MESSY[k] for k in order] + [MESSY["track"].replace("lr = 0.5", "lr = 0.25")])
    # the user deletes the clip cell and saves: the file no longer shows it, the history still does
    session.save_notebook([code(MESSY[k]) for k in MESSY if k != "clip"])
    runs = session.run_named("messy")
    assert [r.params["lr"] for r in runs] == [0.5, 0.25]
    yield folder, session.store_dir, runs
    session.close()


@pytest.mark.kernel
def test_messy_runs_round_trip(messy, tmp_path):
    folder, store, (first, second) = messy
    assert_round_trip(first, folder, store, tmp_path)
    script = assert_round_trip(second, folder, store, tmp_path)
    header, text = script.read_text().split("from nbtrack import", 1)
    text, omitted = text.split("# Omitted cells of the execution history", 1)  # listed once, at the end
    assert "get_ipython" not in text
    # the deleted mutation cell is kept, the earlier definitions it replaced are not
    assert "data['a'] = data['a'].clip(-1.5, 1.5)" in text
    assert "return np.c_[d[['a', 'b']].to_numpy() / SCALE, np.ones(len(d))]" in text
    assert "return d[['a', 'b']].to_numpy() / SCALE\n" not in text
    assert "SCALE = 4.0" in text and "SCALE = 1.0" not in text
    assert "lr = PARAMS['lr']" in text and "lr = 0.25" not in text and "lr = 0.5" not in text
    assert "In[2]  rng = np.random.default_rng(11)  -> writes points.csv, an input of this export: " in omitted
    assert "featurize redefined by In[8] before the run uses it" in omitted
    assert "SCALE redefined by In[9]" in omitted
    assert "In[10]  %time peek = featurize(data)[:3]" in omitted
    assert "In[6]  %%track -n messy -d points.csv -m accuracy  -> the run does not use what it" in omitted
    assert "Kept 6 of 11 executed cells: In[1], In[3], In[7]-In[9], In[11]" in header
    assert "Omitted 5, each with the reason, listed at the end of this file." in header


@pytest.mark.kernel
def test_data_guard_stops_on_a_one_byte_change(messy, tmp_path):
    folder, store, (_, run) = messy
    script = nbtrack.export(run, path=tmp_path / "messy.py")
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(folder / "points.csv", work / "points.csv")
    assert final_metrics(run_script(script, work, store)) == run.metrics  # a copy of the same bytes passes
    flip_a_digit(work / "points.csv")
    proc = run_script(script, work, store)
    assert proc.returncode == 3
    expected = run.data["points.csv"]["hash"]
    found = nbtrack.fingerprint(work / "points.csv").hash
    message = f"points.csv changed since it was used by run {run.id}: expected hash {expected}, found {found}"
    assert message in proc.stderr
    assert "--allow-data-change" in proc.stderr
    assert proc.stdout.strip() == ""  # stopped before any of the run's code
    proc = run_script(script, work, store, "--allow-data-change")
    assert proc.returncode == 0, proc.stderr
    assert "data check failed" not in proc.stderr and "points.csv changed" in proc.stderr
    (work / "points.csv").unlink()
    proc = run_script(script, work, store)
    assert proc.returncode == 3 and "points.csv not found" in proc.stderr


@pytest.mark.kernel
def test_in_memory_input_read_from_a_file_is_guarded(messy, tmp_path):
    """`data` was read from points.csv in a kept cell: its fingerprint is checked before the tracked cell."""
    folder, store, (_, run) = messy
    plan = plan_export(run)
    assert plan.inputs["data"]["origin"] == "points.csv" and plan.inputs["data"]["strict"] is True
    work = tmp_path / "w"
    work.mkdir()
    shutil.copy(folder / "points.csv", work / "points.csv")
    script = nbtrack.export(run, path=tmp_path / "m.py")
    text = script.read_text()
    # without the file check (as if points.csv were not declared with -d), the DataFrame check stops it
    no_file_check = script.with_name("nofile.py")
    no_file_check.write_text("\n".join(ln for ln in text.splitlines() if "check_file(" not in ln) + "\n")
    flip_a_digit(work / "points.csv")
    proc = run_script(no_file_check, work, store)
    assert proc.returncode == 3
    assert "data (read from points.csv) differs from the input used by run" in proc.stderr


@pytest.mark.kernel
def test_exported_notebook_runs_and_takes_papermill_parameters(messy, tmp_path):
    folder, store, (_, run) = messy
    path = nbtrack.export(run, to="notebook", path=tmp_path / "nb" / "messy.ipynb")
    assert path.suffix == ".ipynb" and (path.parent / "params.yaml").exists()
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "lr = 0.25" in tagged[0].source and "steps = 200" in tagged[0].source
    assert "get_ipython" not in json.dumps(nb)

    def execute(notebook: nbformat.NotebookNode) -> dict[str, float]:
        env = {**os.environ, "NBTRACK_DIR": str(store)}
        env.pop("JPY_SESSION_NAME", None)
        from nbclient import NotebookClient

        client = NotebookClient(
            notebook, timeout=KERNEL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
        )
        client.execute(env=env)
        text = "".join(o.get("text", "") for o in notebook.cells[-1].outputs if o.output_type == "stream")
        return json.loads(text.strip().splitlines()[-1])

    assert execute(nbformat.read(path, as_version=4)) == run.metrics
    # papermill injects a cell after the one tagged `parameters`
    injected = nbformat.read(path, as_version=4)
    position = next(i for i, c in enumerate(injected.cells) if "parameters" in c.metadata.get("tags", []))
    injected.cells.insert(position + 1, nbformat.v4.new_code_cell("lr = 0.05\nsteps = 20"))
    metrics = execute(injected)
    assert metrics != run.metrics
    latest = max(exported_runs(store, run.id), key=lambda r: r.id)
    assert latest.params["lr"] == 0.05 and latest.params["steps"] == 20 and latest.metrics == metrics


@pytest.mark.kernel
def test_command_line_params_and_params_yaml(messy, tmp_path):
    folder, store, (_, run) = messy
    script = nbtrack.export(run, path=tmp_path / "s.py")
    help_text = run_script(script, folder, store, "--help")
    assert help_text.returncode == 0
    for option in (
        "--lr FLOAT",
        "(default: 0.25)",
        "--steps INT",
        "(default: 200)",
        "--seed INT",
        "--allow-data-change",
        "--params FILE",
    ):
        assert option in help_text.stdout
    assert read_params_yaml(str(tmp_path / "params.yaml")) == {"lr": 0.25, "steps": 200, "seed": 3}
    changed = final_metrics(run_script(script, folder, store, "--lr", "0.05", "--steps", "20"))
    assert changed != run.metrics
    (tmp_path / "other.yaml").write_text("lr: 5.0e-2\nsteps: 20\n")
    assert final_metrics(run_script(script, folder, store, "--params", str(tmp_path / "other.yaml"))) == changed
    # the command line wins over the file
    assert (
        final_metrics(
            run_script(
                script, folder, store, "--params", str(tmp_path / "other.yaml"), "--lr", "0.25", "--steps", "200"
            )
        )
        == run.metrics
    )
    bad = run_script(script, folder, store, "--steps", "many")
    assert bad.returncode == 2 and "invalid int value" in bad.stderr


@pytest.mark.kernel
def test_script_runs_when_the_store_is_not_writable(messy, tmp_path):
    folder, _, (_, run) = messy
    script = nbtrack.export(run, path=tmp_path / "s.py")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    proc = run_script(script, folder, blocker / "store")
    assert final_metrics(proc) == run.metrics
    assert "could not be saved" in proc.stderr


@pytest.mark.kernel
def test_cli_export(messy, tmp_path):
    _, store, (_, run) = messy
    from nbtrack.cli import main

    out = tmp_path / "cli" / "deep" / "x.py"
    assert main(["--store", str(store), "export", run.id[:12], "-o", str(out)]) == 0
    assert out.exists() and (out.parent / "requirements.txt").exists()
    assert main(["--store", str(store), "export", "../../etc/passwd"]) == 1
    assert main(["--store", str(store), "export", run.id, "--to", "notebook", "-o", str(tmp_path / "n.ipynb")]) == 0
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["--store", str(store), "export", run.id, "--no-slice"]) == 0
    finally:
        os.chdir(cwd)
    default = tmp_path / f"messy-{run.id}.py"
    assert default.exists()
    assert "Kept 11 of 11 executed cells (no slicing)" in default.read_text()


@pytest.mark.kernel
def test_dvc_stage_reproduces_the_run(messy, tmp_path):
    pytest.importorskip("dvc", reason="the DVC round trip needs dvc: pip install 'dvc>=3'")
    folder, store, (_, run) = messy
    repo = folder  # the notebook's folder (where points.csv is) becomes the repository
    env = {
        **os.environ,
        "NBTRACK_DIR": str(store),
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    }
    env.pop("JPY_SESSION_NAME", None)

    def sh(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, timeout=KERNEL_TIMEOUT)
        assert proc.returncode == 0, f"{args}: {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
        return proc

    if not (repo / ".git").exists():
        sh("git", "init", "-q")
    if not (repo / ".dvc").exists():
        sh(sys.executable, "-m", "dvc", "init", "-q")
    stage = nbtrack.export(run, to="dvc", path=repo / "pipeline")
    assert stage == repo / "pipeline"
    assert {p.name for p in stage.iterdir()} >= {"dvc.yaml", "messy.py", "params.yaml", "requirements.txt"}
    dvc_yaml = (stage / "dvc.yaml").read_text()
    assert "wdir: .." in dvc_yaml and "- points.csv" in dvc_yaml and "- pipeline/messy.py" in dvc_yaml
    sh(sys.executable, "-m", "dvc", "repro", "pipeline/dvc.yaml")
    assert json.loads((stage / "metrics.json").read_text()) == run.metrics
    assert any(r.metrics == run.metrics for r in exported_runs(store, run.id))
    again = sh(sys.executable, "-m", "dvc", "repro", "pipeline/dvc.yaml")
    assert "didn't change" in again.stdout or "up to date" in again.stdout
    shown = sh(sys.executable, "-m", "dvc", "metrics", "show", "--json")
    assert "accuracy" in shown.stdout
    params = (stage / "params.yaml").read_text().replace("steps: 200", "steps: 20")
    (stage / "params.yaml").write_text(params)
    sh(sys.executable, "-m", "dvc", "repro", "pipeline/dvc.yaml")
    assert json.loads((stage / "metrics.json").read_text()) != run.metrics


# magics, shell escapes, seeds --------------------------------------------------------------------------------

MAGICS = [
    "%load_ext nbtrack\n%matplotlib inline\nimport json\nimport os\nimport random\nimport nbtrack",
    "%pip install -q --no-index --no-deps numpy",
    "random.seed(5)\n%who",
    "warmup = [random.random() for _ in range(3)]",
    "!mkdir -p work && echo 7 > work/seed.txt",
    "%%bash\nmkdir -p out\nprintf '3\\n4\\n5\\n' > out/values.txt",
    "seed_text = !cat work/seed.txt\nvalues = [int(v) for v in open('out/values.txt').read().split()]\njson.dumps?",
    "%env LABEL=demo",
    "%%time\nlabel = os.environ['LABEL']",
    "%cd out",
    "%%capture\nprint('noise')\nunused = 1",
    (
        "%%track -n magics -m total\nfactor = 2\n"
        "total = float(sum(values) * factor + int(seed_text[0]) + random.random())\n"
        "nbtrack.log_metric('label_len', len(label))\n"
        "json.dump({'total': total}, open('result.json', 'w'))"
    ),
]


@pytest.mark.kernel
def test_magics_and_shell_escapes_round_trip_in_an_empty_folder(tmp_path):
    folder = tmp_path / "nb"
    folder.mkdir()
    session = new_session(folder, [code(c) for c in MAGICS], name="magics.ipynb")
    try:
        session.execute_all()  # document order is the order they ran
        (run,) = session.run_named("magics")
        fresh = tmp_path / "fresh"  # nothing the notebook made is there: the script must make it all
        fresh.mkdir()
        script = assert_round_trip(run, fresh, session.store_dir, tmp_path / "out")
        text = script.read_text()
        assert "get_ipython" not in text
        assert "subprocess.run('mkdir -p work && echo 7 > work/seed.txt', shell=True, check=True)" in text
        assert 'subprocess.run(["bash", "-c", ' in text
        assert "os.environ['LABEL'] = 'demo'" in text and "os.chdir(os.path.expanduser('out'))" in text
        assert "warmup = [random.random() for _ in range(3)]" in text  # draws after the seed are kept
        code_part, omitted = text.split("# Omitted cells of the execution history")
        assert "unused = 1" not in code_part and "%pip" in omitted
        assert (fresh / "out" / "result.json").exists()
        requirements = (script.parent / "requirements.txt").read_text()
        assert f"numpy=={run.env['packages']['numpy']}" in requirements
        assert f"nbtrack=={run.env['packages']['nbtrack']}" in requirements
    finally:
        session.close()


# the example notebooks ----------------------------------------------------------------------------------------


def _tracked_examples() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*.ipynb") if "%%track" in p.read_text(encoding="utf-8"))


@pytest.mark.kernel
@pytest.mark.parametrize("notebook", _tracked_examples(), ids=lambda p: p.stem)
def test_example_notebook_runs_round_trip(notebook, tmp_path):
    """Every finished %%track run of every example notebook reproduces its metrics from the exported script.

    A notebook whose cells all carry execution counts is replayed in that order (the order its author ran
    them) through jupyter_client; the others run top to bottom with nbclient.
    """
    folder = tmp_path / "nb"
    folder.mkdir()
    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    path = folder / notebook.name
    nbformat.write(nb, path)
    session = KernelSession(folder, nb, path)
    try:
        if all(c.get("execution_count") for c in cells):
            with session.kernel():
                replay(session, [c.source for c in sorted(cells, key=lambda c: c.execution_count)])
        else:
            session.execute_all()
        tracked = [r for r in session.all_runs() if r.doc.get("source") == "magic" and r.status == "finished"]
        assert tracked
        for run in tracked:
            assert_round_trip(run, folder, session.store_dir, tmp_path / "out")
    finally:
        session.close()


@pytest.mark.kernel
def test_export_example_is_messy_and_its_script_is_right(tmp_path):
    """example_notebooks/export.ipynb: replayed in its execution order, its own export cell writes the script."""
    folder = tmp_path / "nb"
    folder.mkdir()
    nb = nbformat.read(EXAMPLES / "export.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    order = [c.execution_count for c in cells]
    assert order != sorted(order), "the example must be out of order"
    path = folder / "export.ipynb"
    nbformat.write(nb, path)
    session = KernelSession(folder, nb, path)
    try:
        with session.kernel():
            replay(session, [c.source for c in sorted(cells, key=lambda c: c.execution_count)])
        (run,) = session.run_named("ridge")
        script = folder / "exported" / "ridge.py"
        text = script.read_text()
        assert "raw x (the first version" not in text and "standardized x" in text
        assert "In[4]  def features(frame, degree):" in text
        assert "features redefined by In[6] before the run uses it" in text
        assert "In[5]  ax = train.plot.scatter" in text
        assert "writes measurements.csv, an input of this export" in text
        assert "check_file('measurements.csv'" in text
        assert "alpha = PARAMS['alpha']" in text and "degree = PARAMS['degree']" in text
        assert "/tmp/" not in text and str(ROOT) not in text
        assert final_metrics(run_script(script, folder, session.store_dir)) == run.metrics
        assert set(run.metrics) == {"rmse", "r2"}
        flip_a_digit(folder / "measurements.csv")
        assert run_script(script, folder, session.store_dir).returncode == 3
    finally:
        session.close()


# without a kernel: runs made through the API with a recorded history -------------------------------------------


def fake_run(
    store_dir: Path,
    history: list[str],
    params: dict,
    *,
    name: str = "syn",
    data: dict | None = None,
    packages: dict | None = None,
) -> nbtrack.Run:
    """A finished run as %%track records it (history, params), written straight to a store."""
    store = get_store(store_dir)
    run = ActiveRun(store, name=name, experiment="unit", source="magic", params=params)
    for key, record in (data or {}).items():
        run.data[key] = record
    if packages is not None:
        run.record.env_record = {"packages": store.put_json(packages), "python": "3"}
    run.attach_cell(history[-1].split("\n", 1)[1], history=history, execution_count=len(history))
    run.start()
    run.finish()
    return nbtrack.get_run(run.id, store=store)


TYPED = [
    "import math",
    "def f(x):\n    return math.sqrt(x) * K",
    "K = 3",
    (
        "%%track -n typed -m out\nlr = 0.5\nflag = True\nlayers = [4, 2]\nname = 'abc'\nnothing = None\n"
        "small = 1e-05\npair = (1, 2)\n"
        "out = f(16) * lr * (2 if flag else 1) + sum(layers) + len(name) + (nothing or 0) + small + sum(pair)"
    ),
]
TYPED_PARAMS = {
    "lr": 0.5,
    "flag": True,
    "layers": [4, 2],
    "name": "abc",
    "nothing": None,
    "small": 1e-05,
    "pair": (1, 2),
}


def typed_out(lr=0.5, flag=True, layers=(4, 2), name="abc", nothing=None, small=1e-05, pair=(1, 2)) -> float:
    return 4.0 * 3 * lr * (2 if flag else 1) + sum(layers) + len(name) + (nothing or 0) + small + sum(pair)


def test_params_of_every_literal_type_on_the_command_line_and_in_params_yaml(tmp_path):
    run = fake_run(tmp_path / "store", TYPED, TYPED_PARAMS)
    script = nbtrack.export(run, path=tmp_path / "out" / "typed.py")
    assert final_metrics(run_script(script, tmp_path, tmp_path / "store")) == {"out": typed_out()}
    args = [
        "--lr",
        "1",
        "--no-flag",
        "--layers",
        "[1, 1]",
        "--name",
        "xy",
        "--nothing",
        "7",
        "--small",
        "0",
        "--pair",
        "(5, 5)",
    ]
    got = final_metrics(run_script(script, tmp_path, tmp_path / "store", *args))
    assert got == {"out": typed_out(1.0, False, (1, 1), "xy", 7, 0.0, (5, 5))}
    assert read_params_yaml(str(tmp_path / "out" / "params.yaml")) == {**TYPED_PARAMS, "pair": [1, 2]}
    edited = (tmp_path / "out" / "params.yaml").read_text().replace("flag: true", "flag: false")
    (tmp_path / "edited.yaml").write_text(edited.replace('name: "abc"', "name: plain text"))
    got = final_metrics(run_script(script, tmp_path, tmp_path / "store", "--params", str(tmp_path / "edited.yaml")))
    assert got == {"out": typed_out(flag=False, name="plain text")}
    bad = run_script(script, tmp_path, tmp_path / "store", "--layers", "3")
    assert bad.returncode == 2 and "expected a Python literal" in bad.stderr


def test_params_yaml_round_trips_through_yaml_parsers(tmp_path):
    yaml = pytest.importorskip("yaml")
    run = fake_run(tmp_path / "store", TYPED, TYPED_PARAMS)
    text = render_params_yaml(plan_export(run))
    assert yaml.safe_load(text) == {**TYPED_PARAMS, "pair": [1, 2]}
    (tmp_path / "p.yaml").write_text(text)
    assert read_params_yaml(str(tmp_path / "p.yaml")) == {**TYPED_PARAMS, "pair": [1, 2]}


def test_untranslatable_magic_in_a_needed_cell_fails_naming_cell_and_line(tmp_path):
    history = ["x = 1", "%store -r x\ny = x + 1", "%%sql\nselect 1", "%%track -n t\nz = y * 2"]
    run = fake_run(tmp_path / "store", history, {})
    with pytest.raises(ExportError) as info:
        nbtrack.export(run, path=tmp_path / "s.py")
    message = str(info.value)
    assert "In[2] line 1: `%store -r x`: %store has no plain-Python equivalent" in message
    assert "In[3] line 1: `%%sql`" in message  # unsure: it may define y
    assert not (tmp_path / "s.py").exists()
    # the same magics in cells the run does not need are no obstacle
    ok = fake_run(tmp_path / "store", ["%store -r x", "y = 2", "%%track -n t\nz = y * 2"], {})
    proc = run_script(nbtrack.export(ok, path=tmp_path / "ok.py"), tmp_path, tmp_path / "store")
    assert final_metrics(proc) == {}


def test_ipython_history_variables_and_top_level_await_fail_the_export(tmp_path):
    run = fake_run(tmp_path / "store", ["a = 1", "b = Out[1]", "%%track -n t\nc = b"], {})
    with pytest.raises(ExportError, match=r"In\[2\] line 1: `Out` is IPython's input/output history"):
        plan_export(run)
    run = fake_run(tmp_path / "store", ["import asyncio", "v = await asyncio.sleep(0, 5)", "%%track -n t\nc = v"], {})
    with pytest.raises(ExportError, match=r"In\[2\]: top-level `await`"):
        plan_export(run)


def test_runs_without_a_history_and_bad_ids_are_refused(tmp_path):
    store = get_store(tmp_path / "store")
    with nbtrack.track(name="api", store=store) as active:
        active.log_metric("m", 1)
    with pytest.raises(ExportError, match="no recorded execution history"):
        nbtrack.export(active.id, store=store)
    with pytest.raises(RunNotFoundError):
        nbtrack.export("../../../etc/passwd", store=store)
    with pytest.raises(ValueError, match="to must be one of"):
        nbtrack.export(active.id, to="pdf", store=store)
    result = export_action("zzzz", store=store)
    assert result["ok"] is False and "no run" in result["message"]


def test_export_action_for_the_views(tmp_path):
    run = fake_run(tmp_path / "store", TYPED, TYPED_PARAMS)
    result = export_action(run.id, path=tmp_path / "v" / "s.py", store=tmp_path / "store")
    assert result["ok"] is True and Path(result["path"]).exists()
    assert result["kept"] == ["In[1]", "In[2]", "In[3]", "In[4]"] and result["omitted"] == []
    assert "kept 4 of 4 cells" in result["message"]


def test_requirements_are_pinned_to_the_recorded_versions(tmp_path):
    history = [
        "import numpy as np\nfrom sklearn import linear_model\nimport yaml, json\nimport my_local_thing",
        "import pandas",
        "%pip install rich==13.0 tqdm",
        "%%track -n r\nv = (np, linear_model, yaml, json, my_local_thing)",
    ]
    packages = {
        "numpy": "1.2.3",
        "scikit-learn": "9.9",
        "PyYAML": "6.1",
        "pandas": "0.1",
        "tqdm": "4.0",
        "nbtrack": "0.1.0",
    }
    run = fake_run(tmp_path / "store", history, {}, packages=packages)
    plan = plan_export(run)
    assert plan.requirements == [
        "nbtrack==0.1.0",
        "numpy==1.2.3",
        "PyYAML==6.1",
        "rich==13.0",
        "scikit-learn==9.9",
        "tqdm==4.0",
        "# my_local_thing: imported, but no installed distribution provides it (a local module?)",
    ]
    assert "pandas" not in "\n".join(plan.requirements)  # imported in a cell the run does not need


def test_the_public_function_is_lazy_and_callable(tmp_path):
    import importlib

    import nbtrack as package

    assert callable(package.export)
    importlib.import_module("nbtrack.exporting.exporter")  # importing the submodule must not shadow the function
    run = fake_run(tmp_path / "store", TYPED, TYPED_PARAMS)
    assert package.export(run, path=tmp_path / "a.py") == tmp_path / "a.py"
    assert "export" in package.__all__


def test_a_kept_earlier_tracked_cell_logs_nowhere_and_a_failing_run_is_recorded_as_failed(tmp_path):
    store = tmp_path / "store"
    history = ["import nbtrack", "%%track -n a\nx = 2\nnbtrack.log_metric('m', x)", "%%track -n b -m y\ny = x * 3"]
    run = fake_run(store, history, {}, name="b")
    script = nbtrack.export(run, path=tmp_path / "b.py")
    assert "nbtrack_export.begin_other_run()" in script.read_text()
    assert final_metrics(run_script(script, tmp_path, store)) == {"y": 6.0}
    assert [r.name for r in exported_runs(store, run.id)] == ["b"]
    assert len(nbtrack.runs(store=store)) == 2  # the fake source run and the script's: nothing for cell `a`
    failing = fake_run(
        store, ["def f(v):\n    raise ValueError(f'bad {v}')", "%%track -n c\nlr = -1\nf(lr)"], {"lr": -1}
    )
    proc = run_script(nbtrack.export(failing, path=tmp_path / "c.py"), tmp_path, store)
    assert proc.returncode == 1 and "ValueError: bad -1" in proc.stderr
    (recorded,) = exported_runs(store, failing.id)
    assert recorded.status == "failed" and recorded.error["type"] == "ValueError"


def test_odd_run_names_and_values_cannot_break_the_script(tmp_path):
    store = tmp_path / "store"
    name = 'tricky """ name\nwith \\ a newline'
    history = ["%%track -p lr\nlr = 0.5\nmsg = 'a \"quoted\" \\\\ value'\nout = lr * 2"]
    run = fake_run(store, history, {"lr": 0.5, "msg": 'a "quoted" \\ value'}, name=name)
    script = nbtrack.export(run, path=tmp_path / "odd.py")
    assert script.name == "odd.py"
    default = nbtrack.export(run, path=f"{tmp_path / 'dir'}/")  # a trailing slash: a folder, made if missing
    assert default.parent == tmp_path / "dir" and default.name == f"tricky_name_with_a_newline-{run.id}.py"
    assert "param_names" not in script.read_text()  # -p lr names a CLI param: the command line's value wins
    assert final_metrics(run_script(script, tmp_path, store, "--msg", "x")) == {}
    latest = max(exported_runs(store, run.id), key=lambda r: r.id)
    assert latest.name == name and latest.params == {"lr": 0.5, "msg": "x"}
    assert read_params_yaml(str(tmp_path / "params.yaml"))["msg"] == 'a "quoted" \\ value'
