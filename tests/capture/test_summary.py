"""nbtrack.capture.summary: the line shown after a tracked cell, as text and as escaped HTML.

(tests/test_summary.py is nbtrack.analysis.summary.)
"""

from __future__ import annotations

import math

from nbtrack import values
from nbtrack.capture.summary import RunSummary

NO_DATA = {"state": "none", "changed": [], "added": [], "removed": []}


def doc(**fields):
    base = {"id": "01hxyz", "status": "finished", "name": "fit", "duration": 1.234, "params": {}, "metrics": {}}
    return {**base, **fields}


def test_text_counts_params_and_metrics():
    text = repr(RunSummary(doc(params={"lr": 0.1, "seed": 1}, metrics={"acc": 0.91234567, "loss": 3}), NO_DATA))
    expected = "nbtrack ✓ finished fit [01hxyz] · 1.23 s · 2 params · 2 metrics (acc=0.9123, loss=3) · no data inputs"
    assert text == expected
    one = repr(RunSummary(doc(params={"lr": 0.1}, metrics={"acc": 1.0}, name=None), NO_DATA))
    assert "1 param ·" in one and "1 metric (acc=1)" in one and "finished [01hxyz]" in one
    assert "0 params · 0 metrics" in repr(RunSummary(doc(), NO_DATA))


def test_only_four_metrics_are_shown_and_long_values_are_cut():
    metrics = {f"m{i}": i for i in range(6)}
    text = repr(RunSummary(doc(metrics=metrics), NO_DATA))
    assert "6 metrics (m0=0, m1=1, m2=2, m3=3 +2)" in text
    text = repr(RunSummary(doc(metrics={"label": "x" * 40}), NO_DATA))
    assert "label=" + "x" * 21 + "..." in text and "x" * 25 not in text


def test_encoded_values_are_shown_decoded():
    loss, _ = values.encode(math.inf)  # how the store keeps a non-finite metric
    assert isinstance(loss, dict)
    assert "loss=inf" in repr(RunSummary(doc(metrics={"loss": loss}), NO_DATA))


def test_data_change_notes():
    first = {"state": "first", "changed": [], "added": [], "removed": []}
    assert "data: first run of this cell" in repr(RunSummary(doc(), first))
    same = {"state": "unchanged", "changed": [], "added": [], "removed": []}
    assert repr(RunSummary(doc(), same)).endswith("· data unchanged")
    changed = {"state": "changed", "changed": ["train", "test"], "added": ["extra"], "removed": ["old"]}
    text = repr(RunSummary(doc(data_notes={"train": "+20 rows"}), changed))
    assert text.endswith("· data changed train (+20 rows), test; new extra; no longer used old")


def test_failed_and_unsaved_runs_say_so():
    error = {"type": "ValueError", "message": "bad " + "y" * 200}
    text = repr(RunSummary(doc(status="failed", error=error), NO_DATA, saved=False))
    assert text.startswith("nbtrack ✗ failed fit")
    assert "· ValueError: bad " + "y" * 76 + " ·" in text and "y" * 77 not in text
    assert text.endswith("· NOT SAVED (see warning)")


def test_html_escapes_names_values_and_errors():
    evil = "<script>alert(1)</script>"
    summary = RunSummary(
        doc(name=evil, params={"p": 1}, metrics={"m": evil}, error={"type": "E", "message": "<b>x</b>"}),
        {"state": "changed", "changed": ["<i>d</i>"], "added": [], "removed": []},
    )
    html = summary._repr_html_()
    assert "<script" not in html and "<b>x" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert html.startswith('<div class="nbtrack-summary"') and "1 param" in html and "1 metric" in html
    assert 'data-nbtrack-run="01hxyz"' in html and ">01hxyz</code>" in html
    quoted = RunSummary(doc(id='x"><script>'), NO_DATA)._repr_html_()  # ids are checked, but escape anyway
    assert 'data-nbtrack-run="x&quot;&gt;&lt;script&gt;"' in quoted and "<script" not in quoted
    bundle = summary._repr_mimebundle_()
    assert bundle == {"text/plain": repr(summary), "text/html": html}
    assert evil in bundle["text/plain"]  # plain text is shown as text


def test_params_are_counted_by_where_they_were_written():
    params = {"C": 0.5, "max_iter": 200, **{f"f{i}": i for i in range(10)}, "lr": 0.1}
    sources = {"C": "call", "max_iter": "call", **{f"f{i}": "framework" for i in range(10)}, "lr": "explicit"}
    text = repr(RunSummary(doc(params=params, param_sources=sources), NO_DATA))
    assert "· 13 params (1 explicit, 2 inline, 10 framework) ·" in text
    # a param the record gives no source for (an earlier release's run mixed in) is "other", never dropped
    text = repr(RunSummary(doc(params={"a": 1, "b": 2, "c": 3}, param_sources={"a": "input", "b": "??"}), NO_DATA))
    assert "· 3 params (1 input, 2 other) ·" in text
    assert "· 2 params ·" in repr(RunSummary(doc(params={"a": 1, "b": 2}), NO_DATA))  # no sources: as before


MODEL = {"blob": "a" * 32, "format": "skops", "class": "sklearn.linear_model.LogisticRegression", "size": 10}


def test_models_figures_and_outputs_are_counted_on_one_line():
    skipped = {"skipped": "over the 500 MB limit", "size": 600_000_000, "class": "big.Model"}
    fields = {
        "models": {"clf": MODEL, "forest": dict(MODEL, blob="b" * 32), "huge": skipped},
        "artifacts": {
            "figure-1.png": {"blob": "c" * 32, "size": 5, "media_type": "image/png", "kind": "figure"},
            "notes.txt": {"blob": "d" * 32, "size": 5, "media_type": "text/plain", "kind": "file"},
        },
        "outputs": {"results/preds.csv": {"hash": "e" * 32, "size": 1500, "kept": None}, "m.bin": {"size": 500}},
    }
    summary = RunSummary(doc(**fields), NO_DATA)
    text = repr(summary)
    assert (
        "· 0 metrics · 2 models · 1 model not kept: over the 500 MB limit · 1 figure · 1 artifact"
        " · 2 output files (2.0 KB) · no data inputs" in text
    )
    assert "\n" not in text and "\n" not in summary._repr_html_()
    lone = repr(RunSummary(doc(models={"clf": MODEL}, artifacts={"f.png": {"kind": "figure"}}), NO_DATA))
    assert "· 1 model · 1 figure ·" in lone and "artifact" not in lone and "output" not in lone


def test_names_and_reasons_in_the_html_are_escaped():
    evil = "<img src=x onerror=alert(1)>"
    summary = RunSummary(doc(models={"m": {"skipped": evil, "class": evil}}, param_sources={"p": evil}), NO_DATA)
    html = summary._repr_html_()
    assert "<img" not in html and "1 model not kept: &lt;img src=x onerror=alert(1)&gt;" in html
