"""example_notebooks/compare.ipynb, executed top to bottom in a real python3 kernel (nbclient).

The kernel's cwd is a temporary directory and NBTRACK_DIR a store inside it (kernel_helpers does both). The
notebook must run without errors in under 20 s (asserted with slack for busy machines), show the
comparison and its plots, and tell the truth the example is about: the single best run's configuration is
the worst one.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from kernel_helpers import new_session, outputs, stream_text

import nbtrack

pytest.importorskip("ipykernel")
pytestmark = pytest.mark.kernel

NOTEBOOK = Path(__file__).resolve().parents[1] / "example_notebooks" / "compare.ipynb"


def test_compare_notebook_runs_and_tells_the_truth(tmp_path):
    source = nbformat.read(NOTEBOOK, as_version=4)
    assert any("%load_ext nbtrack" in c.source for c in source.cells)
    assert any("nbtrack.track(" in c.source for c in source.cells)
    assert any("nbtrack.compare(" in c.source for c in source.cells)
    assert not any(o for c in source.cells if c.cell_type == "code" for o in c.get("outputs", []))  # stored clean
    session = new_session(tmp_path, source.cells, name="compare.ipynb")
    try:
        start = time.perf_counter()
        nb = session.execute_all()
        elapsed = time.perf_counter() - start
        print(f"compare.ipynb executed in {elapsed:.1f} s")
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        assert not [o for c in code_cells for o in outputs(c, "error")]

        runs = session.runs(experiment="lr-sweep", status="finished")
        assert len(runs) == 30 and sorted(runs["params.lr"].unique()) == [0.3, 1.0, 2.0]
        best = runs.sort_values("metrics.val_acc", ascending=False).iloc[0]
        assert best["params.lr"] == 0.3  # the leaderboard's top run...

        cmp = nbtrack.compare("lr-sweep", metric="val_acc", store=session.store_dir)
        assert cmp.verdict("lr=0.3") == "worse"  # ...comes from the configuration that is worse
        assert cmp.pairs["reference"].iloc[0] != "lr=0.3"
        assert cmp.groups["same_data"].all()

        shown = next(c for c in code_cells if "cmp = nbtrack.compare" in c.source)
        html = next(o for o in outputs(shown, "execute_result") if "text/html" in o.data).data["text/html"]
        assert "nbtrack-compare" in html and "worse" in html and "lr=0.3" in html
        plots = [c for c in code_cells if c.source.startswith("cmp.plot(")]
        assert len(plots) == 3
        assert all("image/png" in o.data for c in plots for o in outputs(c, "execute_result"))
        final = stream_text(code_cells[-1])
        assert "best single run: lr=0.3" in final and "'lr=0.3': 'worse'" in final
    finally:
        session.close()
