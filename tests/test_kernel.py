"""Real-kernel tests: notebooks built with nbformat, executed by nbclient in a python3 kernel.

Each test writes its notebook into its own temporary directory, runs the kernel there with
``NBTRACK_DIR`` and ``JPY_SESSION_NAME`` set (as jupyter_server would), and then reads the store from
this process with ``nbtrack.runs`` / ``nbtrack.get_run``.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import nbformat
import pytest
import xxhash
from kernel_helpers import (
    KernelSession,
    code,
    new_session,
    outputs,
    results,
    stream_text,
    summaries,
    summary_text,
)
from nbclient.exceptions import CellExecutionError

pytest.importorskip("ipykernel")

pytestmark = pytest.mark.kernel

QUICKSTART = Path(__file__).resolve().parents[1] / "example_notebooks" / "quickstart.ipynb"
LOAD = "%load_ext nbtrack\nimport nbtrack"


def src(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


@pytest.fixture
def session_factory(tmp_path):
    """Make KernelSessions in this test's tmp dir; forget their stores afterwards."""
    made: list[KernelSession] = []

    def make(cells, name="exp.ipynb", **options) -> KernelSession:
        session = new_session(tmp_path, cells, name=name, **options)
        made.append(session)
        return session

    yield make
    for session in made:
        session.close()


def only(items):
    assert len(items) == 1, items
    return items[0]


def error_outputs(cell):
    return outputs(cell, "error")


def plain(text: str) -> str:
    """``text`` without ANSI colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# 1. params, metrics, tags, status, experiment -----------------------------------------------------------


TRAIN_CELL = src("""
    %%track --name train -t stage=explore -t team=ml -p opt=adam -p width=128 -p base -p derived -m acc
    lr = 0.01
    epochs, (depth, drop) = 3, (-4, -0.5)
    layers = [64, 32]
    cfg = {"act": "relu", "sizes": [1, 2], "bias": None}
    neg = -3
    seed = 5
    seed = double(seed)
    derived = double(base)
    base += 1
    for step in range(4):
        nbtrack.log_metric("loss", 1.0 / (step + 1), step=step * 10)
    nbtrack.log_metric("val", 0.3)
    nbtrack.log_metric("val", 0.6)
    acc = double(0.375)
    acc
""")


def test_params_metrics_tags_status_and_experiment(session_factory):
    s = session_factory(
        [
            code(LOAD),
            code("def double(v):\n    return v * 2\n\nbase = 7"),
            code(TRAIN_CELL),
            code("%%track -e other_experiment\nq = 1"),
        ],
        name="param_study.ipynb",
    )
    nb = s.execute_all()

    frame = s.runs()
    assert len(frame) == 2
    train = s.get_run(only(list(frame.loc[frame["name"] == "train", "run_id"])))

    assert train.status == "finished"
    assert train.experiment == "param_study"  # the notebook's file stem
    assert train.params == {
        "lr": 0.01,
        "epochs": 3,
        "depth": -4,
        "drop": -0.5,
        "layers": [64, 32],
        "cfg.act": "relu",  # a dict of literals is flattened (issue 12)
        "cfg.sizes": [1, 2],
        "cfg.bias": None,
        "neg": -3,
        "double.v": 0.375,  # a literal argument of a call, named by the callee's signature (issue 12)
        "v": 0.375,
        "opt": "adam",
        "width": 128,
        "base": 7,  # -p of a variable defined before the cell: its value when the cell started
        "derived": 14,  # -p of a variable the cell defines
    }
    assert train.param_sources["cfg.act"] == "config" and train.param_sources["base"] == "explicit"
    assert "seed" not in train.params  # reassigned to a non-literal: not a constant
    assert train.tags == {"stage": "explore", "team": "ml"}
    assert train.metrics == {"loss": 0.25, "val": 0.6, "acc": 0.75}

    series = train.series
    rows = {name: list(zip(group["step"], group["value"], strict=True)) for name, group in series.groupby("name")}
    assert rows["loss"] == [(0, 1.0), (10, 0.5), (20, pytest.approx(1 / 3)), (30, 0.25)]
    assert rows["val"] == [(0, 0.3), (1, 0.6)]  # steps default to 0, 1, ...
    assert rows["acc"] == [(0, 0.75)]
    assert train.metrics["val"] == rows["val"][-1][1]  # the final metric is the last value logged

    assert train.code.rstrip("\n") == TRAIN_CELL.split("\n", 1)[1]  # the body, without the %%track line

    row = frame.loc[frame["run_id"] == train.id].iloc[0]
    assert row["experiment"] == "param_study"
    assert row["params.lr"] == 0.01
    assert row["params.opt"] == "adam"
    assert row["metrics.loss"] == 0.25
    assert row["tags.stage"] == "explore"

    other = only(s.runs(experiment="other_experiment").to_dict("records"))
    assert other["status"] == "finished"
    assert other["params.q"] == 1

    result = only(results(nb.cells[2]))
    assert result.execution_count == 3
    assert train.execution_count == result.execution_count  # the In[n] of the tracked cell


# 2. the body behaves like an untracked cell ---------------------------------------------------------


def test_body_behaves_like_an_untracked_cell(session_factory):
    s = session_factory(
        [
            code(LOAD),
            code(
                src("""
            %%track -n '<b>x</b>'
            import math
            total = sum(range(5))
            print("inside", total)
            total * 2
        """)
            ),
            code("print(total, math.pi > 3, _)"),
            code("%%track --quiet\nquiet_value = 5\nprint('quiet body')\nquiet_value"),
            code("quiet_value + 1"),
            code("%%track -n magic\nvalues = [i * i for i in range(3)]\n%who_ls int"),
        ]
    )
    nb = s.execute_all()
    tracked, after, quiet, after_quiet, magic = nb.cells[1:]

    run = only(s.run_named("<b>x</b>"))
    assert run.status == "finished"
    assert not error_outputs(tracked)
    assert stream_text(tracked) == "inside 10\n"
    result = only(results(tracked))
    assert result.data["text/plain"] == "20"
    assert result.execution_count == tracked.execution_count

    summary = only(summaries(tracked))
    text = summary.data["text/plain"]
    assert text.startswith("nbtrack ✓ finished <b>x</b> [")
    assert run.id in text
    html = summary.data["text/html"]
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>x</b>" not in html
    assert run.id in html

    assert stream_text(after) == "10 True 20\n"  # the body's variables and `_` are those of the kernel

    assert stream_text(quiet) == "quiet body\n"
    assert only(results(quiet)).data["text/plain"] == "5"
    assert summaries(quiet) == []
    assert [o.output_type for o in quiet.outputs] == ["stream", "execute_result"]
    assert only(results(after_quiet)).data["text/plain"] == "6"
    quiet_runs = [r for r in s.all_runs() if r.name is None]
    assert only(quiet_runs).params == {"quiet_value": 5}  # --quiet hides the summary, not the run

    assert "quiet_value" in only(results(magic)).data["text/plain"]  # a line magic inside the body ran
    assert summary_text(magic).startswith("nbtrack ✓ finished magic [")
    assert len(s.all_runs()) == 3


# 3. failures ------------------------------------------------------------------------------------------


def test_failing_cell_shows_one_traceback_and_records_a_failed_run(session_factory):
    s = session_factory(
        [
            code(LOAD),
            code(
                src("""
            %%track -n boom
            numerator = 1
            denominator = 0
            ratio = numerator / denominator
        """),
                tags=["raises-exception"],
            ),
            code("after = 'ran'\nprint(after)"),
            code("%%track -n bad\nraise ValueError('bad <value>')", tags=["raises-exception"]),
        ]
    )
    nb = s.execute_all()
    failing, after, bad = nb.cells[1:]

    error = only(error_outputs(failing))
    assert error.ename == "ZeroDivisionError"
    assert error.evalue == "division by zero"
    shown = plain("\n".join(error.traceback))
    assert f"Cell In[{failing.execution_count}], line 4" in shown  # lines of the cell as the user sees it
    assert "----> 4 ratio = numerator / denominator" in shown
    assert "TrackedCellError" not in shown
    assert "Traceback" not in stream_text(failing, "stderr")  # not printed a second time
    assert summary_text(failing).startswith("nbtrack ✗ failed boom [")
    assert stream_text(after) == "ran\n"

    run = only(s.run_named("boom"))
    assert run.status == "failed"
    assert run.error["type"] == "ZeroDivisionError"
    assert run.error["message"] == "division by zero"
    assert "ZeroDivisionError" in run.error["traceback"]
    assert "numerator / denominator" in run.error["traceback"]
    assert run.params == {"numerator": 1, "denominator": 0}

    bad_error = only(error_outputs(bad))
    assert bad_error.ename == "ValueError"
    assert bad_error.evalue == "bad <value>"
    bad_run = only(s.run_named("bad"))
    assert bad_run.status == "failed"
    assert bad_run.error["type"] == "ValueError"
    assert bad_run.error["message"] == "bad <value>"
    assert "&lt;value&gt;" in only(summaries(bad)).data["text/html"]


def test_failing_cell_without_tag_stops_the_notebook(session_factory):
    s = session_factory(
        [
            code(LOAD),
            code("%%track -n crash\nvalue = int('x')"),
            code("reached = True"),
            code("%%track -n never\nz = 1"),
        ]
    )
    with pytest.raises(CellExecutionError) as info:
        s.execute_all()
    assert "ValueError" in str(info.value)

    nb = s.nb
    assert only(error_outputs(nb.cells[1])).ename == "ValueError"
    assert nb.cells[2].outputs == []
    assert nb.cells[2].execution_count is None
    assert nb.cells[3].execution_count is None

    run = only(s.all_runs())
    assert run.name == "crash"
    assert run.status == "failed"
    assert run.error["type"] == "ValueError"
    assert "invalid literal for int()" in run.error["message"]


def test_failing_tracked_cell_aborts_queued_requests(session_factory):
    """The kernel itself stops the queue: the execute_reply of a failing tracked cell has status error."""
    s = session_factory([code(LOAD)])
    with s.kernel():
        s.run(0)
        kc = s.blocking_client()
        try:
            failing = kc.execute("%%track -n queued\nraise RuntimeError('stop here')", stop_on_error=True)
            queued = kc.execute("reached = True")
            first = kc.get_shell_msg(timeout=60)
            second = kc.get_shell_msg(timeout=60)
            check = kc.execute("'reached' in globals()", stop_on_error=False)
            third = kc.get_shell_msg(timeout=60)
            while third["parent_header"].get("msg_id") != check:
                third = kc.get_shell_msg(timeout=60)
            answer = None
            while answer is None:
                msg = kc.get_iopub_msg(timeout=60)
                if msg["parent_header"].get("msg_id") == check and msg["msg_type"] == "execute_result":
                    answer = msg["content"]["data"]["text/plain"]
        finally:
            kc.stop_channels()
    assert first["parent_header"]["msg_id"] == failing
    assert first["content"]["status"] == "error"
    assert first["content"]["ename"] == "RuntimeError"
    assert second["parent_header"]["msg_id"] == queued
    assert second["content"]["status"] == "aborted"
    assert answer == "False"
    run = only(s.all_runs())
    assert (run.name, run.status, run.error["type"]) == ("queued", "failed", "RuntimeError")


# 4. interrupts ----------------------------------------------------------------------------------------


def test_keyboard_interrupt_records_an_interrupted_run(session_factory):
    s = session_factory(
        [
            code(LOAD),
            code("%%track -n stop\nbefore = 1\nraise KeyboardInterrupt", tags=["raises-exception"]),
            code(
                src("""
            %%track -n sleepy
            import time
            started = True
            time.sleep(60)
        """),
                tags=["raises-exception"],
            ),
            code("print(started)"),
        ],
        interrupt_on_timeout=True,
        timeout_func=lambda cell: 3 if "sleepy" in cell.source else 120,
    )
    nb = s.execute_all()

    stop = only(s.run_named("stop"))
    assert stop.status == "interrupted"
    assert stop.error["type"] == "KeyboardInterrupt"
    assert stop.params == {"before": 1}
    assert only(error_outputs(nb.cells[1])).ename == "KeyboardInterrupt"
    assert summary_text(nb.cells[1]).startswith("nbtrack ■ interrupted stop [")

    sleepy = only(s.run_named("sleepy"))
    assert sleepy.status == "interrupted"  # a real SIGINT from the kernel manager
    assert sleepy.error["type"] == "KeyboardInterrupt"
    assert sleepy.duration < 30
    assert only(error_outputs(nb.cells[2])).ename == "KeyboardInterrupt"
    assert stream_text(nb.cells[3]) == "True\n"  # the kernel survived and kept the body's variables


# 5. data fingerprints -----------------------------------------------------------------------------------


DATA_SETUP = src("""
    import numpy as np
    import pandas as pd
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    arr = np.arange(6.0).reshape(2, 3)
    unused = pd.DataFrame({"c": [0]})
    with open("input.csv", "w") as f:
        f.write("a,b\\n1,2\\n")
""")

FIT_CELL = src("""
    %%track -n fit -d input.csv
    scale = 2
    result = df["a"].sum() * scale + arr.sum()
    result
""")


def test_data_fingerprints_and_reruns(session_factory):
    import numpy as np
    import pandas as pd

    from nbtrack.data.fingerprint import fingerprint_data

    s = session_factory(
        [
            code(LOAD),
            code(DATA_SETUP),
            code(FIT_CELL),
            code('df.loc[1, "a"] = 20'),
            code(FIT_CELL),
            code(FIT_CELL),
        ]
    )
    nb = s.execute_all()
    first, second, third = s.run_named("fit")

    assert set(first.data) == {"df", "arr", "input.csv"}  # `unused` is not read by the cell
    df_record = first.data["df"]
    assert df_record["kind"] == "dataframe"
    assert df_record["shape"] == [3, 2]
    assert [c["name"] for c in df_record["columns"]] == ["a", "b"]
    expected_df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert df_record["hash"] == fingerprint_data(expected_df)["hash"]  # stable across processes
    arr_record = first.data["arr"]
    assert arr_record["kind"] == "ndarray"
    assert arr_record["shape"] == [2, 3]
    assert arr_record["dtype"] == "float64"
    assert arr_record["hash"] == fingerprint_data(np.arange(6.0).reshape(2, 3))["hash"]
    file_record = first.data["input.csv"]
    assert file_record["kind"] == "file"
    assert file_record["hash"] == xxhash.xxh3_128((s.folder / "input.csv").read_bytes()).hexdigest()
    assert file_record["size"] == len(b"a,b\n1,2\n")
    assert first.parent is None
    assert "data: first run of this cell" in summary_text(nb.cells[2])

    row = s.runs().set_index("run_id").loc[first.id]
    assert row["data.df"] == df_record["hash"]

    assert second.parent == first.id
    assert second.data["df"]["hash"] != first.data["df"]["hash"]
    assert second.data["arr"]["hash"] == first.data["arr"]["hash"]
    assert second.data["input.csv"]["hash"] == file_record["hash"]
    assert second.doc["data_change"] == {"state": "changed", "changed": ["df"], "added": [], "removed": []}
    assert "data changed df" in summary_text(nb.cells[4])

    assert third.parent == second.id
    assert third.data == second.data
    assert third.doc["data_change"]["state"] == "unchanged"
    assert "data unchanged" in summary_text(nb.cells[5])


def test_dataframe_built_inside_the_cell_is_not_an_input(session_factory):
    """A name the cell assigns before reading it is not an input, also when a previous run left it behind."""
    cell = src("""
        %%track -n features
        feats = df[["a"]] * 2
        total = int(feats["a"].sum())
    """)
    s = session_factory(
        [
            code(LOAD + "\nimport pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3]})"),
            code(cell),
            code(cell),
        ]
    )
    nb = s.execute_all()
    first, second = s.run_named("features")
    assert set(first.data) == {"df"}
    assert set(second.data) == {"df"}
    assert second.doc["data_change"]["state"] == "unchanged"
    assert "data unchanged" in summary_text(nb.cells[2])


# 6. history and snapshot --------------------------------------------------------------------------------


def test_history_and_snapshot(session_factory):
    cells = [
        code(LOAD),
        code("a = 1"),
        code("b = 2"),
        code("%%track -n hist\nc = a + b\nc"),
    ]
    s = session_factory(cells)
    saved = nbformat.read(s.path, as_version=4)
    extra = "d = 4  # never saved in the notebook file"
    with s.kernel():
        for index in (0, 2, 1):
            s.run(index)
        s.run_extra(extra)
        s.run(3)
        s.run(3)  # again, the file unchanged
        later = "%%track -n later\ne = c + d"
        s.nb.cells.append(code(later))
        s.save_notebook()  # saved before it runs: this snapshot is current
        s.run(len(s.nb.cells) - 1)
        unsaved = "%%track -n unsaved\nf = 6"
        s.run_extra(unsaved)

    first, second = s.run_named("hist")
    order = [cells[0].source, cells[2].source, cells[1].source, extra, cells[3].source]
    assert first.history == order
    assert second.history == [*order, cells[3].source]

    info = first.snapshot_info
    assert info["source"] == "JPY_SESSION_NAME"
    assert Path(info["path"]) == s.path
    assert isinstance(first.snapshot, nbformat.NotebookNode)
    assert first.snapshot == saved
    assert [c.source for c in first.snapshot.cells] == [LOAD, "a = 1", "b = 2", "%%track -n hist\nc = a + b\nc"]

    assert second.snapshot_info["blob"] == info["blob"]  # identical snapshots: one blob
    blobs = [p for p in (s.store_dir / "objects").rglob("*") if p.is_file()]
    line = b'{"op":"blob","id":"%s"' % info["blob"].encode()  # a run's small blobs are journal lines
    copies = (s.store_dir / "runs.jsonl").read_bytes().count(line)
    assert sum(p.parent.name + p.name == info["blob"] for p in blobs) + copies == 1

    later_run = only(s.run_named("later"))
    assert later_run.snapshot_info["blob"] != info["blob"]
    assert later_run.snapshot.cells[-1].source == later
    assert later_run.history[-1] == later

    unsaved_run = only(s.run_named("unsaved"))
    assert unsaved_run.snapshot_info["blob"] == later_run.snapshot_info["blob"]
    assert unsaved_run.history[-1] == unsaved


def test_snapshot_stale_flag(session_factory):
    """A snapshot is stale when saved before the last executed cell or when it lacks the tracked cell."""
    s = session_factory([code(LOAD), code("%%track -n early\nx = 1")])
    with s.kernel():
        s.run(0)
        s.run(1)  # the file on disk predates cell 0's execution
        s.save_notebook()
        s.run(1)  # saved after the last executed cell, and the file holds this cell
        s.run_extra("%%track -n unsaved\ny = 2")  # not in the file

    early, fresh = s.run_named("early")
    assert early.snapshot_info["stale"] is True
    assert early.snapshot_info["stale_reason"] == "saved before the last executed cell"
    assert fresh.snapshot_info["stale_reason"] is None
    assert fresh.snapshot_info["stale"] is False
    unsaved = only(s.run_named("unsaved")).snapshot_info
    assert unsaved["stale"] is True
    assert "does not contain the tracked cell as it ran" in unsaved["stale_reason"]


# 7. reloading the extension -----------------------------------------------------------------------------


def test_reloading_the_extension_records_each_run_once(session_factory):
    handlers = (
        "print(sum('TrackMagics' in repr(h) for e in ('pre_run_cell', 'post_run_cell')"
        " for h in get_ipython().events.callbacks[e]))"
    )
    s = session_factory(
        [
            code(LOAD),
            code("%%track -n one\nx = 1"),
            code("%load_ext nbtrack"),
            code("%reload_ext nbtrack"),
            code("nbtrack.load_ipython_extension(get_ipython())\nnbtrack.load_ipython_extension(get_ipython())"),
            code(handlers),
            code("%%track -n two\ny = 2"),
            code("%%track -n three\nz = 1 / 0", tags=["raises-exception"]),
            code("%unload_ext nbtrack\n%load_ext nbtrack"),
            code("%%track -n four\nw = 4"),
            code(handlers),
        ]
    )
    nb = s.execute_all()
    names = sorted(r.name for r in s.all_runs())
    assert names == ["four", "one", "three", "two"]
    assert stream_text(nb.cells[5]) == "2\n"  # one pre_run_cell and one post_run_cell handler
    assert stream_text(nb.cells[10]) == "2\n"
    for index in (1, 6, 7, 9):
        assert len(summaries(nb.cells[index])) == 1
    assert only(error_outputs(nb.cells[7])).ename == "ZeroDivisionError"
    assert only(s.run_named("two")).parent is None


# 8. the quickstart notebook -----------------------------------------------------------------------------


def test_quickstart_notebook(session_factory, tmp_path):
    shutil.copyfile(QUICKSTART, tmp_path / "quickstart.ipynb")
    s = session_factory(nbformat.read(tmp_path / "quickstart.ipynb", as_version=4).cells, name="quickstart.ipynb")
    nb = s.execute_all()

    frame = s.runs()
    assert len(frame) == 12
    assert set(frame["experiment"]) == {"quickstart"}
    assert sorted(frame["name"].value_counts().items()) == [("baseline", 2), ("broken", 1), ("sweep", 9)]

    first, second = s.run_named("baseline")
    assert first.status == second.status == "finished"
    assert first.params == {"lr": 0.05, "epochs": 15, "seed": 0}
    assert first.tags == {"stage": "explore"}
    assert set(first.metrics) == {"val_acc", "train_acc"}
    assert len(first.series.query("name == 'val_acc'")) == 15
    assert first.parent is None
    assert second.parent == first.id
    assert second.doc["data_change"]["state"] == "changed"
    assert second.doc["data_change"]["changed"] == ["train_df"]
    assert second.data["train_df"]["hash"] != first.data["train_df"]["hash"]
    assert second.data["val_df"]["hash"] == first.data["val_df"]["hash"]

    sweep = frame[frame["name"] == "sweep"]
    assert set(sweep["status"]) == {"finished"}
    assert sorted(zip(sweep["params.lr"], sweep["params.seed"], strict=True)) == [
        (lr, seed) for lr in (0.01, 0.1, 1.0) for seed in range(3)
    ]
    assert sweep["metrics.val_acc"].between(0, 1).all()

    broken = only(s.run_named("broken"))
    assert broken.status == "failed"
    assert broken.error["type"] == "ValueError"
    assert "learning rate must be positive" in broken.error["message"]
    broken_cell = next(c for c in nb.cells if c.source.startswith("%%track --name broken"))
    assert only(error_outputs(broken_cell)).ename == "ValueError"
