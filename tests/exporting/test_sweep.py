"""nbtrack.exporting.sweep: a run of a ``with nbtrack.track()`` block in a cell exports as that one iteration.

The round trips run real notebooks in a real kernel (nbclient), export one run of a sweep, execute the script
in a fresh interpreter and compare its metrics with the recorded ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from kernel_helpers import KERNEL_TIMEOUT, KernelSession, code, new_session

import nbtrack
from nbtrack.errors import ExportError
from nbtrack.exporting.sweep import reduce_cell
from nbtrack.values import encode

QUICKSTART = Path(__file__).resolve().parents[2] / "example_notebooks" / "quickstart.ipynb"


def run_script(script: Path, cwd: Path, store: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NBTRACK_DIR": str(store)}
    for var in ("NBTRACK_EXPERIMENT", "JPY_SESSION_NAME", "NBTRACK_TRACKING_URI"):
        env.pop(var, None)
    return subprocess.run(
        [sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=KERNEL_TIMEOUT
    )


def final_metrics(proc: subprocess.CompletedProcess[str]) -> dict[str, float]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# the reduction, on code ---------------------------------------------------------------------------------------

NESTED = """import os
results = []
for lr in [0.1, 0.3]:
    # the model depends on lr
    model = lr * 2
    for seed in range(3):
        with nbtrack.track(params={"lr": lr}) as run:
            acc = model + seed
            nbtrack.log_metric("acc", acc)
        results.append(acc)
print(results)
"""


def test_nested_loops_become_assignments_and_what_follows_the_block_goes():
    out = reduce_cell(NESTED, {"line": 7, "loop": {"lr": 0.3, "seed": 2}})
    assert out == (
        "import os\n"
        "results = []\n"
        "# the loop at line 3, reduced to the run's iteration\n"
        "lr = 0.3\n"
        "# the model depends on lr\n"
        "model = lr * 2\n"
        "# the loop at line 6, reduced to the run's iteration\n"
        "seed = 2\n"
        "import nbtrack  # `with nbtrack.track() as ...`: the script's own run\n"
        "run = nbtrack.active_run()\n"
        "acc = model + seed\n"
        'nbtrack.log_metric("acc", acc)\n'
    )
    logged = []

    class Api:  # stands in for nbtrack in the reduced code: what it logs, not where
        active_run = staticmethod(lambda: "the script's run")
        log_metric = staticmethod(lambda name, value: logged.append((name, value)))

    namespace = {"nbtrack": Api}
    exec(compile(out.replace("import nbtrack ", "pass "), "cell", "exec"), namespace, namespace)
    assert logged == [("acc", 0.3 * 2 + 2)] and namespace["run"] == "the script's run" and namespace["results"] == []


def test_one_line_loops_other_with_items_and_tuple_targets():
    assert reduce_cell("for x in [1, 2]: \n    with track(): print(x)\n", {"line": 2, "loop": {"x": 2}}).endswith(
        "x = 2\nprint(x)\n"
    )
    out = reduce_cell("with open('f') as f, nbtrack.track():\n    print(f)\n", {"line": 1, "loop": {}})
    assert out == "with open('f') as f:\n    print(f)\n"
    out = reduce_cell(
        "for i, (a, b) in enumerate(pairs):\n    with nbtrack.track():\n        f(a, b)\n",
        {"line": 2, "loop": {"i": 1, "a": "x", "b": [1, 2]}},
    )
    assert "i = 1\na = 'x'\nb = [1, 2]\nf(a, b)\n" in out


class Model:
    def __init__(self, k):
        self.k = k

    def __repr__(self):
        return f"Model(k={self.k})"


def test_a_loop_over_objects_takes_the_runs_item_by_position_and_checks_it():
    cell = "for name, model in models.items():\n    with nbtrack.track(name=name):\n        out.append(model.k)\n"
    loop = {"name": "b", "model": encode(Model(2))[0]}
    out = reduce_cell(cell, {"line": 2, "loop": loop, "index": [1]})
    assert "name, model = list(models.items())[1]\n" in out
    assert "if name != 'b':" in out and "if repr(model) != 'Model(k=2)':" in out
    namespace = {"models": {"a": Model(1), "b": Model(2)}, "out": []}
    exec(compile(out, "cell", "exec"), namespace, namespace)
    assert namespace["out"] == [2]  # the run's item, and its body only
    with pytest.raises(SystemExit, match="model is not what the run's iteration had"):
        exec(compile(out, "cell", "exec"), {"models": {"a": Model(1), "b": Model(3)}, "out": []})
    opaque = {"model": encode(object())[0]}  # no useful repr: the type is checked
    out = reduce_cell("for model in ms:\n    with track():\n        pass\n", {"line": 2, "loop": opaque, "index": [0]})
    assert "model = list(ms)[0]\n" in out and "'builtins.object'" in out
    exec(compile(out, "cell", "exec"), {"ms": [object()], "track": None})


def test_a_moved_block_is_found_when_it_is_the_cells_only_one():
    cell = "import nbtrack\n\nfor lr in [1, 2]:\n    with nbtrack.track():\n        pass\n"
    assert "lr = 2\n" in reduce_cell(cell, {"line": 99, "loop": {"lr": 2}})


@pytest.mark.parametrize(
    ("cell", "loop", "message"),
    [
        ("for m in ms:\n    with nbtrack.track():\n        m.fit()\n", {"m": encode(object())[0]}, "its position"),
        ("for m in ms:\n    with nbtrack.track():\n        pass\n", {}, "did not record the value"),
        ("if c:\n    with nbtrack.track():\n        pass\n", {}, "not at the top level"),
        ("for a.b in ms:\n    with nbtrack.track():\n        pass\n", {}, "other than names"),
    ],
)
def test_what_cannot_be_reduced_says_why(cell, loop, message):
    with pytest.raises(ExportError, match=message):
        reduce_cell(cell, {"line": 2, "loop": loop})


# round trips in a real kernel ---------------------------------------------------------------------------------


@pytest.mark.kernel
def test_the_second_run_of_a_sweep_exports_alone(tmp_path):
    """The issue's case: the exported script runs only the second iteration and records its metric."""
    folder = tmp_path / "nb"
    folder.mkdir()
    cells = [
        code("import nbtrack\nfrom pathlib import Path"),
        code("def score(lr, seed):\n    return round(1 - (lr - 0.25) ** 2 + seed / 100, 6)"),
        code(
            "for lr in [0.1, 0.3]:\n"
            "    with open('iterations.txt', 'a') as f:\n"
            "        f.write(f'{lr}\\n')\n"
            "    with nbtrack.track(name='sweep', params={'seed': 7}):\n"
            "        nbtrack.log_metric('acc', score(lr, 7))\n"
            "    print('done', lr)"
        ),
    ]
    session = new_session(folder, cells)
    try:
        session.execute_all()
        first, second = session.all_runs()
        assert (folder / "iterations.txt").read_text() == "0.1\n0.3\n"
        assert second.params == {"lr": 0.3, "seed": 7} and second.param_sources == {"lr": "loop"}
        script = nbtrack.export(second, path=tmp_path / "out" / "sweep.py", store=session.store_dir)
        text = script.read_text()
        assert "lr = PARAMS['lr']" in text and "for lr in" not in text and "print('done'" not in text
        (folder / "iterations.txt").unlink()
        proc = run_script(script, folder, session.store_dir)
        assert final_metrics(proc) == second.metrics == {"acc": round(1 - 0.05**2 + 0.07, 6)}
        assert (folder / "iterations.txt").read_text() == "0.3\n"  # the first iteration did not run
        assert "done" not in proc.stdout
        exported = [r for r in session.all_runs() if r.tags.get("exported_from") == second.id]
        assert len(exported) == 1 and exported[0].params == second.params and exported[0].name == "sweep"
        assert first.id not in text
    finally:
        session.close()


@pytest.mark.kernel
def test_a_run_of_a_loop_over_models_exports_alone(tmp_path):
    """``for name, model in models.items()``: the objects have no literal value; the script takes the run's item."""
    folder = tmp_path / "nb"
    folder.mkdir()
    cells = [
        code("import nbtrack"),
        code(
            "class Model:\n"
            "    def __init__(self, k):\n"
            "        self.k = k\n"
            "    def __repr__(self):\n"
            "        return f'Model(k={self.k})'\n"
            "    def fit(self):\n"
            "        print('fitting', self.k)\n"
            "        return self.k / 7\n"
            "models = {'small': Model(1), 'large': Model(5)}"
        ),
        code(
            "for name, model in models.items():\n"
            "    with nbtrack.track(name=name):\n"
            "        nbtrack.log_metric('score', model.fit())"
        ),
    ]
    session = new_session(folder, cells)
    try:
        session.execute_all()
        (large,) = session.run_named("large")
        assert large.params["name"] == "large" and large.params["model"] == "Model(k=5)"
        script = nbtrack.export(large, path=tmp_path / "out" / "large.py", store=session.store_dir)
        proc = run_script(script, folder, session.store_dir)
        assert final_metrics(proc) == large.metrics == {"score": 5 / 7}
        assert "fitting 5" in proc.stdout and "fitting 1" not in proc.stdout
    finally:
        session.close()


@pytest.mark.kernel
def test_the_quickstarts_sweep_runs_export_and_reproduce(tmp_path):
    """The quickstart's own sweep (nested loops, explicit params, a data= input, per-epoch metrics)."""
    folder = tmp_path / "nb"
    folder.mkdir()
    nb = nbformat.read(QUICKSTART, as_version=4)
    path = folder / "quickstart.ipynb"
    nbformat.write(nb, path)
    session = KernelSession(folder, nb, path)
    try:
        session.execute_all()
        sweep = session.run_named("sweep")
        assert len(sweep) == 9 and all(r.cell_block for r in sweep)
        for run in (sweep[0], sweep[4], sweep[8]):  # one of each learning rate
            script = nbtrack.export(run, path=tmp_path / "out" / f"{run.id}.py", store=session.store_dir)
            proc = run_script(script, folder, session.store_dir)
            assert final_metrics(proc) == run.metrics, script.read_text()
            assert "data check failed" not in proc.stderr and "differs from the input" not in proc.stderr
            latest = [r for r in session.all_runs() if r.tags.get("exported_from") == run.id]
            assert len(latest) == 1 and latest[0].params == run.params
            assert latest[0].series["value"].tolist() == run.series["value"].tolist()  # every epoch, not just the last
    finally:
        session.close()
