"""Per group of runs: its statistics with their intervals, and which group is the reference.

The statistics are of the finite scores (``n``), with failures counted beside them (``n_failed``); the
reference picked from the data ranks groups by the IQM with failures as the worst outcomes, among groups with
at least :data:`MIN_REFERENCE_RUNS` runs, so a one-run group (every test against it undecidable) or a group
that diverged half the time is never the yardstick.
"""

from __future__ import annotations

import math
from typing import Any

from nbtrack.analysis.grouping import Configuration, Group, Slice, match_baseline
from nbtrack.analysis.intervals import (
    IQM_BOOTSTRAP_MIN_N,
    bootstrap_iqm_intervals,
    iqm,
    mean_interval,
    median_interval,
    median_interval_coverage,
    trimmed_mean_sorted,
    tukey_mclaughlin_interval,
)

MIN_REFERENCE_RUNS = 3  # the reference picked from the data has at least this many runs


def group_stats(groups: list[Group], options: Any) -> list[dict[str, Any]]:
    """Per group: n (finite scores), n_failed, mean, std, median, IQM and the intervals of the mean, IQM and
    median (with the median interval's true coverage), all of the finite scores."""
    import numpy as np

    confidence, interval = options.confidence, options.interval

    rows = []
    boot: dict[int, tuple[Any, Any]] = {}
    by_size: dict[int, list[int]] = {}
    for k, g in enumerate(groups):
        if len(g.values) >= IQM_BOOTSTRAP_MIN_N:
            by_size.setdefault(len(g.values), []).append(k)
    for _n, members in by_size.items():  # one vectorized bootstrap per sample size
        lows, highs = bootstrap_iqm_intervals(
            np.stack([groups[k].values for k in members]), confidence, options.n_boot, options.seed
        )
        for pos, k in enumerate(members):
            boot[k] = (float(lows[pos]), float(highs[pos]))
    nan = math.nan
    for k, g in enumerate(groups):
        x = g.values
        n = len(x)
        lo, hi = mean_interval(x, confidence, interval)
        if k in boot:
            iqm_lo, iqm_hi, iqm_method = *boot[k], "bootstrap"
        else:
            iqm_lo, iqm_hi = tukey_mclaughlin_interval(x, confidence)
            iqm_method = "tukey-mclaughlin"
        med_lo, med_hi = median_interval(x, confidence)
        rows.append(
            {
                "n": n,
                "n_failed": g.n_failed,
                "mean": float(x.mean()) if n else nan,
                "std": float(x.std(ddof=1)) if n > 1 else nan,
                "median": float(np.median(x)) if n else nan,
                "iqm": iqm(x),
                "ci_low": lo,
                "ci_high": hi,
                "ci_method": interval,
                "iqm_ci_low": iqm_lo,
                "iqm_ci_high": iqm_hi,
                "iqm_ci_method": iqm_method,
                "median_ci_low": med_lo,
                "median_ci_high": med_hi,
                "median_ci_coverage": median_interval_coverage(n, confidence),
                "min": float(x.min()) if n else nan,
                "max": float(x.max()) if n else nan,
            }
        )
    return rows


def outcome_iqm(g: Group, hib: bool) -> float:
    """The IQM with failures as the worst outcomes: what picks the reference (a diverging group ranks low)."""
    import numpy as np

    values = np.sort(g.outcomes(hib))
    return float(trimmed_mean_sorted(values)) if values.size else math.nan


def reference_index(
    sl: Slice,
    rows: list[dict[str, Any]],
    baseline: Any,
    hib: bool,
    config: Configuration,
    warnings: list[str] | None = None,
) -> int:
    """The reference group's index: the baseline asked for, else the best group by IQM (failures worst) among
    groups with at least :data:`MIN_REFERENCE_RUNS` runs (all groups, with a warning, when none has)."""
    if baseline is None:
        eligible = [k for k, g in enumerate(sl.groups) if g.n_total >= MIN_REFERENCE_RUNS]
        if not eligible:
            eligible = list(range(len(sl.groups)))
            if warnings is not None and len(sl.groups) > 1:
                warnings.append(
                    f"No group of {sl.metric} has {MIN_REFERENCE_RUNS} runs: the reference was picked among "
                    f"groups too small to test against."
                )
        scores = {k: outcome_iqm(sl.groups[k], hib) for k in eligible}
        return max(eligible, key=lambda k: ((scores[k] if hib else -scores[k]), -k))
    index = match_baseline(sl.groups, baseline, config.label_params)
    if index is None:
        where = f" for {sl.metric}" + (f" on {config.dataset_name}={sl.dataset}" if sl.dataset is not None else "")
        labels = ", ".join(g.label for g in sl.groups)
        raise ValueError(f"baseline {baseline!r} matches no group{where} (groups: {labels})")
    return index
