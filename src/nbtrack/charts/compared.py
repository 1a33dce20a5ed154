"""Interactive charts of a :class:`~nbtrack.analysis.comparison.Comparison`, as Vega-Lite v5 specs.

Everything shown is read from the comparison, not recomputed: scores from ``cmp.runs``, the mean's interval
from ``cmp.groups`` (``ci_low``, ``ci_high``), P(better) against the reference from ``cmp.pairs``. Colours
are per group (:func:`~nbtrack.charts.colors.colors_for` of the group labels), the same in every kind.
Kinds: ``curves`` (per-step series, group mean and interval bands), ``box`` (box, every run, mean and
interval per group), ``parallel`` (params -> metric), ``scatter`` (each param against the metric),
``matrix`` (P(row better than column)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from nbtrack.analysis.grouping import slice_rows
from nbtrack.analysis.keys import format_value, sort_key
from nbtrack.analysis.metrics import short_metric
from nbtrack.charts.colors import colors_for
from nbtrack.charts.curves import curves_panel, load_runs, run_label
from nbtrack.charts.spec import Chart, color_encoding, combine, panel, safe, tooltip

KINDS = ("curves", "box", "parallel", "scatter", "matrix")


def group_colors(cmp: Any) -> dict[str, str]:
    """``{group label: colour}`` for every group of the comparison (what its table and charts use)."""
    return colors_for(cmp.groups["group"]) if len(cmp.groups) else {}


def panels_of(cmp: Any, metric: str | None) -> list[tuple[str, Any]]:
    """(metric, data set) pairs to draw, in the comparison's order."""
    metrics = [short_metric(metric)] if metric is not None else list(cmp.metrics)
    unknown = [m for m in metrics if m not in cmp.metrics]
    if unknown:
        raise ValueError(f"metric {unknown[0]!r} is not in this comparison ({', '.join(cmp.metrics)})")
    return [(m, ds) for m in metrics for ds in cmp.datasets(m)]


def panel_title(cmp: Any, metric: str, dataset: Any) -> str:
    arrow = "higher" if cmp.directions[metric] else "lower"
    title = f"{metric} ({arrow} is better)"
    return title if dataset is None else f"{title}, {cmp.dataset_name}={dataset}"


def _names(cmp: Any) -> dict[str, str]:
    """Run id -> run label (name or short id) for the runs of the comparison, read from its store."""
    ids = list(dict.fromkeys(cmp.runs["run_id"])) if len(cmp.runs) else []
    try:
        return {run.id: run_label(run) for run in load_runs(ids, cmp.store)}
    except Exception:  # runs given as a DataFrame need not be in a store
        return {r: str(r)[-8:] for r in ids}


def _score_rows(cmp: Any, m: str, ds: Any, names: dict[str, str]) -> list[dict[str, Any]]:
    runs = slice_rows(cmp.runs, m, ds)
    return [
        {
            "run_id": str(r["run_id"]),
            "run": names.get(str(r["run_id"]), str(r["run_id"])[-8:]),
            "group": str(r["group"]),
            "value": safe(r["value"]),
            **{f"param:{p}": safe(r[p]) for p in cmp.params if p in r},
        }
        for r in runs.to_dict(orient="records")
    ]


def curves(cmp: Any, metric: str | None, colors: dict[str, str], series: str | None = None) -> list[dict]:
    out = []
    for m, ds in panels_of(cmp, metric):
        rows = slice_rows(cmp.runs, m, ds)
        groups = {str(r): str(g) for r, g in zip(rows["run_id"], rows["group"], strict=True)}
        methods = set(slice_rows(cmp.groups, m, ds)["ci_method"])
        method = methods.pop() if len(methods) == 1 else "hall-t"
        runs = load_runs(list(groups), cmp.store)
        name = series or m
        title = f"{panel_title(cmp, m, ds)}: mean, {cmp.confidence:.0%} CI"
        p = curves_panel(runs, name, title, colors, groups, cmp.confidence, method)
        if p is not None:
            out.append(p)
    if not out:
        raise ValueError(f"the runs logged no step series {series or metric or ', '.join(cmp.metrics)!r}")
    return out


def box(cmp: Any, metric: str | None, colors: dict[str, str]) -> list[dict]:
    names = _names(cmp)
    level = f"{cmp.confidence:.0%}"
    out = []
    for m, ds in panels_of(cmp, metric):
        groups = slice_rows(cmp.groups, m, ds)
        order = [str(g) for g in groups["group"]]
        stats = [
            {
                "group": str(g["group"]),
                "mean": safe(g["mean"]),
                "ci_low": safe(g["ci_low"]),
                "ci_high": safe(g["ci_high"]),
                "n": safe(g["n"]),
                "n_failed": safe(g.get("n_failed", 0)),
                "reference": bool(g.get("is_reference", False)),
            }
            for g in groups.to_dict(orient="records")
        ]
        x = {
            "field": "group",
            "type": "nominal",
            "sort": order,
            "title": "group",
            "axis": {"labelLimit": 160, "labelAngle": 0 if max(map(len, order), default=0) <= 12 else -30},
        }
        color = color_encoding("group", colors, "group", legend=False)
        y = {"type": "quantitative", "title": m, "scale": {"zero": False}}
        runs = {"values": _score_rows(cmp, m, ds, names)}
        tip = tooltip(("run", "Run"), ("run_id", "Run id"), ("group", "Group"), ("value", m, "q"))
        stat_tip = tooltip(
            ("group", "Group"),
            ("n", "Runs", "q"),
            ("mean", "Mean", "q"),
            ("ci_low", f"{level} CI low", "q"),
            ("ci_high", f"{level} CI high", "q"),
        )
        layers = [
            {
                "data": runs,
                "mark": {"type": "boxplot", "extent": 1.5, "opacity": 0.35, "size": 36, "median": {"strokeWidth": 2}},
                "encoding": {"x": x, "y": {**y, "field": "value"}, "color": color},
            },
            {
                "data": runs,
                "mark": {"type": "point", "filled": True, "size": 44, "opacity": 0.85},
                "encoding": {"x": x, "y": {**y, "field": "value"}, "color": color, "tooltip": tip},
            },
            {
                "data": {"values": [s for s in stats if s["ci_low"] is not None and s["ci_high"] is not None]},
                "mark": {"type": "rule", "strokeWidth": 2.5, "xOffset": 22},
                "encoding": {
                    "x": x,
                    "y": {**y, "field": "ci_low"},
                    "y2": {"field": "ci_high"},
                    "color": color,
                    "tooltip": stat_tip,
                },
            },
            {
                "data": {"values": [s for s in stats if s["mean"] is not None]},
                "mark": {"type": "point", "shape": "diamond", "filled": True, "size": 80, "xOffset": 22},
                "encoding": {"x": x, "y": {**y, "field": "mean"}, "color": color, "tooltip": stat_tip},
            },
        ]
        out.append(panel({"title": f"{panel_title(cmp, m, ds)}: runs, mean and {level} CI", "layer": layers}))
    return out


def parallel(cmp: Any, metric: str | None, colors: dict[str, str]) -> list[dict]:
    names = _names(cmp)
    out = []
    for m, ds in panels_of(cmp, metric):
        runs = slice_rows(cmp.runs, m, ds)
        axes = [*cmp.params, m]
        lines: list[dict[str, Any]] = []
        ticks: list[dict[str, Any]] = []
        positions: list[dict[Any, float]] = []
        for p in cmp.params:
            col = [None if (isinstance(v, float) and math.isnan(v)) else v for v in runs[p]]
            levels = sorted(set(col), key=sort_key)
            where = {v: (i / (len(levels) - 1) if len(levels) > 1 else 0.5) for i, v in enumerate(levels)}
            positions.append(where)
            ticks += [{"axis": p, "position": pos, "label": format_value(v)} for v, pos in where.items()]
        values = [float(v) for v in runs["value"]]
        finite = [v for v in values if math.isfinite(v)]
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
        span = (hi - lo) or 1.0
        ticks += [{"axis": m, "position": t, "label": f"{lo + t * span:.4g}"} for t in (0.0, 0.5, 1.0)]
        for k, row in enumerate(runs.to_dict(orient="records")):
            common = {
                "run_id": str(row["run_id"]),
                "run": names.get(str(row["run_id"]), ""),
                "group": str(row["group"]),
                "score": safe(row["value"]),
            }
            for i, p in enumerate(cmp.params):
                v = None if (isinstance(row[p], float) and math.isnan(row[p])) else row[p]
                lines.append({**common, "axis": p, "position": positions[i][v], "label": format_value(v)})
            v = values[k]
            pos = (v - lo) / span if math.isfinite(v) else None
            lines.append({**common, "axis": m, "position": safe(pos), "label": f"{v:.4g}"})
        x = {
            "field": "axis",
            "type": "nominal",
            "sort": axes,
            "title": None,
            "axis": {"orient": "top", "labelAngle": 0},
        }
        y = {"field": "position", "type": "quantitative", "axis": None, "scale": {"domain": [0, 1]}}
        color = color_encoding("group", colors, "group")
        tip = tooltip(("run", "Run"), ("run_id", "Run id"), ("group", "Group"), ("score", m, "q"))
        layers = [
            {
                "data": {"values": [{"axis": a} for a in axes]},
                "mark": {"type": "rule", "opacity": 0.5},
                "encoding": {"x": x},
            },
            {
                "data": {"values": lines},
                "mark": {"type": "line", "strokeWidth": 1.6, "opacity": 0.7},
                "encoding": {
                    "x": x,
                    "y": y,
                    "color": color,
                    "detail": {"field": "run_id", "type": "nominal"},
                    "tooltip": tip,
                },
            },
            {
                "data": {"values": lines},
                "mark": {"type": "point", "filled": True, "size": 30},
                "encoding": {"x": x, "y": y, "color": color, "tooltip": tip},
            },
            {
                "data": {"values": ticks},
                "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 11},
                "encoding": {"x": x, "y": y, "text": {"field": "label", "type": "nominal"}},
            },
        ]
        out.append(panel({"title": f"{panel_title(cmp, m, ds)}: params -> metric", "layer": layers}))
    return out


def scatter(cmp: Any, metric: str | None, colors: dict[str, str], param: str | None = None) -> list[dict]:
    names = _names(cmp)
    params = [param] if param else list(cmp.params)
    if not params:
        raise ValueError("a param-vs-metric scatter needs params that differ between the runs")
    out = []
    for m, ds in panels_of(cmp, metric):
        rows = _score_rows(cmp, m, ds, names)
        views = []
        for p in params:
            field = f"param:{p}"
            numeric = all(isinstance(r.get(field), (int, float)) and not isinstance(r.get(field), bool) for r in rows)
            x: dict[str, Any] = {"field": field, "type": "quantitative" if numeric else "nominal", "title": p}
            if numeric:
                x["scale"] = {"zero": False}
            tip = tooltip(("run", "Run"), ("run_id", "Run id"), ("group", "Group"), (field, p), ("value", m, "q"))
            views.append(
                {
                    "width": 260,
                    "height": 220,
                    "mark": {"type": "point", "filled": True, "size": 60, "opacity": 0.85},
                    "encoding": {
                        "x": x,
                        "y": {"field": "value", "type": "quantitative", "title": m, "scale": {"zero": False}},
                        "color": color_encoding("group", colors, "group"),
                        "tooltip": tip,
                    },
                }
            )
        out.append(
            {"title": f"{panel_title(cmp, m, ds)}: against each param", "data": {"values": rows}, "hconcat": views}
        )
    return out


def matrix(cmp: Any, metric: str | None, colors: dict[str, str]) -> list[dict]:
    """P(row better than column): the pairs' p_better where the reference is the column, the same statistic
    (:func:`~nbtrack.analysis.significance.p_better`, ties half, failures worst) for the other pairs."""
    import numpy as np

    from nbtrack.analysis.significance import p_better

    out = []
    for m, ds in panels_of(cmp, metric):
        runs = slice_rows(cmp.runs, m, ds)
        groups = slice_rows(cmp.groups, m, ds)
        pairs = slice_rows(cmp.pairs, m, ds)
        labels = [str(g) for g in groups["group"]]
        hib = bool(cmp.directions[m])
        failed = list(groups["n_failed"]) if "n_failed" in groups else [0] * len(labels)
        worst = -math.inf if hib else math.inf
        vals = [
            np.concatenate([runs.loc[runs["group"] == lab, "value"].to_numpy(dtype=float), np.full(int(f), worst)])
            for lab, f in zip(labels, failed, strict=True)
        ]
        known = {(str(p["group"]), str(p["reference"])): p["p_better"] for p in pairs.to_dict(orient="records")}
        cells = []
        for i, a in enumerate(labels):
            for j, b in enumerate(labels):
                p = 0.5 if i == j else known.get((a, b), p_better(vals[i], vals[j], hib))
                p = safe(float(p))
                cells.append({"row": a, "column": b, "p_better": p, "text": "" if p is None else f"{p:.2f}"})
        x = {
            "field": "column",
            "type": "nominal",
            "sort": labels,
            "title": "column group",
            "axis": {"labelAngle": -40, "labelLimit": 160},
        }
        y = {"field": "row", "type": "nominal", "sort": labels, "title": "row group", "axis": {"labelLimit": 160}}
        tip = tooltip(("row", "Row group"), ("column", "Column group"), ("p_better", "P(row better)", "q"))
        strong = "datum.p_better != null && abs(datum.p_better - 0.5) > 0.3"
        layers = [
            {
                "mark": {"type": "rect"},
                "encoding": {
                    "x": x,
                    "y": y,
                    "tooltip": tip,
                    "color": {
                        "field": "p_better",
                        "type": "quantitative",
                        "title": "P(better)",
                        "scale": {"scheme": "redblue", "domain": [0, 1]},
                    },
                },
            },
            {
                "mark": {"type": "text", "fontSize": 12},
                "encoding": {
                    "x": x,
                    "y": y,
                    "text": {"field": "text", "type": "nominal"},
                    "tooltip": tip,
                    "color": {"condition": {"test": strong, "value": "#ffffff"}, "value": "#000000"},
                },
            },
        ]
        size = max(160, 44 * len(labels))
        out.append(
            {
                "title": f"P(row better than column): {panel_title(cmp, m, ds)}",
                "data": {"values": cells},
                "width": size,
                "height": size,
                "layer": layers,
            }
        )
    return out


MAKERS: dict[str, Callable[..., list[dict]]] = {
    "curves": curves,
    "box": box,
    "parallel": parallel,
    "scatter": scatter,
    "matrix": matrix,
}


def comparison_chart(cmp: Any, kind: str = "box", metric: str | None = None, **options: Any) -> Chart:
    """A :class:`~nbtrack.charts.spec.Chart` of ``cmp``: one of :data:`KINDS`; ``metric`` one of its
    metrics (default all, stacked); ``series=`` for curves (default the metric), ``param=`` for scatter."""
    if kind not in MAKERS:
        raise ValueError(f"unknown chart kind {kind!r}: use one of {', '.join(KINDS)}")
    colors = group_colors(cmp)
    panels = MAKERS[kind](cmp, metric, colors, **options)
    shown = [short_metric(metric)] if metric else list(cmp.metrics)
    title = f"{kind} of {', '.join(shown)}"
    return Chart(combine(title, panels, f"{kind} chart of {len(colors)} groups"), kind, colors, title)
