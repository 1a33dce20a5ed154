"""nbtrack.analysis.report: a comparison as text and HTML (param values escaped in HTML, plain in text)."""

from __future__ import annotations

import numpy as np
from compare_helpers import frame

from nbtrack.analysis.comparison import compare


def test_param_values_are_escaped_in_html_and_plain_in_text():
    evil = "<script>alert(1)</script>"
    groups = {evil: np.linspace(0, 1, 6), "ok": np.linspace(0.5, 1.5, 6)}
    cmp = compare(frame(groups, param="name", metric="m<b>"), metric="m<b>")
    page = cmp._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page and "m&lt;b&gt;" in page
    assert evil in cmp.to_text() and repr(cmp) == cmp.to_text()
