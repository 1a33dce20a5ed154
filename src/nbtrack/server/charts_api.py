"""``GET /nbtrack/api/charts``: a Vega-Lite v5 spec of the selected runs, with the colours of its runs or
groups, built by :mod:`nbtrack.charts` (the same specs a notebook shows). Runs in a child process, like
compare (see :mod:`nbtrack.server.offload`)."""

from __future__ import annotations

from typing import Any

from nbtrack.server.api import MAX_COMPARE, ApiError, resolve_run
from nbtrack.server.paths import scrub

RUN_KINDS = ("curves",)  # what a chart of runs without a comparison can be


def chart_for_runs(
    store: Any, run_ids: list[str], kind: str = "curves", metric: str | None = None, grouped: bool = True
) -> dict[str, Any]:
    """``{spec, colors, kind}``: per-step ``curves`` of one run or of ungrouped runs (``grouped=False``,
    one colour per run), else ``nbtrack.compare(runs, metric).chart(kind)`` (one colour per group)."""
    from nbtrack.charts import KINDS, chart_runs

    run_ids = [r for r in dict.fromkeys(run_ids) if r]
    if not run_ids:
        raise ApiError(400, "bad_request", "select at least one run to chart")
    if len(run_ids) > MAX_COMPARE:
        raise ApiError(400, "bad_request", f"at most {MAX_COMPARE} runs can be charted at once")
    if kind not in KINDS:
        raise ApiError(400, "bad_request", f"unknown chart kind {kind!r}: use one of {', '.join(KINDS)}")
    full = [resolve_run(store, r) for r in run_ids]
    metrics = [m.strip() for m in (metric or "").split(",") if m.strip()]
    try:
        if len(full) == 1 or not grouped:
            if kind not in RUN_KINDS:
                raise ApiError(400, "bad_request", f"a {kind} chart compares runs: select at least two")
            chart = chart_runs(full, kind, metrics or None, store=store)
        else:
            from nbtrack.analysis.comparison import compare

            if not metrics:  # the metrics the selected runs logged, as the compare endpoint does
                docs = store.run_docs()
                metrics = sorted({m for r in full for m in (docs[r].get("metrics") or {})})
            cmp = compare(full, metric=metrics or None, store=store)
            chart = cmp.chart(kind, metrics[0] if len(metrics) == 1 else None)
    except (ValueError, KeyError, LookupError) as exc:
        raise ApiError(400, "bad_request", scrub(str(exc), getattr(store, "boundary", None))) from None
    return chart.to_dict()
