"""exporting/render.py: the text of an export (script, notebook, params.yaml, requirements.txt, dvc.yaml) for a
small plan, without a kernel: the run is recorded the way ``%%track`` records it (history, params, a data file).

tests/test_exporter.py runs whole exports made from real kernels.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import nbtrack
from nbtrack.capture.lifecycle import ActiveRun
from nbtrack.data.fingerprint import fingerprint
from nbtrack.exporting.plan import Plan, plan_export
from nbtrack.exporting.render import (
    RUNTIME_ALIAS,
    render_dvc,
    render_notebook,
    render_params_yaml,
    render_requirements,
    render_script,
)
from nbtrack.exporting.runtime import read_params_yaml
from nbtrack.store.local import get_store

HISTORY = [
    "rows = open('data.csv').read().splitlines()",
    "unused = 42",
    "%%track -n fit -m score\nlr = 0.1\nepochs = 3\nscore = len(rows) * lr * epochs",
]


def recorded_run(folder: Path, history: list[str], params: dict, *, name: str = "fit", env: dict | None = None):
    """A finished run as %%track records it (history, params, the data file it read), written to a store."""
    (folder / "data.csv").write_text("a\n1\n2\n")
    store = get_store(folder / "store")
    run = ActiveRun(store, name=name, experiment="unit", source="magic", params=params)
    run.data["data.csv"] = {**fingerprint("data.csv").to_dict(), "path": "data.csv"}
    if env is not None:
        run.record.env_record = env
    run.attach_cell(history[-1].split("\n", 1)[1], history=history, execution_count=len(history))
    run.start()
    run.finish()
    return nbtrack.get_run(run.id, store=store)


@pytest.fixture
def plan(store_dir: Path) -> Plan:
    return plan_export(recorded_run(store_dir.parent, HISTORY, {"lr": 0.1, "epochs": 3}))


def test_the_script_header_says_where_it_comes_from_and_what_was_kept(plan):
    text = render_script(plan)
    lines = text.splitlines()
    run_id = plan.run.id
    assert lines[0] == "#!/usr/bin/env python3"
    assert lines[1] == f'"""fit: exported by nbtrack from run {run_id}."""'
    assert f"# Exported by nbtrack from run {run_id}: \"fit\" in experiment 'unit', recorded " in text
    assert "# Kept 2 of 3 executed cells: In[1], In[3]" in lines
    assert "# Omitted 1, each with the reason, listed at the end of this file." in lines
    # the omitted cells are listed once, one line each, after the code
    assert lines[-2:] == [
        "# Omitted cells of the execution history (1):",
        "#   In[2]  unused = 42  -> the run does not use what it defines (unused)",
    ]
    assert "--params params.yaml" in text and "--allow-data-change" in text


def test_the_script_imports_the_runtime_under_its_stable_name_and_calls_it_in_order(plan):
    text = render_script(plan)
    assert f"from nbtrack import export_runtime as {RUNTIME_ALIAS}" in text.splitlines()
    assert "import nbtrack.exporting" not in text  # old scripts and new ones import the same name
    order = [
        f"{plan.params_var} = {RUNTIME_ALIAS}.parameters(",
        f"{RUNTIME_ALIAS}.check_file('data.csv', {plan.files[0]['hash']!r}, algorithm=",
        "rows = open('data.csv').read().splitlines()",
        f"{RUNTIME_ALIAS}.start_run(",
        "score = len(rows) * lr * epochs",
        f"{RUNTIME_ALIAS}.finish_run(globals(), metrics=['score'])",
    ]
    positions = [text.index(part) for part in order]
    assert positions == sorted(positions), text
    assert "unused = 42" not in text.split("# Omitted cells")[0]  # only named in the list at the end
    assert "# In[3]: the tracked cell (%%track -n fit -m score) ---" in text
    compile(text, "fit.py", "exec")


def test_the_params_become_typed_command_line_options(plan, tmp_path):
    script = tmp_path / "fit.py"
    script.write_text(render_script(plan))
    assert "    {\n        'lr': 0.1,\n        'epochs': 3,\n    },\n" in script.read_text()
    env = {**os.environ, "NBTRACK_DIR": str(tmp_path / "unused-store")}
    proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "fit: exported by nbtrack from run" in proc.stdout  # the docstring is the description
    assert "--lr FLOAT" in proc.stdout and "(default: 0.1)" in proc.stdout and "--epochs INT" in proc.stdout
    assert not (tmp_path / "unused-store").exists()  # --help records nothing


def test_params_yaml_holds_the_run_values_the_script_reads_back(plan, tmp_path):
    text = render_params_yaml(plan)
    assert text.splitlines()[2:] == ["lr: 0.1", "epochs: 3"]
    assert text.startswith(f"# Params of run {plan.run.id} (fit), read by the exported script with\n")
    (tmp_path / "params.yaml").write_text(text)
    assert read_params_yaml(str(tmp_path / "params.yaml")) == {"lr": 0.1, "epochs": 3}


def test_dvc_yaml_is_one_stage_with_the_script_data_params_and_metrics(plan, tmp_path):
    folder = tmp_path / "out"
    assert render_dvc(plan, folder, folder / "fit.py") == (
        "stages:\n"
        "  fit:\n"
        "    cmd: python fit.py --params params.yaml --metrics-file metrics.json\n"
        "    deps:\n"
        "      - fit.py\n"
        "      - data.csv\n"
        "    params:\n"
        "      - params.yaml:\n"
        "          - lr\n"
        "          - epochs\n"
        "    metrics:\n"
        "      - metrics.json:\n"
        "          cache: false\n"
    )


def test_dvc_stage_runs_where_the_notebook_ran(store_dir, tmp_path):
    notebook_dir = tmp_path / "nb"
    notebook_dir.mkdir()
    run = recorded_run(store_dir.parent, HISTORY, {"lr": 0.1}, env={"cwd": str(notebook_dir)})
    folder = tmp_path / "out"
    text = render_dvc(plan_export(run), folder, folder / "fit.py")
    assert "    cmd: python ../out/fit.py --params ../out/params.yaml --metrics-file ../out/metrics.json\n" in text
    assert "    wdir: ../nb\n" in text and "      - ../out/fit.py\n" in text


def test_the_notebook_has_a_parameters_cell_papermill_can_override(plan):
    nb = render_notebook(plan)
    cell = nb.cells[1]
    assert cell.metadata["tags"] == ["parameters"]
    assert cell.source.splitlines()[:2] == ["lr = 0.1", "epochs = 3"]
    assert "allow_data_change = False" in cell.source
    assert "cli=False," in nb.cells[2].source and f"from nbtrack import export_runtime as {RUNTIME_ALIAS}" in (
        nb.cells[2].source
    )
    for c in nb.cells[1:]:
        compile(c.source, "cell", "exec")


def test_requirements_name_the_run(plan):
    assert render_requirements(plan).splitlines()[0] == (
        f"# Packages the exported code imports, pinned to the versions recorded with run {plan.run.id}."
    )


def test_odd_names_and_non_finite_values_still_make_a_valid_script(store_dir):
    history = ['%%track -n "odd"\ntol = 1e999\nlabel = "a \\"b\\""\nx = 1']
    name = 'tricky """ name\nwith \\ a newline'
    run = recorded_run(store_dir.parent, history, {"tol": float("inf"), "label": 'a "b"', "x": 1}, name=name)
    plan = plan_export(run)
    text = render_script(plan)
    compile(text, "odd.py", "exec")
    assert "'tol': float('inf')," in text
    assert 'tricky \\"\\"\\" name with \\\\ a newline: exported by nbtrack' in text.splitlines()[1]
    assert render_params_yaml(plan).splitlines()[2:] == ["tol: .inf", 'label: "a \\"b\\""', "x: 1"]
