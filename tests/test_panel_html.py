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
