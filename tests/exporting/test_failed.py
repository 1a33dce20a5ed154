"""Cells that raised in the kernel (exporting/failed.py): the part that ran, in the slice and in the script.

Runs are recorded as %%track records them, with the statuses the magic records (tests/test_notebook.py checks
those in a shell; tests/exporting/test_roundtrips.py in a real kernel)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbtrack
from nbtrack.capture.lifecycle import ActiveRun
from nbtrack.exporting.failed import ran_part
from nbtrack.exporting.plan import plan_export
from nbtrack.exporting.render import render_script
from nbtrack.store.local import get_store


def recorded(store_dir: Path, history: list[str], failed: list[dict], params: dict | None = None) -> nbtrack.Run:
    store = get_store(store_dir)
    run = ActiveRun(store, name="failing", experiment="unit", source="magic", params=params or {})
    run.attach_cell(history[-1].split("\n", 1)[1], history=history, execution_count=len(history))
    run.record.history_failed = failed
    run.start()
    run.finish()
    return nbtrack.get_run(run.id, store=store)


def metrics_of(script: Path, cwd: Path, store_dir: Path) -> dict:
    env = {"NBTRACK_DIR": str(store_dir), "PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}
    out = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_part_before_a_simple_statement_that_raised():
    code = "x = 1\n# a comment\ny = 1 / 0\nz = 2\n"
    part, note = ran_part(code, code, {"error": "ZeroDivisionError", "line": 3})
    assert part == "x = 1\n# a comment\n" and "ZeroDivisionError at line 3" in note


def test_a_compound_statement_that_raised_runs_inside_try():
    code = "x = 1\nfor s in (a, b):\n    s.append(1)\n    s.missing()\nz = 2\n"
    part, _ = ran_part(code, code, {"error": "AttributeError", "line": 4})
    tree = ast.parse(part)
    assert isinstance(tree.body[1], ast.Try) and isinstance(tree.body[1].body[0], ast.For) and len(tree.body) == 2
    ns = {"a": [], "b": []}
    exec(part, ns)
    assert ns["a"] == [1] and ns["b"] == [] and "z" not in ns


def test_an_unknown_line_wraps_the_whole_cell_and_line_0_keeps_nothing():
    part, note = ran_part("x = 1\ny = 1 / 0\n", "%%time\nx = 1\ny = 1 / 0", {"error": "ZeroDivisionError"})
    assert isinstance(ast.parse(part).body[0], ast.Try) and "not recorded" in note
    assert ran_part("x = 1\n", "x = 1", {"error": "SyntaxError", "line": 0})[0] == ""
    # a translation that moved lines: the recorded line is not trusted
    part, _ = ran_part("a = 1\nb = 2\n", "%%capture\na = 1\nb = 2", {"error": "E", "line": 2})
    assert isinstance(ast.parse(part).body[0], ast.Try)


HISTORY = [
    "import json",
    "data = [3, 1, 2]",
    "data.sort(reverse=True)\ndata.append(json.loads('oops'))",  # sorted, then raised: data is sorted
    "data.remove(99)",  # raised before changing anything
    "scale = 10\ntotal = sum(data) / 0",  # scale was bound before the raise
    "%%track -n failing -m out\nout = data[0] * scale",
]
FAILED = [
    {"index": 2, "error": "JSONDecodeError", "line": 2},
    {"index": 3, "error": "ValueError", "line": 1},
    {"index": 4, "error": "ZeroDivisionError", "line": 2},
]


def test_a_cell_that_raised_is_kept_only_for_what_it_did_before_raising(store_dir, tmp_path):
    run = recorded(store_dir, HISTORY, FAILED)
    plan = plan_export(run)
    assert [c.index for c in plan.cells] == [1, 2, 4, 5]
    omitted = {o.index: o.reason for o in plan.omitted}
    assert omitted[3] == "raised ValueError in the kernel before it defined anything"
    assert "the run does not use what it defines (json)" in omitted[0]
    kept = {c.index: c for c in plan.cells}
    assert kept[2].code == "data.sort(reverse=True)\n" and kept[4].code == "scale = 10\n"
    text = render_script(plan)
    assert "raised JSONDecodeError at line 2 in the kernel" in text and "json.loads('oops')" not in text
    script = tmp_path / "failing.py"
    script.write_text(text)
    assert metrics_of(script, tmp_path, store_dir) == {"out": 30}


def test_without_statuses_an_old_run_is_sliced_as_before(store_dir):
    run = recorded(store_dir, HISTORY, [])
    assert [c.index for c in plan_export(run).cells] == [0, 1, 2, 3, 4, 5]


def test_a_failed_cell_is_wrapped_when_its_line_is_unknown_and_then_runs_as_it_ran(store_dir, tmp_path):
    history = [
        "acc = []",
        "%%capture\nacc.append(1)\nacc.append(undefined_name)\nacc.append(2)",
        "%%track -m n\nn = len(acc)",
    ]
    run = recorded(store_dir, history, [{"index": 1, "error": "NameError"}])
    plan = plan_export(run)
    assert [c.index for c in plan.cells] == [0, 1, 2]
    script = tmp_path / "wrapped.py"
    script.write_text(render_script(plan))
    assert metrics_of(script, tmp_path, store_dir) == {"n": 1}
