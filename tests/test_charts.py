"""nbtrack.charts: Vega-Lite v5 specs of runs and comparisons, checked against the v5 JSON schema (shipped in
the labextension's vega-lite package) and against the data they show: rows equal the runs' values, bands and
intervals equal the comparison's, NaN -> null, one stable colour per group or run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from compare_helpers import record_runs

import nbtrack
from nbtrack.analysis.comparison import compare
from nbtrack.charts import MIMETYPE, PALETTE, SCHEMA, Chart, chart_runs, color_of, colors_for
from nbtrack.charts.spec import safe

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "labextension/node_modules/vega-lite/build/vega-lite-schema.json"


@pytest.fixture(scope="module")
def validator():
    jsonschema = pytest.importorskip("jsonschema")
    if not SCHEMA_FILE.exists():
        pytest.skip("the labextension's node_modules (vega-lite) are not installed: run jlpm install")
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["$ref"] == "#/definitions/TopLevelSpec"
    return jsonschema.Draft7Validator(schema)


def layers(spec):
    """Every unit spec inside ``spec`` (layers, concats), depth first."""
    inner = [spec]
    for key in ("layer", "vconcat", "hconcat"):
        for child in spec.get(key, []):
            inner += layers(child)
    return inner


def valid(validator, chart):
    assert isinstance(chart, Chart)
    text = json.dumps(chart.spec, allow_nan=False)  # JSON-safe: no NaN or inf anywhere
    errors = sorted(validator.iter_errors(json.loads(text)), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]
    assert chart.spec["$schema"] == SCHEMA


@pytest.fixture
def cmp(store_dir):
    record_runs()
    return compare("exp", metric="acc")


KINDS = ["curves", "box", "parallel", "scatter", "matrix"]


@pytest.mark.parametrize("kind", KINDS)
def test_comparison_charts_are_valid_vega_lite_v5(cmp, validator, kind):
    chart = cmp.chart(kind)
    valid(validator, chart)
    bundle = chart._repr_mimebundle_()
    assert bundle[MIMETYPE] is chart.spec and kind in bundle["text/plain"]
    assert chart.colors == colors_for(cmp.groups["group"])


def scale_of(spec):
    """The (domain, range) of every colour channel using an explicit domain."""
    out = []
    for unit in layers(spec):
        color = unit.get("encoding", {}).get("color", {})
        if "scale" in color and "domain" in color["scale"] and "range" in color["scale"]:
            out.append(dict(zip(color["scale"]["domain"], color["scale"]["range"], strict=True)))
    return out


def test_one_colour_per_group_in_every_kind_and_call(cmp):
    expected = colors_for(cmp.groups["group"])
    assert len(set(expected.values())) == len(expected) == 2
    for kind in ["curves", "box", "parallel", "scatter"]:
        scales = scale_of(cmp.chart(kind).spec)
        assert scales and all(s == expected for s in scales), kind
    again = compare("exp", metric="acc")
    assert again.chart("box").colors == expected
    for key in ("lr=0.1", "a" * 300, "<script>", "run 01ABC"):
        assert color_of(key) == color_of(key) and color_of(key) in PALETTE


def test_colors_for_is_distinct_and_order_free():
    keys = [f"lr={v}" for v in (0.1, 0.3, 1.0, 2.0, 3.0, 5.0, 7.0)]
    mapping = colors_for(keys)
    assert len(set(mapping.values())) == len(keys)
    assert colors_for(reversed(keys)) == mapping
    assert len(colors_for(range(25))) == 25  # more keys than colours: colours repeat, keys still mapped


def contrast(a: str, b: str) -> float:
    def lum(h):
        c = [int(h[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    hi, lo = sorted([lum(a), lum(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("background", ["#ffffff", "#111111", "#212121"])
def test_palette_has_graphics_contrast_in_light_and_dark(background):
    assert min(contrast(c, background) for c in PALETTE) >= 3.0


def test_curve_rows_equal_the_runs_series_and_bands_the_intervals(cmp, store_dir):
    chart = cmp.chart("curves")
    units = layers(chart.spec)
    run_layer = next(u for u in units if u.get("encoding", {}).get("detail", {}).get("field") == "run_id")
    rows = run_layer["data"]["values"]
    assert {r["run_id"] for r in rows} == set(cmp.runs["run_id"])
    for run_id in set(cmp.runs["run_id"]):
        series = nbtrack.get_run(run_id).series
        mine = sorted((r["step"], r["value"]) for r in rows if r["run_id"] == run_id)
        assert mine == sorted(zip(series["step"], series["value"], strict=True))
        assert {r["run"] for r in rows if r["run_id"] == run_id} == {"fit"}
    band = next(u for u in units if u.get("mark", {}).get("type") == "area")["data"]["values"]
    # the last step's value is the run's metric, so the band there is the comparison's interval
    for g in cmp.groups.to_dict(orient="records"):
        last = next(b for b in band if b["group"] == g["group"] and b["step"] == 2)
        assert last["n"] == g["n"]
        assert last["mean"] == pytest.approx(g["mean"])
        assert (last["low"], last["high"]) == pytest.approx((g["ci_low"], g["ci_high"]))
    tips = {t["field"] for t in run_layer["encoding"]["tooltip"]}
    assert {"run", "run_id", "group", "step", "value"} <= tips


def test_box_shows_every_score_and_the_comparisons_intervals(cmp):
    units = layers(cmp.chart("box").spec)
    points = next(
        u
        for u in units
        if u.get("mark", {}).get("type") == "point"
        and "tooltip" in u["encoding"]
        and u["encoding"]["tooltip"][0]["field"] == "run"
    )
    got = sorted((r["run_id"], r["value"]) for r in points["data"]["values"])
    assert got == sorted(zip(cmp.runs["run_id"], cmp.runs["value"], strict=True))
    rule = next(u for u in units if u.get("mark", {}).get("type") == "rule")
    intervals = {r["group"]: (r["ci_low"], r["ci_high"]) for r in rule["data"]["values"]}
    assert intervals == {
        g: (lo, hi) for g, lo, hi in zip(cmp.groups["group"], cmp.groups["ci_low"], cmp.groups["ci_high"], strict=True)
    }


def test_matrix_reads_as_the_pairs_table(validator):
    rng = np.random.default_rng(3)
    rows = [
        {"run_id": f"{c}{i}", "params.cfg": c, "metrics.loss": v}
        for c, mu in (("a", 0.3), ("b", 0.2), ("c", 0.25))
        for i, v in enumerate([*rng.normal(mu, 0.02, 5), np.inf if c == "c" else mu])
    ]
    cmp = compare(pd.DataFrame(rows), metric="loss")
    chart = cmp.chart("matrix")
    valid(validator, chart)
    cells = {(c["row"], c["column"]): c["p_better"] for c in chart.spec["data"]["values"]}
    assert len(cells) == 9 and all(cells[(g, g)] == 0.5 for g in ("cfg=a", "cfg=b", "cfg=c"))
    for pair in cmp.pairs.itertuples():
        assert cells[(pair.group, pair.reference)] == pytest.approx(pair.p_better)
        assert cells[(pair.reference, pair.group)] == pytest.approx(1 - pair.p_better)


def test_nan_and_inf_scores_become_null(validator):
    rows = [
        {"run_id": f"r{g}{i}", "params.g": g, "metrics.acc": v}
        for g, values in (("a", [0.5, 0.6, 0.7, math.nan]), ("b", [0.4, math.inf, 0.5, 0.45]))
        for i, v in enumerate(values)
    ]
    cmp = compare(pd.DataFrame(rows), metric="acc")
    for kind in ("box", "parallel", "scatter"):
        chart = cmp.chart(kind)
        valid(validator, chart)
        text = json.dumps(chart.spec, allow_nan=False)
        assert "NaN" not in text and "Infinity" not in text
    points = [
        r
        for u in layers(cmp.chart("box").spec)
        if u.get("mark", {}).get("type") == "point"
        for r in u.get("data", {}).get("values", [])
        if "run_id" in r
    ]
    assert sorted(r["value"] for r in points) == [0.4, 0.45, 0.5, 0.5, 0.6, 0.7]  # failures are counted, not drawn
    assert safe({"a": [math.nan, np.float64(math.inf), np.int64(3)], "b": pd.NA}) == {"a": [None, None, 3], "b": None}


def test_chart_runs_colours_each_run(store_dir, validator):
    record_runs(n=2)
    ids = list(nbtrack.runs(experiment="exp")["run_id"])
    chart = chart_runs(ids)
    valid(validator, chart)
    assert chart.colors == colors_for(ids)
    rows = next(u for u in layers(chart.spec) if u.get("mark", {}).get("type") == "line")["data"]["values"]
    assert {r["run_id"] for r in rows} == set(ids) and len(rows) == 3 * len(ids)
    one = chart_runs(ids[:1], metric="acc")
    assert list(one.colors) == [ids[0]]
    with pytest.raises(ValueError, match="no step series 'loss'"):
        chart_runs(ids, metric="loss")
    with pytest.raises(ValueError, match="compare the runs"):
        chart_runs(ids, kind="box")


def test_unknown_kind_and_metric_say_what_to_use(cmp):
    with pytest.raises(ValueError, match="use one of curves, box"):
        cmp.chart("pie")
    with pytest.raises(ValueError, match="not in this comparison"):
        cmp.chart("box", metric="f1")
