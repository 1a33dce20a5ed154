"""Per-step metric curves: every selected run's logged series overlaid, and, when runs are grouped by a
comparison, each group's mean with its interval band at every step.

The band at a step is the same interval the comparison uses for the group's final scores (its
``ci_method``, Hall's t by default, at its confidence), of the runs that logged that step; where fewer than
two runs did, there is no band. Series come from each run's record (``Run.series``: name, step, value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nbtrack.charts.colors import colors_for
from nbtrack.charts.spec import Chart, color_encoding, combine, panel, safe, tooltip

STEP_AXIS = {"field": "step", "type": "quantitative", "title": "step", "axis": {"format": "d", "tickMinStep": 1}}
POINTS_UP_TO = 60  # steps per curve up to which each logged point is drawn (and hoverable)


def run_label(run: Any) -> str:
    """How a run is named in legends and tooltips: its name, or its id's last 8 characters."""
    return str(run.name) if run.name else run.id[-8:]


def load_runs(run_ids: Sequence[str], store: Any) -> list[Any]:
    from nbtrack.query.search import get_run

    return [get_run(r, store=store) for r in run_ids]


def run_series(run: Any) -> dict[str, tuple[list[int], list[float]]]:
    """The run's logged series by name: (steps, values), decoded straight from its series blob (the same
    names and values as ``Run.series``, without building a DataFrame per run: 10x faster for curves)."""
    if not run.series_blob:
        return {}
    from nbtrack import values
    from nbtrack.store.series import load

    return {
        values.printable(values.unescape_text(name)): (
            [int(s) for s in points["step"]],
            [float(v) for v in points["value"]],
        )
        for name, points in load(run.store, run.series_blob).items()
    }


def series_rows(runs: Sequence[Any], name: str, groups: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per (run, step) of the series ``name`` (the last value logged at a step): run_id, run,
    group (when ``groups`` maps run ids to group labels), step, value."""
    rows = []
    for run in runs:
        steps, values = run_series(run).get(name, ([], []))
        last = dict(zip(steps, values, strict=True))  # a step logged twice keeps its last value
        for step in sorted(last):
            row = {"run_id": run.id, "run": run_label(run), "step": step, "value": safe(last[step])}
            if groups is not None:
                row["group"] = groups[run.id]
            rows.append(row)
    return rows


def band_rows(rows: Sequence[dict[str, Any]], confidence: float, method: str) -> list[dict[str, Any]]:
    """Per group and step: n, mean and the interval of the mean (``method`` of
    :func:`~nbtrack.analysis.intervals.mean_interval`) of the finite values of the runs at that step."""
    import math

    from nbtrack.analysis.intervals import finite_values, mean_interval

    cells: dict[tuple[str, int], list[float]] = {}
    for row in rows:
        value = row["value"]
        cells.setdefault((row["group"], row["step"]), []).append(math.nan if value is None else value)
    out = []
    for (group, step), values in cells.items():
        finite = finite_values(values)
        low, high = mean_interval(finite, confidence, method) if finite.size >= 2 else (math.nan, math.nan)
        out.append(
            {
                "group": group,
                "step": step,
                "n": int(finite.size),
                "mean": safe(float(finite.mean())) if finite.size else None,
                "low": safe(low),
                "high": safe(high),
            }
        )
    return out


def _run_layer(rows: list[dict[str, Any]], color: dict[str, Any], grouped: bool, name: str) -> dict[str, Any]:
    steps = len({r["step"] for r in rows})
    mark: dict[str, Any] = {"type": "line", "strokeWidth": 1.2 if grouped else 2, "opacity": 0.5 if grouped else 1}
    if steps <= POINTS_UP_TO:
        mark["point"] = {"size": 28, "filled": True}
    fields: list[Any] = [("run", "Run"), ("run_id", "Run id")]
    if grouped:
        fields.append(("group", "Group"))
    fields += [("step", "Step", "q"), ("value", name, "q")]
    return {
        "data": {"values": rows},
        "mark": mark,
        "encoding": {
            "x": STEP_AXIS,
            "y": {"field": "value", "type": "quantitative", "title": name, "scale": {"zero": False}},
            "color": color,
            "detail": {"field": "run_id", "type": "nominal"},
            "tooltip": tooltip(*fields),
        },
    }


def _band_layers(bands: list[dict[str, Any]], color: dict[str, Any], confidence: float) -> list[dict[str, Any]]:
    level = f"{confidence:.0%}"
    tip = tooltip(
        ("group", "Group"),
        ("step", "Step", "q"),
        ("n", "Runs", "q"),
        ("mean", "Mean", "q"),
        ("low", f"{level} CI low", "q"),
        ("high", f"{level} CI high", "q"),
    )
    x = STEP_AXIS
    return [
        {
            "data": {"values": [b for b in bands if b["low"] is not None and b["high"] is not None]},
            "mark": {"type": "area", "opacity": 0.2},
            "encoding": {
                "x": x,
                "y": {"field": "low", "type": "quantitative"},
                "y2": {"field": "high"},
                "color": color,
                "tooltip": tip,
            },
        },
        {
            "data": {"values": [b for b in bands if b["mean"] is not None]},
            "mark": {"type": "line", "strokeWidth": 2.5},
            "encoding": {
                "x": x,
                "y": {"field": "mean", "type": "quantitative"},
                "color": color,
                "detail": {"field": "group", "type": "nominal"},
                "tooltip": tip,
            },
        },
    ]


def curves_panel(
    runs: Sequence[Any],
    name: str,
    title: str,
    colors: Mapping[str, str],
    groups: Mapping[str, str] | None = None,
    confidence: float = 0.95,
    method: str = "hall-t",
) -> dict[str, Any] | None:
    """One panel: the series ``name`` of ``runs``, coloured by group (with bands) or by run; None without data."""
    rows = series_rows(runs, name, groups)
    if not rows:
        return None
    grouped = groups is not None
    color = color_encoding("group" if grouped else "run_id", colors, "group" if grouped else "run", len(colors) > 1)
    layers = []
    if grouped:
        layers += _band_layers(band_rows(rows, confidence, method), color, confidence)
    layers.insert(0 if not grouped else 1, _run_layer(rows, color, grouped, name))
    return panel({"title": title, "layer": layers})


def series_names(runs: Sequence[Any]) -> list[str]:
    """The series the runs logged, in first-seen order."""
    return list(dict.fromkeys(n for run in runs for n in run_series(run)))


def chart_runs(
    runs: Any, kind: str = "curves", metric: str | Sequence[str] | None = None, *, store: Any = None
) -> Chart:
    """Interactive per-step curves of runs, without a comparison: each run's logged series (``metric``, a
    name or names; default every series they logged), one panel per series, one colour per run
    (:func:`~nbtrack.charts.colors.colors_for` of the run ids). ``runs``: run ids or a ``runs()`` DataFrame.
    For group means and intervals, ``nbtrack.compare(...).chart("curves")``."""
    if kind != "curves":
        raise ValueError(f"chart_runs draws 'curves'; for {kind!r} compare the runs: nbtrack.compare(...).chart()")
    ids = (
        list(runs["run_id"])
        if hasattr(runs, "columns")
        else [str(r) for r in ([runs] if isinstance(runs, str) else runs)]
    )
    if not ids:
        raise ValueError("no runs to chart: pass run ids or a runs() DataFrame")
    loaded = load_runs(ids, store)
    names = [metric] if isinstance(metric, str) else list(metric) if metric else series_names(loaded)
    colors = colors_for(run.id for run in loaded)
    panels = [p for n in names if (p := curves_panel(loaded, n, n, colors)) is not None]
    if not panels:
        what = ", ".join(map(repr, names)) if names else "any series"
        raise ValueError(f"the runs logged no step series {what}: log_metric(name, value, step=...) records one")
    title = f"{', '.join(names)} per step" if len(names) <= 3 else f"{len(names)} series per step"
    return Chart(combine(title, panels, f"Per-step curves of {len(loaded)} runs"), "curves", colors, title)
