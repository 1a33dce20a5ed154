"""nbtrack.data.findings: a data-check report as a DataFrame, text and (escaped) HTML."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack.data import fingerprint as fpmod


@pytest.fixture(autouse=True)
def _fresh_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_CACHE_DIR", str(tmp_path / "cache"))
    fpmod._profile_cache.clear()


# the report -------------------------------------------------------------------------------------------


def normal(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


def test_report_frame_text_and_escaped_html():
    ref = pd.DataFrame({"<b>x</b>": normal(2000), "gone": 1})
    cur = pd.DataFrame({"<b>x</b>": normal(2000) + 2})
    report = nbtrack.check_data(cur, ref)
    frame = report.frame
    assert list(frame.columns) == ["severity", "column", "statistic", "value", "threshold"]
    assert set(frame["severity"]) == {"error", "warning"} and len(frame) == len(report.findings)
    assert frame.loc[frame["statistic"] == "mean_shift", "threshold"].item() == 0.5
    text = str(report)
    assert "1 error" in text and "column 'gone' (int64) is missing" in text and "mean_shift" not in text
    html = report._repr_html_()
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
