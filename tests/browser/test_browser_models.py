"""A run's models, figures and output files in the sidebar's details, in a real browser: the model listed with
its class, the figure shown as an image fetched from the server, and each download serving the run's own bytes."""

from __future__ import annotations

import pickle

import pytest

from nbtrack.store import local as store_mod
from tests.contents_helpers import fitted_model, record_run

from .conftest import needs_chromium, notebook, open_notebook, open_sidebar, screenshot, widen_sidebar

pytestmark = [pytest.mark.browser, needs_chromium]

SIDEBAR = "#nbtrack-runs"


@pytest.fixture(scope="module")
def models_folder(lab):
    folder = lab.root / "models"
    folder.mkdir()
    store = store_mod.get_store(folder / ".nbtrack")
    first = record_run(store, name="prepare")
    second = record_run(store, name="train", c=1.0, upstream={"results/preds.csv": first.id})
    store_mod._stores.pop((folder / ".nbtrack").absolute(), None)
    notebook(folder / "models.ipynb", ["1 + 1"])  # its experiment is "models", as the runs'
    return first, second


def test_details_show_the_model_and_the_figure(page, lab, artifacts, models_folder):
    first, second = models_folder
    open_notebook(page, lab, "models/models.ipynb")
    open_sidebar(page)
    widen_sidebar(page)
    sidebar = page.locator(SIDEBAR)
    sidebar.get_by_role("button", name="prepare", exact=True).click()
    details = page.locator(".jp-nbtrack-details", has_text="prepare").last
    models = details.locator("table.jp-nbtrack-models")
    models.wait_for(timeout=30_000)
    text = models.inner_text()
    assert "sklearn.linear_model._logistic.LogisticRegression" in text and "pickle" in text
    assert "not kept: over the 500 MB limit" in text

    # the figure: an <img> the browser decoded, from the run's own PNG
    figure = details.locator("img.jp-nbtrack-figure")
    figure.wait_for(timeout=30_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=figure.element_handle(), timeout=30_000)
    assert figure.get_attribute("alt") == "figure-1.png" and figure.get_attribute("src").startswith("blob:")

    # params by source, outputs with sizes, the run downstream
    assert details.locator("caption", has_text="Params, by where they were written").count() == 1
    assert "results/preds.csv" in details.inner_text() and "12 B" in details.inner_text()
    assert second.id in details.inner_text()

    # the model's download link serves the pickled model (the page's login cookie authenticates it)
    link = models.get_by_role("link", name="Download")
    href = link.get_attribute("href")
    assert f"/nbtrack/api/runs/{first.id}/blobs/{first.models['clf']['blob']}" in href
    response = page.request.get(href)
    assert response.ok and response.headers["content-disposition"] == "attachment; filename*=UTF-8''clf.pkl"
    x = [[0.0, 1.0], [1.0, 0.0]]
    assert (pickle.loads(response.body()).predict_proba(x) == fitted_model(0.5).predict_proba(x)).all()
    screenshot(page, artifacts, "details-models.png")
