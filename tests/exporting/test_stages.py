"""nbtrack.exporting.stages: a run whose inputs earlier tracked runs wrote exports as a multi-stage dvc.yaml.

A real notebook (nbclient) runs three %%track cells, prepare -> train -> evaluate, linked by the files they
write and read; exporting the last one to DVC gives a verified script per run and one stage each, and
``dvc repro`` in a fresh repository (a copy of the notebook's folder) rebuilds the files and the metrics.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kernel_helpers import KERNEL_TIMEOUT, code, new_session

import nbtrack
from nbtrack.exporting.stages import chain_runs, plan_pipeline, render_pipeline
from nbtrack.exporting.verify import Verification

CELLS = [
    "%load_ext nbtrack\nimport pickle\nimport numpy as np\nimport pandas as pd\nimport nbtrack",
    "rng = np.random.default_rng(0)\nx = rng.normal(size=200)\n"
    "pd.DataFrame({'x': x, 'noise': rng.normal(size=200), 'y': (x + rng.normal(0, 0.5, 200) > 0).astype(int)})"
    ".to_csv('raw.csv', index=False)",
    "%%track -n prepare -d raw.csv -m rows\nraw = pd.read_csv('raw.csv')\n"
    "clean = raw[raw['noise'].abs() < 2].assign(x2=lambda d: d['x'] ** 2)\n"
    "clean.to_csv('clean.csv', index=False)\nrows = len(clean)",
    "%%track -n train -d clean.csv -m train_accuracy\nfrom sklearn.linear_model import LogisticRegression\n"
    "C = 0.5\ndata = pd.read_csv('clean.csv')\nmodel = LogisticRegression(C=C).fit(data[['x', 'x2']], data['y'])\n"
    "with open('model.pkl', 'wb') as f:\n    pickle.dump(model, f)\n"
    "data.assign(pred=model.predict(data[['x', 'x2']]))[['y', 'pred']].to_csv('preds.csv', index=False)\n"
    "train_accuracy = float(model.score(data[['x', 'x2']], data['y']))",
    "%%track -n evaluate -d preds.csv -m accuracy\npreds = pd.read_csv('preds.csv')\n"
    "accuracy = float((preds['y'] == preds['pred']).mean())",
]
PRODUCED = ("clean.csv", "model.pkl", "preds.csv")


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The notebook's folder, its store and the three runs (prepare, train, evaluate), after one execution."""
    folder = tmp_path_factory.mktemp("chain")
    session = new_session(folder, [code(c) for c in CELLS])
    session.execute_all()
    runs = {run.name: run for run in session.all_runs()}
    session.close()
    return folder, session.store_dir, runs


def stage_block(dvc_yaml: str, name: str) -> str:
    """The text of one stage of a dvc.yaml (from its key to the next stage's comment)."""
    start = dvc_yaml.index(f"\n  {name}:\n")
    end = dvc_yaml.find("\n  # ", start + 1)
    return dvc_yaml[start : end if end != -1 else None]


@pytest.mark.kernel
def test_the_runs_are_linked_by_the_files_they_wrote(chain):
    _, store, runs = chain
    assert set(runs) == {"prepare", "train", "evaluate"}
    assert runs["train"].upstream == {"clean.csv": runs["prepare"].id}
    assert runs["evaluate"].upstream == {"preds.csv": runs["train"].id}
    ordered, notes = chain_runs(runs["evaluate"], store)
    assert [r.name for r in ordered] == ["prepare", "train", "evaluate"] and notes == []
    assert [r.name for r in chain_runs(runs["prepare"], store)[0]] == ["prepare"]


@pytest.mark.kernel
def test_dvc_export_of_a_chained_run_writes_a_verified_stage_per_run(chain, capsys):
    folder, store, runs = chain
    result = nbtrack.export(runs["evaluate"], to="dvc", path=folder / "pipeline", store=store)
    assert result == folder / "pipeline" and result.verified is True and result.cause is None
    assert [s.name for s in result.stages] == ["prepare", "train", "evaluate"]
    assert all(s.verified for s in result.stages)
    assert "exported a pipeline of 3 stages" in capsys.readouterr().out
    names = {p.name for p in result.iterdir()}
    assert names >= {"dvc.yaml", "requirements.txt", "prepare.py", "train.py", "evaluate.py", "train.params.yaml"}
    for script in ("prepare.py", "train.py", "evaluate.py"):
        assert "VERIFIED by nbtrack" in (result / script).read_text()
    assert "scikit-learn==" in (result / "requirements.txt").read_text()

    dvc_yaml = (result / "dvc.yaml").read_text()
    assert dvc_yaml.index("\n  prepare:") < dvc_yaml.index("\n  train:") < dvc_yaml.index("\n  evaluate:")
    assert "UNVERIFIED" not in dvc_yaml
    prepare, train, evaluate = (stage_block(dvc_yaml, n) for n in ("prepare", "train", "evaluate"))
    assert "    deps:\n      - pipeline/prepare.py\n      - raw.csv\n    outs:\n      - clean.csv\n" in prepare
    assert "    deps:\n      - pipeline/train.py\n      - clean.csv\n" in train
    assert "    outs:\n      - model.pkl\n      - preds.csv\n" in train
    assert "      - pipeline/train.params.yaml:\n          - C\n" in train
    assert "    deps:\n      - pipeline/evaluate.py\n      - preds.csv\n" in evaluate and "outs:" not in evaluate
    assert "--metrics-file pipeline/train.metrics.json --upstream-output clean.csv\n" in train  # a new one is fine
    assert "--upstream-output" not in prepare
    for name, block in (("prepare", prepare), ("train", train), ("evaluate", evaluate)):
        assert f"--metrics-file pipeline/{name}.metrics.json" in block and "    wdir: ..\n" in block


@pytest.mark.kernel
def test_an_unverified_stage_says_so_in_the_dvc_yaml_and_the_result(chain, tmp_path):
    _, store, runs = chain
    pipeline = plan_pipeline(runs["evaluate"], tmp_path / "p", store=store, verify=False)
    assert [s.verified for s in pipeline.stages] == [None, None, None]
    pipeline.stages[0].verification = Verification(
        verified=False, differences={"rows": (190.0, 189.0)}, cause="unseeded randomness (In[3])", metrics=["rows"]
    )
    text = render_pipeline(pipeline)
    marked = text[text.index("# prepare: run") : text.index("\n  prepare:")]
    assert (
        "# UNVERIFIED: its script did not reproduce the run's metrics (rows: recorded 190.0, reproduced 189.0)"
        in marked
    )
    assert "# likely cause: unseeded randomness (In[3])" in marked
    assert "UNVERIFIED" not in text[text.index("\n  prepare:") :]

    from nbtrack.exporting.exporter import ExportResult

    result = ExportResult(tmp_path / "p")
    result.stages = tuple(pipeline.stages)
    assert result.verified is False and result.cause == "stage prepare: unseeded randomness (In[3])"
    assert "prepare (prepare.py): UNVERIFIED" in result.summary()


@pytest.mark.kernel
def test_a_deleted_upstream_run_leaves_its_file_a_plain_dep(chain, tmp_path):
    _, store, runs = chain
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    nbtrack.delete_run(runs["prepare"].id, store=copy)
    ordered, notes = chain_runs(runs["evaluate"], copy)
    assert [r.name for r in ordered] == ["train", "evaluate"]
    assert len(notes) == 1 and notes[0].startswith(f"clean.csv: written by run {runs['prepare'].id}")
    text = render_pipeline(plan_pipeline(runs["evaluate"], tmp_path / "p", store=copy, verify=False))
    assert "\n  prepare:" not in text and "# Note: clean.csv: written by run" in text
    train = stage_block(text, "train")
    assert "      - clean.csv\n" in train and "--upstream-output" not in train  # no stage writes it: guarded


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.kernel
def test_dvc_repro_reproduces_the_chain_in_a_fresh_repository(chain, tmp_path):
    pytest.importorskip("dvc", reason="the DVC round trip needs dvc: pip install 'dvc>=3'")
    folder, store, runs = chain
    nbtrack.export(runs["evaluate"], to="dvc", path=folder / "pipeline", store=store, quiet=True)
    repo = tmp_path / "repo"
    shutil.copytree(folder, repo, ignore=shutil.ignore_patterns(".nbtrack", "*.metrics.json"))
    recorded = {name: digest(folder / name) for name in ("clean.csv", "preds.csv")}
    for name in PRODUCED:
        (repo / name).unlink()  # the chain must make them again
    env = {
        **os.environ,
        "NBTRACK_DIR": str(repo / ".nbtrack"),
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
    }
    for var in ("JPY_SESSION_NAME", "NBTRACK_EXPERIMENT"):
        env.pop(var, None)

    def sh(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, timeout=KERNEL_TIMEOUT * 3)
        assert proc.returncode == 0, f"{args}: {proc.stdout[-3000:]} {proc.stderr[-3000:]}"
        return proc

    sh("git", "init", "-q")
    sh(sys.executable, "-m", "dvc", "init", "-q")
    done = sh(sys.executable, "-m", "dvc", "repro", "pipeline/dvc.yaml")
    ran = [line for line in done.stdout.splitlines() if line.startswith("Running stage")]
    assert [line.split("'")[1] for line in ran] == ["pipeline/dvc.yaml:prepare", "pipeline/dvc.yaml:train",
                                                    "pipeline/dvc.yaml:evaluate"]  # fmt: skip
    for name in ("prepare", "train", "evaluate"):
        assert json.loads((repo / "pipeline" / f"{name}.metrics.json").read_text()) == runs[name].metrics
    assert all((repo / name).is_file() for name in PRODUCED)
    assert {name: digest(repo / name) for name in recorded} == recorded
    again = sh(sys.executable, "-m", "dvc", "repro", "pipeline/dvc.yaml")
    assert "Running stage" not in again.stdout
    params = repo / "pipeline" / "train.params.yaml"
    params.write_text(params.read_text().replace("C: 0.5", "C: 0.001"))
    changed = sh(sys.executable, "-m", "dvc", "repro", "pipeline/dvc.yaml")
    assert "Stage 'pipeline/dvc.yaml:prepare' didn't change" in changed.stdout
    assert "Running stage 'pipeline/dvc.yaml:train'" in changed.stdout


@pytest.mark.kernel
def test_the_cli_exports_a_chained_run_as_the_pipeline(chain, capsys):
    from nbtrack.cli import main

    folder, store, runs = chain
    code = main(["--store", str(store), "export", runs["evaluate"].id, "--to", "dvc", "-o", str(folder / "cli-pipe")])
    assert code == 0
    dvc_yaml = (folder / "cli-pipe" / "dvc.yaml").read_text()
    assert all(f"\n  {name}:\n" in dvc_yaml for name in ("prepare", "train", "evaluate"))
