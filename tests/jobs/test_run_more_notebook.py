"""example_notebooks/run_more.ipynb, executed top to bottom in a real python3 kernel (nbclient).

The comparison of two C values with three seeds each is undecided; ``nbtrack.run_more(cmp)`` on the local
engine adds runs until the sequential test decides it, and every added run is a finished run of the store.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from kernel_helpers import new_session, outputs, stream_text

import nbtrack

pytest.importorskip("ipykernel")
pytest.importorskip("sklearn")
pytestmark = [pytest.mark.kernel, pytest.mark.xdist_group("jobs")]

NOTEBOOK = Path(__file__).resolve().parents[2] / "example_notebooks" / "run_more.ipynb"


def test_run_more_notebook_turns_undecided_into_decided(tmp_path):
    source = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(o for c in source.cells if c.cell_type == "code" for o in c.get("outputs", []))  # stored clean
    session = new_session(tmp_path, source.cells, name="run_more.ipynb", timeout=600)
    try:
        start = time.perf_counter()
        nb = session.execute_all()
        print(f"run_more.ipynb executed in {time.perf_counter() - start:.1f} s")
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        assert not [o for c in code_cells for o in outputs(c, "error")]
        shown = next(c for c in code_cells if c.source.startswith("cmp = nbtrack.compare"))
        html = next(o for o in outputs(shown, "execute_result") if "text/html" in o.data).data["text/html"]
        assert "inconclusive" in html or "needs more runs" in html
        final = stream_text(code_cells[-1])
        assert "stopped: decided" in final and "C=0.001 against C=1.0: worse" in final
        runs = session.runs(experiment="logreg")
        assert set(runs["status"]) == {"finished"} and len(runs) > 6
        added = runs.iloc[: len(runs) - 6]
        for _c, rows in added.groupby("params.C"):
            assert not set(rows["params.seed"]) & {0, 1, 2}  # new seeds only
        origin = nbtrack.get_run(added["run_id"].iloc[0], store=session.store_dir).origin
        assert origin["kind"] == "run_more"
    finally:
        session.close()
