"""The ipywidgets panel driven from Python (its controls, static fallback, live refresh), and the panel in a real
kernel (built by ``%nbtrack panel``, driven in later cells and by a comm message as a frontend would send it)."""

from __future__ import annotations

import json
import textwrap
import time

import kernel_helpers as k
import pytest
from panel_helpers import EVIL, add_runs, rows_shown

import nbtrack
from nbtrack.store.local import get_store
from nbtrack.views import widgets as panel_mod


def test_panel_filters_sort_and_pages_through_its_controls(store_dir):
    add_runs(get_store(), 130, experiment="bulk")
    add_runs(get_store(), 5, experiment="small", start=1_800_000_000.0)
    p = nbtrack.panel(live=False)
    try:
        assert p.model.experiment is None and p.experiment.value == ""
        assert [v for _, v in p.experiment.options] == ["", "bulk", "small"]
        assert rows_shown(p) == 50
        assert p.page_label.value == "page 1 of 3"
        assert p.prev_button.disabled and not p.next_button.disabled
        p.next_button.click()
        assert p.page_label.value == "page 2 of 3" and p.model.page == 1
        p.last_button.click()
        assert p.next_button.disabled and rows_shown(p) == 35
        p.experiment.value = "small"
        assert p.model.experiment == "small" and p.page_label.value == "page 1 of 1"
        assert rows_shown(p) == 5
        p.experiment.value = ""
        p.where.value = "params.i < 3"
        assert p.model.n_matching == 3 + 3
        p.where.value = "params.i <"
        assert "cannot parse" in p.message.value
        p.where.value = ""
        p.search.value = "bulk 12"
        assert p.model.n_matching == 11  # bulk 12 and bulk 120-129 of "bulk" ("small" stops at bulk 4)
        p.search.value = ""
        p.sort_by.value = "params.i"
        p.descending.value = False
        assert p.model.page_frame()["params.i"].tolist()[:4] == [0, 0, 1, 1]
        assert "i ▲" in p.grid.labels
        p.status.value = "failed"
        assert "No run matches" in p.summary_line.value and rows_shown(p) == 0
        p.status.value = ""
        assert "same" not in p.grid.labels  # one value for every run: hidden
        p.all_columns.value = True
        assert "same" in p.grid.labels
    finally:
        p.close()


def test_panel_mimebundle_has_a_static_fallback(sweep):
    p = nbtrack.panel(live=False)
    bundle = p._repr_mimebundle_()
    assert set(bundle) == {"application/vnd.jupyter.widget-view+json", "text/html", "text/plain"}
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == p.model_id
    assert bundle["text/html"].count('<tr class="nbtrack-run">') == 7
    assert "static copy of the nbtrack panel" in bundle["text/html"]
    assert "jupyterlab_widgets" in bundle["text/html"]
    assert bundle["text/plain"].startswith("nbtrack panel: Runs 1–7 of 7")
    p.close()
    assert p.comm is None and not p.polling


def test_panel_presets_the_notebooks_experiment(sweep, monkeypatch):
    p = nbtrack.panel(live=False)
    assert p.model.experiment is None  # no notebook known: all runs
    p.close()
    monkeypatch.setenv("JPY_SESSION_NAME", "notebooks/sweep.ipynb")
    p = nbtrack.panel(live=False)
    assert p.model.experiment == "sweep" and p.experiment.value == "sweep" and p.model.n_matching == 6
    p.experiment.value = ""
    assert p.model.n_matching == 7
    p.close()
    monkeypatch.setenv("JPY_SESSION_NAME", "fresh.ipynb")  # no runs yet: preset anyway, runs will land there
    p = nbtrack.panel(live=False)
    assert p.experiment.value == "fresh" and p.model.n_matching == 0
    p.close()
    p = nbtrack.panel("other", live=False)
    assert p.model.experiment == "other" and p.model.n_matching == 1
    p.close()


def test_panel_live_refresh_thread(sweep):
    p = panel_mod.Panel(None, live=True, interval=0.05)
    try:
        assert p.polling
        with nbtrack.track(name="landed", experiment="sweep", environment=False):
            pass
        deadline = time.monotonic() + 10
        while "landed" not in p.grid.text() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "landed" in p.grid.text()
        p._view_count = 1  # a frontend shows it
        p._view_count = 0  # ... and its output was cleared: polling pauses
        assert not p.polling
        p._view_count = 1
        assert p.polling
        p.live.value = False
        assert not p.polling
        p.live.value = True
        assert p.polling
    finally:
        p.close()
    assert not p.polling and not p._thread.is_alive()


def test_panel_is_callable_after_the_submodule_is_imported(sweep):
    import importlib

    module = importlib.import_module("nbtrack.views.widgets")
    assert callable(nbtrack.panel) and nbtrack.panel is module.panel
    p = nbtrack.panel(live=False)
    assert isinstance(p, module.Panel)
    p.close()


def src(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def printed(cell) -> dict:
    """The JSON object a cell printed last."""
    lines = [line for line in k.stream_text(cell).splitlines() if line.startswith("{")]
    assert lines, cell.outputs
    return json.loads(lines[-1])


@pytest.fixture
def kernel_session(tmp_path):
    sessions = []

    def make(cells):
        session = k.new_session(tmp_path, cells, name="exp.ipynb")
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


SETUP = src(f"""
    %load_ext nbtrack
    import json, time
    import nbtrack
    for lr in (0.01, 0.1):
        for seed in range(3):
            with nbtrack.track(name=f"lr{{lr}}", params={{"lr": lr, "seed": seed, "batch": 32}}):
                nbtrack.log_metric("acc", 0.8 + lr + seed / 100)
    with nbtrack.track(name={EVIL!r}, params={{"lr": 1.0, "seed": 0, "batch": 32}}):
        nbtrack.log_metric("acc", 0.1)
    with nbtrack.track(name="elsewhere", experiment="other"):
        pass
""")


@pytest.mark.kernel
def test_panel_in_a_real_kernel(kernel_session):
    session = kernel_session(
        [
            k.code(SETUP),
            k.code("%%track --name exported -q\nlr = 0.3\nacc = 0.7\nnbtrack.log_metric('acc', acc)"),
            k.code("p = %nbtrack panel\np"),
            k.code(
                src("""
            print(json.dumps({"experiment": p.model.experiment, "dropdown": p.experiment.value,
                              "polling": p.polling, "where": p.where.model_id,
                              "cells": [row.cells.model_id for row in p.grid.rows],
                              "rows": len(p.grid.shown_rows)}))
        """)
            ),
            k.code(
                src("""
            p.search.value = "lr0.1"
            print(json.dumps({"rows": len(p.grid.shown_rows), "html": p.grid.text()}))
        """)
            ),
            k.code(
                src("""
            p.search.value = ""
            for row in p.grid.shown_rows:  # ticked as a click on each row's checkbox does
                row.check.value = "lr0." in row.check.tooltip
            p.compare_button.click()
            print(json.dumps({"selected": len(p.model.selected), "message": p.message.value,
                              "result": p.result.value,
                              "chart": p.chart.bundle is not None or p.plot.value[:4].hex() == "89504e47"}))
        """)
            ),
            k.code(
                src("""
            import os
            for row in p.grid.shown_rows:
                row.check.value = row.check.tooltip == "Select exported"
            p.export_button.click()
            print(json.dumps({"message": p.message.value, "title": p.result_title.value, "result": p.result.value,
                              "files": sorted(os.listdir("."))}))
        """)
            ),
            k.code(
                src("""
            evil = [row for row in p.grid.shown_rows if "<img" in row.check.tooltip]
            other = [row for row in p.grid.shown_rows if "<img" not in row.check.tooltip]
            for row in p.grid.shown_rows:
                row.check.value = row is evil[0] or row is other[0]
            p.diff_button.click()
            p.delete_button.click()
            print(json.dumps({"diff": p.result.value, "confirm": p.confirm_text.value, "table": p.grid.text()}))
        """)
            ),
        ]
    )
    with session.kernel():
        results = [session.run(i) for i in range(len(session.nb.cells))]
        shown = k.results(results[2])[0].data
        assert "application/vnd.jupyter.widget-view+json" in shown
        assert "&lt;img src=x onerror=alert(1)&gt;" in shown["text/html"]
        assert "<img" not in shown["text/html"] and "static copy of the nbtrack panel" in shown["text/html"]

        state = printed(results[3])
        assert state["experiment"] == "exp" and state["dropdown"] == "exp"  # the notebook's experiment
        assert state["polling"] is True and state["rows"] == 8

        searched = printed(results[4])
        assert searched["rows"] == 3 and "lr0.01" not in searched["html"]

        compared = printed(results[5])
        assert compared["selected"] == 6 and compared["message"] == ""
        assert "nbtrack-compare" in compared["result"] and compared["chart"] is True  # Vega-Lite or PNG

        exported = printed(results[6])
        assert exported["message"] == "" and "Exported run" in exported["title"], exported
        assert "Written to" in exported["result"] and any(f.endswith(".py") for f in exported["files"])

        acted = printed(results[7])
        assert "nbtrack-diff" in acted["diff"] and "Delete 2 runs" in acted["confirm"]
        for value in acted.values():
            assert "<img" not in value
        assert "&lt;img src=x onerror=alert(1)&gt;" in acted["table"]

        # Then a client plays the frontend: it changes the Where field with the comm message a widget manager
        # sends, and watches IOPub while a busy cell records a run: the polling thread's table update must
        # arrive before that cell ends.
        kc = session.blocking_client()
        try:
            msg = kc.session.msg(
                "comm_msg",
                {
                    "comm_id": state["where"],
                    "data": {"method": "update", "state": {"value": "params.seed == 2"}, "buffer_paths": []},
                },
            )
            kc.shell_channel.send(msg)
            wait_idle(kc, msg["header"]["msg_id"])
            where = printed(
                session.run_extra(
                    src("""
                print(json.dumps({"where": p.model.where, "rows": len(p.grid.shown_rows)}))
            """)
                )
            )
            assert where == {"where": "params.seed == 2", "rows": 2}

            busy = kc.execute(
                src("""
                p.where.value = ""
                with nbtrack.track(name="landed-late", params={"lr": 0.5, "seed": 9, "batch": 32}):
                    pass
                time.sleep(6)
            """)
            )
            updates = wait_idle(kc, busy, collect=set(state["cells"]))
        finally:
            kc.stop_channels()
        assert any("landed-late" in value for value in updates), "no table update reached the client during the cell"

        closed = printed(
            session.run_extra(
                src("""
            thread = p._thread
            p.close()
            print(json.dumps({"polling": p.polling, "alive": thread.is_alive(), "comm": p.comm is None}))
        """)
            )
        )
        assert closed == {"polling": False, "alive": False, "comm": True}


def wait_idle(kc, msg_id, collect=None, timeout=60):
    """Read IOPub until the kernel is idle after request ``msg_id``; the values sent to the comms in ``collect``
    (the grid's row cells) while it was busy."""
    values = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = kc.get_iopub_msg(timeout=timeout)
        content = reply["content"]
        if reply["msg_type"] == "comm_msg" and content.get("comm_id") in (collect or ()):
            value = content["data"].get("state", {}).get("value")
            if isinstance(value, str):
                values.append(value)
        if (
            reply["parent_header"].get("msg_id") == msg_id
            and reply["msg_type"] == "status"
            and content["execution_state"] == "idle"
        ):
            return values
    raise TimeoutError(f"kernel not idle after {timeout} s")
