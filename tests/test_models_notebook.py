"""example_notebooks/models.ipynb, executed top to bottom in a real python3 kernel (nbclient).

An ordinary scikit-learn exploration with no nbtrack line in its cells but ``%%track``: the runs must hold
the hyperparameters written in the calls, the estimators' own parameters, the fitted models (loaded back with
identical predictions), the figure the cell showed and the file it wrote.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from kernel_helpers import new_session, outputs, stream_text

import nbtrack

pytest.importorskip("ipykernel")
pytestmark = pytest.mark.kernel

NOTEBOOK = Path(__file__).resolve().parents[1] / "example_notebooks" / "models.ipynb"
PNG = b"\x89PNG\r\n\x1a\n"


def test_models_notebook_keeps_params_models_figures_and_outputs(tmp_path):
    source = nbformat.read(NOTEBOOK, as_version=4)
    tracked = [c.source for c in source.cells if c.cell_type == "code" and c.source.startswith("%%track")]
    assert len(tracked) == 2 and not any("nbtrack." in body for body in tracked)  # no nbtrack line in the cells
    assert not any(o for c in source.cells if c.cell_type == "code" for o in c.get("outputs", []))  # stored clean
    session = new_session(tmp_path, source.cells, name="models.ipynb")
    try:
        nb = session.execute_all()
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        assert not [o for c in code_cells for o in outputs(c, "error")]
        store = nbtrack.get_store(session.store_dir)
        runs = {r["name"]: nbtrack.get_run(r["run_id"], store=store) for _, r in nbtrack.runs(store=store).iterrows()}
        assert set(runs) == {"logreg", "forest"}

        logreg = runs["logreg"]
        assert logreg.params["C"] == 0.5 and logreg.params["max_iter"] == 500
        assert logreg.param_sources["C"] == "call"
        assert "framework" in set(logreg.param_sources.values())  # the pipeline's own parameters
        [(name, model)] = logreg.models.items()
        assert name == "clf" and model["framework"] == "sklearn" and model["auto"]

        forest = runs["forest"]
        assert forest.params["n_estimators"] == 100 and forest.params["max_depth"] == 4
        figures = [a for a in forest.artifacts.values() if a["kind"] == "figure"]
        assert len(figures) == 1 and store.get_blob(figures[0]["blob"]).startswith(PNG)
        assert "predictions.csv" in forest.outputs and forest.outputs["predictions.csv"]["size"] > 1000

        final = stream_text(code_cells[-1])
        assert final.strip().endswith("True")  # the best run's model, loaded back, predicts the same
    finally:
        session.close()
