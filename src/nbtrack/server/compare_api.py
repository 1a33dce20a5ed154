"""What ``GET /nbtrack/api/compare`` answers: ``nbtrack.compare`` of the chosen runs as tables, Vega-Lite specs
and PNG plots, with what the view shows beside them (:mod:`nbtrack.server.compare_view`)."""

from __future__ import annotations

import base64
import io
from typing import Any

from nbtrack.server.api import MAX_COMPARE, PLOT_KINDS, ApiError, resolve_run
from nbtrack.server.paths import scrub
from nbtrack.store.local import Store


def compare_runs(
    store: Store,
    run_ids: list[str],
    metric: str | None = None,
    plots: list[str] | None = None,
    charts: list[str] | None = None,
    by: list[str] | None = None,
) -> dict[str, Any]:
    """``nbtrack.compare(run_ids, metric=..., by=...)``: its groups, pairs, warnings and notes, PNG plots, Vega-Lite
    ``charts`` (specs by kind), ``colors`` (``{group: colour}``, the same in every chart), and what the view
    shows beside them (:mod:`nbtrack.server.compare_view`: headline, column help, group-by)."""
    run_ids = [r for r in dict.fromkeys(run_ids) if r]
    if len(run_ids) < 2:
        raise ApiError(400, "bad_request", "select at least two runs to compare")
    if len(run_ids) > MAX_COMPARE:
        raise ApiError(400, "bad_request", f"at most {MAX_COMPARE} runs can be compared at once")
    full = [resolve_run(store, r) for r in run_ids]
    from nbtrack.analysis.comparison import compare
    from nbtrack.charts import KINDS as CHART_KINDS
    from nbtrack.charts import group_colors
    from nbtrack.server.compare_view import parse_by, view_extras

    by = parse_by(by)
    docs = store.run_docs()
    available = sorted({m for r in full for m in (docs[r].get("metrics") or {})})
    metrics = [m.strip() for m in metric.split(",") if m.strip()] if metric else available
    if not metrics:
        raise ApiError(400, "no_metrics", "none of the selected runs logged a metric")
    try:
        cmp = compare(full, metric=metrics, by=by, store=store)
    except (ValueError, KeyError, LookupError) as exc:
        raise ApiError(400, "bad_request", scrub(str(exc), getattr(store, "boundary", None))) from None
    out = {
        **cmp.to_dict(),
        **view_extras(cmp, full, store, by),
        "notes": list(cmp.notes),
        "metrics": list(cmp.metrics),
        "params": list(cmp.params),
        "available_metrics": available,
        "runs": full,
        "plots": {},
        "plot_errors": {},
        "charts": {},
        "colors": group_colors(cmp),
        "run_names": {r: str(docs[r].get("name") or "") for r in full},
    }
    for kind in charts or ():
        if kind not in CHART_KINDS:
            raise ApiError(400, "bad_request", f"unknown chart kind {kind!r}: use one of {', '.join(CHART_KINDS)}")
        try:
            out["charts"][kind] = cmp.chart(kind, metrics[0] if len(metrics) == 1 else None).spec
        except Exception as exc:  # like a plot: one chart that cannot be drawn should not hide the table
            out["plot_errors"][kind] = scrub(f"{type(exc).__name__}: {exc}", getattr(store, "boundary", None))
    for kind in plots or ():
        if kind not in PLOT_KINDS:
            raise ApiError(400, "bad_request", f"unknown plot kind {kind!r}: use one of {', '.join(PLOT_KINDS)}")
        try:
            out["plots"][kind] = _png(cmp.plot(kind))
        except Exception as exc:  # one plot that cannot be drawn should not hide the table
            out["plot_errors"][kind] = scrub(f"{type(exc).__name__}: {exc}", getattr(store, "boundary", None))
    return out


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
