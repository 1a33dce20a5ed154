"""nbtrack.capture.kernel_context: a ``with nbtrack.track()`` block in a cell records its cell, place and loop values.

Run in IPython's in-process shell (the ``ip`` fixture): cells go through ``run_cell`` with history, as a kernel
runs them. Real-kernel round trips through export are in tests/exporting/test_sweep.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import nbtrack
from nbtrack.capture.kernel_context import LOOP_SOURCE, enclosing, target_names


def run_cell(ip, source):
    result = ip.run_cell(source, store_history=True)
    assert result.error_in_exec is None and result.error_before_exec is None, result
    return result


def runs_oldest_first(store_dir):
    frame = nbtrack.runs(store=store_dir)
    return [nbtrack.get_run(i, store=store_dir) for i in reversed(list(frame["run_id"]))]


def test_a_loop_of_blocks_records_each_iteration(ip, store_dir):
    run_cell(ip, "import nbtrack\nscale = 2")
    cell = (
        "for lr in [0.1, 0.3]:\n"
        "    for seed in range(2):\n"
        "        # one run per pair\n"
        "        with nbtrack.track(name='sweep', params={'seed': seed * 10}, environment=False):\n"
        "            nbtrack.log_metric('acc', lr * scale + seed)"
    )
    run_cell(ip, cell)
    runs = runs_oldest_first(store_dir)
    assert len(runs) == 4
    assert [(r.params["lr"], r.params["seed"]) for r in runs] == [(0.1, 0), (0.1, 10), (0.3, 0), (0.3, 10)]
    for r in runs:
        assert r.param_sources == {"lr": LOOP_SOURCE}  # seed was logged explicitly: its value stays
        assert r.cell_block["line"] == 4
        assert r.history == ["import nbtrack\nscale = 2", cell] and r.history_len == 2
        assert r.code == cell and r.execution_count == ip.execution_count - 1
        assert r.code_blob is None and r.code_location.endswith(":4")
    assert [r.cell_block["index"] for r in runs] == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert [r.cell_block["loop"] for r in runs] == [
        {"lr": 0.1, "seed": 0},
        {"lr": 0.1, "seed": 1},
        {"lr": 0.3, "seed": 0},
        {"lr": 0.3, "seed": 1},
    ]


def test_a_block_at_the_top_of_a_cell_has_no_loop(ip, store_dir):
    run_cell(ip, "import nbtrack\nwith nbtrack.track(environment=False) as run:\n    run.log_metric('m', 1)")
    (run,) = runs_oldest_first(store_dir)
    assert run.cell_block == {"line": 2, "loop": {}, "index": []} and run.params == {} and run.param_sources == {}


def test_a_block_in_a_function_or_outside_a_kernel_records_only_its_location(ip, store_dir):
    run_cell(ip, "import nbtrack\ndef fit():\n    with nbtrack.track(environment=False):\n        pass\nfit()")
    with nbtrack.track(environment=False):  # this test module: not a cell
        pass
    inside, here = runs_oldest_first(store_dir)
    assert inside.cell_block is None and inside.history_blob is None and ":3" in inside.code_location
    assert here.cell_block is None and here.code_location.startswith(__file__)
    assert here.code == Path(__file__).read_text(encoding="utf-8")


def test_a_loop_variable_that_is_an_object_is_kept_as_its_encoded_value(ip, store_dir):
    run_cell(ip, "import nbtrack\nfor k in [(1, 2)]:\n    with nbtrack.track(environment=False):\n        pass")
    (run,) = runs_oldest_first(store_dir)
    assert run.params["k"] == (1, 2) and run.param_sources["k"] == LOOP_SOURCE


def test_the_position_in_loops_over_objects_advances_with_the_objects(ip, store_dir):
    run_cell(ip, "import nbtrack\nclass M:\n    pass\nms = [M(), M(), M()]")
    cell = "for m in ms:\n    for i in [7, 7]:\n        with nbtrack.track(environment=False):\n            pass"
    run_cell(ip, cell)
    run_cell(ip, cell)  # a new execution of the cell counts from 0 again
    index = [r.cell_block["index"] for r in runs_oldest_first(store_dir)]
    assert index == [[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]] * 2  # 7 twice: the same object, still counted


@pytest.mark.parametrize(
    ("code", "line", "found"),
    [
        ("for a in x:\n    for b in y:\n        with t():\n            pass\n", 3, ["a", "b"]),
        ("with t():\n    pass\n", 1, []),
        ("with t(\n    p=1,\n):\n    pass\n", 2, []),  # the call's line inside a multi-line header
        ("if c:\n    with t():\n        pass\n", 2, None),  # inside an `if`: not cut out
        ("def f():\n    with t():\n        pass\n", 2, None),
        ("for a in x:\n    pass\nelse:\n    with t():\n        pass\n", 4, None),  # a for-else
    ],
)
def test_enclosing_finds_the_block_and_its_loops(code, line, found):
    result = enclosing(ast.parse(code), line)
    if found is None:
        assert result is None
    else:
        assert result is not None
        block, loops = result
        assert isinstance(block, ast.With) and [target_names(loop.target) for loop in loops] == [[n] for n in found]


def test_target_names():
    assert target_names(ast.parse("i, (a, b) = x").body[0].targets[0]) == ["i", "a", "b"]
    assert target_names(ast.parse("x.y = 1").body[0].targets[0]) is None


@pytest.mark.kernel
def test_in_a_real_kernel_the_block_gets_the_frontends_cell_id(tmp_path):
    """JupyterLab sends the cell's id in the execute request's metadata (``cellId``), as sent here."""
    from kernel_helpers import KERNEL_TIMEOUT, code, new_session

    session = new_session(tmp_path, [code("import nbtrack")])
    try:
        with session.kernel():
            session.run(0)
            kc = session.blocking_client()
            try:
                cell = "for k in ['a', 'b']:\n    with nbtrack.track(name='ids', environment=False):\n        pass"
                content = {"code": cell, "silent": False, "store_history": True, "user_expressions": {}}
                msg = kc.session.msg("execute_request", content, metadata={"cellId": "cell-7f3a"})
                kc.shell_channel.send(msg)
                reply = kc.get_shell_msg(timeout=KERNEL_TIMEOUT)
                assert reply["content"]["status"] == "ok", reply["content"]
            finally:
                kc.stop_channels()
        runs = session.run_named("ids")
        assert [r.cell_id for r in runs] == ["cell-7f3a"] * 2 and [r.params["k"] for r in runs] == ["a", "b"]
        assert all(r.history == ["import nbtrack", cell] and r.execution_count == 2 for r in runs)
    finally:
        session.close()
