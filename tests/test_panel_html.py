"""The panel's page as an HTML table: every name and value is escaped."""

from __future__ import annotations

from panel_helpers import EVIL

import nbtrack
from nbtrack.views.panel_model import PanelModel


def test_page_html_escapes_everything(store_dir):
    with nbtrack.track(
        name=EVIL,
        experiment="<b>exp</b>",
        params={"p": "<script>x</script>", "q": 1},
        tags={"t": '"><svg onload=1>'},
        environment=False,
    ):
        pass
    with nbtrack.track(name="plain", experiment="<b>exp</b>", params={"p": "ok", "q": 2}, environment=False):
        pass
    model = PanelModel(all_columns=True, search="<img")
    html = model.page_html()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img" not in html and "<script" not in html and "<svg" not in html and "<b>exp" not in html
    assert "&quot;&gt;&lt;svg onload=1&gt;" in html
    model.set(search=None, where="params.p == '<x>' and params.nope")
    assert "<x>" not in model.page_html() or "&lt;x&gt;" in model.page_html()


def test_details_list_models_figures_and_outputs_with_downloads(store_dir):
    import base64
    import re

    from contents_helpers import record_run

    store = nbtrack.get_store()
    first = record_run(store, name=EVIL)
    second = record_run(store, name="train", keep_output=False, upstream={"results/preds.csv": first.id})
    model = PanelModel()
    page = model.details_html(first.id)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    cells = re.sub(r"<td [^>]*>", "<td>", page)
    assert "<tr><td>inline</td><td>C</td><td>0.5</td></tr>" in cells
    # the figure inline, as the PNG the record references
    (src,) = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="figure-1.png"', page)
    assert base64.b64decode(src) == store.get_blob(first.artifacts["figure-1.png"]["blob"])
    # each kept blob a data: download under a safe name; the skipped model says why
    links = dict(re.findall(r'<a download="([^"]+)" href="data:application/octet-stream;base64,([^"]+)">', page))
    assert set(links) == {"clf.pkl", "figure-1.png", "notes.txt", "preds.csv"}  # as the server names them
    assert base64.b64decode(links["preds.csv"]) == b"id,pred\n1,0\n"
    assert "not kept: over the 500 MB limit" in page and "sklearn.linear_model._logistic.LogisticRegression" in page
    assert f"<tr><td>downstream</td><td>results/preds.csv</td><td>{second.id}</td></tr>" in cells
    later = model.details_html(second.id)
    assert "hashed only" in later and f">{first.id}<" in later and ">upstream<" in later


def test_large_blobs_are_not_embedded(store_dir, monkeypatch):
    from contents_helpers import record_run

    from nbtrack.views import panel_html

    run = record_run(nbtrack.get_store(), name="big")
    monkeypatch.setattr(panel_html, "INLINE_BYTES", 100)  # the figure and the model are larger than this
    page = PanelModel().details_html(run.id)
    assert "data:image/png" not in page and "(too large to show)" in page
    assert "too large to embed: nbtrack.load_model or the sidebar" in page
    assert '<a download="notes.txt"' in page  # 16 bytes: still a link
