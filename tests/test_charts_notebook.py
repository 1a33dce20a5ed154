"""In a real kernel (nbclient): ``cmp.chart(...)`` and ``nbtrack.chart_runs(...)`` display as Vega-Lite v5
(the mimetype JupyterLab renders natively) with a text fallback, and the spec shown is the one built."""

from __future__ import annotations

import pytest
from kernel_helpers import code, new_session, outputs

from nbtrack.charts import MIMETYPE, SCHEMA, colors_for

pytest.importorskip("ipykernel")
pytestmark = pytest.mark.kernel

CELLS = [
    code(
        "import nbtrack\n"
        "for lr in (0.1, 0.3):\n"
        "    for seed in range(3):\n"
        "        with nbtrack.track('fit', params={'lr': lr, 'seed': seed}, environment=False):\n"
        "            for step in range(4):\n"
        "                nbtrack.log_metric('acc', 0.5 + 0.1 * step + lr + 0.001 * seed, step=step)"
    ),
    code("cmp = nbtrack.compare(metric='acc')\ncmp.chart('curves')"),
    code("nbtrack.chart_runs(list(nbtrack.runs()['run_id'])[:2])"),
]


def test_charts_display_as_vega_lite_in_a_kernel(tmp_path):
    session = new_session(tmp_path, CELLS, name="charts.ipynb")
    try:
        nb = session.execute_all()
        cells = [c for c in nb.cells if c.cell_type == "code"]
        assert not [o for c in cells for o in outputs(c, "error")]
        shown = outputs(cells[1], "execute_result")[0].data
        assert set(shown) == {MIMETYPE, "text/plain"} and "Chart curves" in shown["text/plain"]
        spec = shown[MIMETYPE]
        assert spec["$schema"] == SCHEMA
        kinds = {layer["mark"]["type"] for layer in spec["layer"]}
        assert kinds == {"line", "area"}
        bands = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "area")["data"]["values"]
        assert {b["group"] for b in bands} == {"lr=0.1", "lr=0.3"} and len(bands) == 8
        scale = spec["layer"][0]["encoding"]["color"]["scale"]
        assert dict(zip(scale["domain"], scale["range"], strict=True)) == colors_for(["lr=0.1", "lr=0.3"])
        runs = outputs(cells[2], "execute_result")[0].data[MIMETYPE]
        assert len({r["run_id"] for r in runs["layer"][0]["data"]["values"]}) == 2
    finally:
        session.close()
