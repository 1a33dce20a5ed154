"""exporting/verify.py: every export is executed and its metrics compared with the run's, on real kernels.

One notebook runs in a real kernel with several tracked cells, each a case: a deterministic run, an unseeded
draw, a mutation through a loop variable the slicer misses, an input file deleted after the run, a slow
cell, an input computed from the environment, a data path computed inside a helper. Each run is exported
with verification (the script runs in a fresh interpreter) and the outcome checked in the result, the
header, the views' dict and the user's store (which must get no runs from the verification).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kernel_helpers import code, new_session

import nbtrack
from nbtrack.data.fingerprint import fingerprint
from nbtrack.exporting import verify
from nbtrack.exporting.exporter import export_action
from nbtrack.exporting.plan import plan_export
from nbtrack.store import local as store_mod

CELLS = {
    "imports": "%load_ext nbtrack\nimport os\nimport numpy as np\nimport pandas as pd\nimport nbtrack",
    "write": (
        "pd.DataFrame({'x': np.arange(20.0), 'junk': np.arange(20.0) * 100, 'y': np.arange(20.0) * 2})"
        ".to_csv('d.csv', index=False)"
    ),
    "load": "df = pd.read_csv('d.csv')\ntrain, test = df.iloc[:15].copy(), df.iloc[15:].copy()",
    "simple": "%%track -n simple -m total\ntotal = float(df['x'].sum())",
    "peek": "df.describe()",
    # a mutation inside a lambda the slicer cannot follow (a plain loop over (train, test) it now sees: issue 13)
    "drop": "list(map(lambda s: s.drop('junk', axis=1, inplace=True), (train, test)))",
    "mutated": "%%track -n mutated -m score\nscore = float(train.to_numpy().sum() + 10 * test.to_numpy().sum())",
    "noisy": "%%track -n noisy -m draw\ndraw = float(np.random.rand())",
    "side": "pd.DataFrame({'a': [1, 2]}).to_csv('side.csv', index=False)",
    "uses_side": "%%track -n side -d side.csv -m n\nn = float(len(pd.read_csv('side.csv')))",
    "slow": "%%track -n slow -m t\nimport time\ntime.sleep(2.5)\nt = 1.0",
    "scale": "scale = float(os.environ.get('SCALE', '1'))\narr = np.arange(5.0) * scale",
    "scaled": "%%track -n scaled -m s\ns = float(arr.sum())",
    "helper": "def path_of(name):\n    return os.path.join('data', name + '.csv')",
    "make": "os.makedirs('data', exist_ok=True)\npd.DataFrame({'v': [1, 2, 3]}).to_csv(path_of('inp'), index=False)",
    "log": "LOG = open('log.txt', 'w')",
    "computed": "%%track -n computed -m v\nv = float(pd.read_csv(path_of('inp'))['v'].sum())\nLOG.write(str(v))",
    "nometric": "%%track -n nometric\nrows = len(df)",
}


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    folder = tmp_path_factory.mktemp("verify")
    session = new_session(folder, [code(source) for source in CELLS.values()], name="verify.ipynb")
    session.execute_all()
    (folder / "side.csv").unlink()  # the input of run `side` is gone by export time
    runs = {run.name: run for run in session.all_runs()}
    assert set(runs) == {"simple", "mutated", "noisy", "side", "slow", "scaled", "computed", "nometric"}
    yield folder, session.store_dir, runs
    session.close()


def store_size(store: Path) -> int:
    store_mod._stores.pop(store.absolute(), None)
    return len(nbtrack.runs(store=store))


def run_script(script: Path, cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "NBTRACK_DIR": str(cwd / "script-store"), **(env or {})}
    full_env.pop("JPY_SESSION_NAME", None)
    return subprocess.run(
        [sys.executable, str(script), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.kernel
def test_a_deterministic_run_is_verified_in_one_execution_without_touching_the_users_store(book, tmp_path, capsys):
    _folder, store, runs = book
    before = store_size(store)
    result = nbtrack.export(runs["simple"], path=tmp_path / "simple.py", store=store)
    assert isinstance(result, Path) and result == tmp_path / "simple.py"  # still a path, as before
    assert result.verified is True and result.differences == {} and result.cause is None and result.added == []
    assert result.verification is not None and result.verification.executions == 1
    text = result.read_text()
    assert text.startswith("#!/usr/bin/env python3\n# ====") and "# VERIFIED by nbtrack" in text
    assert "verified: the 1 metric the run recorded reproduced exactly" in capsys.readouterr().out
    assert store_size(store) == before  # the verification's own run went to a temporary store


@pytest.mark.kernel
def test_a_mutation_through_a_loop_variable_is_found_by_widening(book, tmp_path):
    folder, store, runs = book
    run = runs["mutated"]
    drop = next(c.label for c in plan_export(run, slice=False).cells if c.code.startswith("list(map("))
    sliced = plan_export(run)
    assert drop in {label for label, _first, _reason in sliced.omitted}  # the slicer misses it
    result = nbtrack.export(run, path=tmp_path / "mutated.py", store=store, quiet=True)
    assert result.verified is True, result.summary()
    assert [label for label, _why in result.added] == [drop]
    assert "side effects on test, train" in result.added[0][1]
    assert result.verification.executions <= verify.MAX_EXECUTIONS
    text = result.read_text()
    assert f"#   {drop}: calls code with possible side effects on test, train" in text
    assert "s.drop('junk', axis=1, inplace=True)" in text
    proc = run_script(result, folder)
    assert proc.returncode == 0 and proc.stdout.strip().splitlines()[-1] == f'{{"score": {run.metrics["score"]}}}'


@pytest.mark.kernel
def test_unseeded_randomness_is_marked_unverified_with_the_metric_and_cause(book, tmp_path):
    _folder, store, runs = book
    run = runs["noisy"]
    result = nbtrack.export(run, path=tmp_path / "noisy.py", store=store, quiet=True)
    assert result.exists() and result.verified is False
    (recorded, reproduced) = result.differences["draw"]
    assert recorded == run.metrics["draw"] and reproduced is not None and reproduced != recorded
    assert result.cause is not None and result.cause.startswith("unseeded randomness (np.random.rand() in In[")
    header = result.read_text().split("from nbtrack import", 1)[0]
    assert "# UNVERIFIED: executed by nbtrack" in header and f"#   draw: recorded {recorded!r}" in header
    assert "# Likely cause: unseeded randomness" in header and "VERIFIED by" not in header
    assert "UNVERIFIED" in result.summary() and "draw: recorded" in result.summary()
    view = export_action(run.id, path=tmp_path / "v" / "noisy.py", store=store)
    assert view["ok"] is True and view["verified"] is False and "draw" in view["differences"]
    assert view["cause"].startswith("unseeded randomness") and "UNVERIFIED" in view["message"]


@pytest.mark.kernel
def test_a_run_without_metrics_is_never_called_verified(book, tmp_path):
    _folder, store, runs = book
    result = nbtrack.export(runs["nometric"], path=tmp_path / "nometric.py", store=store, quiet=True)
    assert result.exists() and result.verified is False and result.differences == {}
    assert result.cause.startswith("nothing to compare: the run recorded no metrics")
    header = result.read_text().split("from nbtrack import", 1)[0]
    assert "# UNVERIFIED" in header and "VERIFIED by" not in header and "nothing to compare" in header


@pytest.mark.kernel
def test_a_missing_input_file_and_a_timeout_are_the_causes(book, tmp_path):
    _folder, store, runs = book
    missing = nbtrack.export(runs["side"], path=tmp_path / "side.py", store=store, quiet=True)
    assert missing.verified is False and missing.cause.startswith("missing input file: side.csv not found")
    assert missing.differences == {"n": (2.0, None)}
    slow = nbtrack.export(runs["slow"], path=tmp_path / "slow.py", store=store, quiet=True, verify_timeout=1)
    assert slow.verified is False and slow.cause.startswith("timed out after 1 s")
    assert slow.verification.executions == 1  # a timeout is not widened: more code cannot make it faster
    assert "# Likely cause: timed out" in slow.read_text()


@pytest.mark.kernel
def test_a_changed_in_memory_input_stops_the_script_unless_allowed(book, tmp_path):
    folder, store, runs = book
    result = nbtrack.export(runs["scaled"], path=tmp_path / "scaled.py", store=store, quiet=True)
    assert result.verified is True
    proc = run_script(result, folder, env={"SCALE": "2"})
    assert proc.returncode == 3, proc.stderr
    assert "arr (computed by the cells before the tracked one) differs from the input used" in proc.stderr
    allowed = run_script(result, folder, "--allow-data-change", env={"SCALE": "2"})
    assert allowed.returncode == 0 and "going on: --allow-data-change" in allowed.stderr
    assert allowed.stdout.strip().splitlines()[-1] == '{"s": 20.0}'


@pytest.mark.kernel
def test_a_path_computed_in_a_helper_is_checked_before_any_user_code(book, tmp_path):
    folder, store, runs = book
    run = runs["computed"]
    assert run.files_read == {"data/inp.csv": fingerprint(folder / "data/inp.csv").hash}
    result = nbtrack.export(run, path=tmp_path / "computed.py", store=store, quiet=True)
    assert result.verified is True
    lines = result.read_text().splitlines()
    guard = next(i for i, line in enumerate(lines) if line.startswith("nbtrack_export.check_file('data/inp.csv'"))
    first_user_line = next(i for i, line in enumerate(lines) if line == "import os")
    assert guard < first_user_line
    (folder / "log.txt").unlink()
    (folder / "data" / "inp.csv").write_text("v\n1\n2\n4\n")
    try:
        proc = run_script(result, folder)
        assert proc.returncode == 3 and "data/inp.csv changed since it was used" in proc.stderr
        assert not (folder / "log.txt").exists()  # stopped before the first user cell's side effect
    finally:
        (folder / "data" / "inp.csv").write_text("v\n1\n2\n3\n")


@pytest.mark.kernel
def test_cli_verifies_by_default_and_no_verify_skips_it(book, tmp_path, capsys):
    from nbtrack.cli import main

    _folder, store, runs = book
    run_id = runs["simple"].id
    assert main(["--store", str(store), "export", run_id, "-o", str(tmp_path / "a.py")]) == 0
    assert "verified: the 1 metric the run recorded reproduced exactly" in capsys.readouterr().out
    assert main(["--store", str(store), "export", run_id, "-o", str(tmp_path / "b.py"), "--no-verify"]) == 0
    assert "not verified (--no-verify)" in capsys.readouterr().out
    assert "VERIFIED" not in (tmp_path / "b.py").read_text()


def test_metric_comparison_is_exact_with_nan_equal_unless_a_tolerance_is_given():
    nan = float("nan")
    assert verify.compare_metrics({"a": 1.0, "b": nan}, {"a": 1.0, "b": nan}) == {}
    assert verify.compare_metrics({"a": 1.0}, {"a": 1.0 + 1e-12}) == {"a": (1.0, 1.0 + 1e-12)}
    assert verify.compare_metrics({"a": 1.0}, {"a": 1.0 + 1e-12}, tolerance=1e-9) == {}
    assert verify.compare_metrics({"a": 100.0}, {"a": 101.0}, tolerance={"rel": 0.02}) == {}
    assert verify.compare_metrics({"a": 1.0, "b": 2.0}, {"a": 1.0}) == {"b": (2.0, None)}
    assert verify.compare_metrics({"a": 1.0}, None) == {"a": (1.0, None)}


def test_suspicion_ranks_mutations_through_aliases_first():
    used = {"train", "test", "model"}
    assert verify.suspicion("for s in (train, test):\n    s.drop('x', axis=1, inplace=True)", used)[0] == 3
    assert verify.suspicion("x = train\nx['c'] = 1", used) == (
        3,
        "mutates train through a loop variable or alias, which the run uses",
    )
    assert verify.suspicion("setattr(model, 'k', 3)", used)[0] == 3
    assert verify.suspicion("print(train.shape)", used)[0] == 2
    assert verify.suspicion("n = len(train)", used)[0] == 1
    assert verify.suspicion("other = 3", used)[0] == 0


def test_pandas_methods_that_return_a_copy_mutate_only_with_inplace():
    used = {"train", "test", "items"}
    assert verify.suspicion("loss = score(test.drop(columns='label'))", used)[0] < 3
    assert verify.suspicion("clean = train.dropna().sort_values('a')", used)[0] < 3
    assert verify.suspicion("train.dropna(inplace=True)", used)[0] == 3
    assert verify.suspicion("items.sort()", used)[0] == 3
    assert verify.suspicion("model = make().fit(train)", used)[0] < 3  # the chain's root is a call, not train
