"""What every pair row says whatever test decides it (the fixed-n tests of :mod:`~nbtrack.analysis.verdicts`,
the sequential tests, multiple comparisons with the best): run and failure counts, P(better) and P(A > B) with
Newcombe intervals, whether the comparison is degenerate, seed alignment and the runs needed for a stated
effect. One place, so the columns mean the same on every path."""

from __future__ import annotations

import math
from typing import Any

from nbtrack.analysis import power
from nbtrack.analysis.equivalence import pooled_sd
from nbtrack.analysis.grouping import Group, Slice
from nbtrack.analysis.significance import p_better, prob_superiority, prob_superiority_interval

MIN_TEST_RUNS = 3  # below this no verdict is given
POWER = 0.8
RANK_EFFICIENCY = 3 / math.pi  # asymptotic relative efficiency of the rank tests to the t-tests (normal scores)
RANK_TESTS = ("mann-whitney", "wilcoxon")


def pair_facts(sl: Slice, ref_index: int, members: list[int], hib: bool, confidence: float) -> list[dict[str, Any]]:
    """Per member group (indices into ``sl.groups``) against the reference: n, n_reference, n_failed,
    n_failed_reference, p_better (failures worst, in the metric's direction) and p_greater (raw P(A > B) of the
    finite scores), each with its Newcombe interval."""
    ref = sl.groups[ref_index]
    groups = [sl.groups[i] for i in members]
    pb = [p_better(g.outcomes(hib), ref.outcomes(hib), hib) for g in groups]
    pb_lo, pb_hi = prob_superiority_interval(pb, [g.n_total for g in groups], ref.n_total, confidence)
    pg = [prob_superiority(g.values, ref.values) for g in groups]
    pg_lo, pg_hi = prob_superiority_interval(pg, [len(g.values) for g in groups], len(ref.values), confidence)
    return [
        {
            "n": len(g.values),
            "n_reference": len(ref.values),
            "n_failed": g.n_failed,
            "n_failed_reference": ref.n_failed,
            "p_better": pb[k],
            "p_better_ci_low": float(pb_lo[k]),
            "p_better_ci_high": float(pb_hi[k]),
            "p_greater": pg[k],
            "p_greater_ci_low": float(pg_lo[k]),
            "p_greater_ci_high": float(pg_hi[k]),
        }
        for k, g in enumerate(groups)
    ]


def degenerate(a: Group, b: Group, res: Any) -> str:
    """Why a comparison cannot be decided by its test ("" when it can): too few runs, or no variance."""
    if min(a.n_total, b.n_total) < MIN_TEST_RUNS:
        return f"fewer than {MIN_TEST_RUNS} runs"
    import numpy as np

    spread = [np.ptp(g.values) if len(g.values) else 0.0 for g in (a, b)]
    if max(spread) == 0 and a.n_failed == b.n_failed == 0:
        return "zero variance in both groups (g = +-inf): vary the seed"
    if res.test not in RANK_TESTS and res.se == 0:
        return "paired differences without variance (t = +-inf)"
    return ""


def align_by_seed(a: Group, b: Group) -> tuple[Any, Any] | None:
    """The two groups' values ordered by matching seed keys, or None when they do not match one to one."""
    import numpy as np

    if any(s is None for s in a.seeds) or any(s is None for s in b.seeds):
        return None
    if len(set(a.seeds)) != len(a.seeds) or len(set(b.seeds)) != len(b.seeds) or set(a.seeds) != set(b.seeds):
        return None
    if len(a.seeds) < 2:
        return None
    pos = {s: k for k, s in enumerate(b.seeds)}
    order = [pos[s] for s in a.seeds]
    return np.asarray(a.values), np.asarray(b.values)[order]


def runs_needed_for(
    g: Group, ref: Group, effect: float, design: str, test: str, cv: tuple[int, int] | None, alpha: float
) -> Any:
    """Runs per group giving 80% power at ``alpha`` to detect a true difference of ``effect`` pooled SDs (the
    stated minimum effect, not the observed one): t-test power, divided by the rank tests' efficiency 3/pi
    for them; NA when it cannot be estimated or no number of runs would do."""
    import numpy as np
    import pandas as pd

    if not (math.isfinite(effect) and effect > 0):
        return pd.NA
    if design == "two-sample":
        size = power.runs_needed(effect, POWER, alpha, "two-sample")
    else:
        aligned = align_by_seed(g, ref)
        sp = pooled_sd(g.values, ref.values)
        if aligned is None or not sp > 0:
            return pd.NA
        sd_diff = float(np.std(aligned[0] - aligned[1], ddof=1))
        if not sd_diff > 0:
            return pd.NA
        rho = cv[1] / cv[0] if (design == "nadeau-bengio" and cv) else 0.0
        size = power.runs_needed(effect * sp / sd_diff, POWER, alpha, design, rho)
    if test in RANK_TESTS and math.isfinite(size):
        size = math.ceil(size / RANK_EFFICIENCY)
    return int(size) if math.isfinite(size) else pd.NA
