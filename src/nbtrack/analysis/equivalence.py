"""Equivalence and the size of a difference worth finding: the margin of "no difference" and the effect that
"runs needed" is computed for, each given in metric units or in pooled standard deviations.

"No difference" is a claim, so it needs its own test: two one-sided tests (TOST; Schuirmann, D. J. 1987,
"A comparison of the two one-sided tests procedure and the power approach for assessing the equivalence of
average bioavailability", J. Pharmacokinet. Biopharm. 15:657-680) that the difference lies inside
``(-margin, margin)``, equivalently the ``1 - 2 alpha`` interval inside it. A non-significant difference
test alone is not evidence of no difference: with a real d = 0.5 effect the old "|g| < 0.2" rule said
"no difference" 16-21% of the time; TOST with the default margin (half a pooled SD) says so at most ~5%.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_MARGIN = "0.5sd"  # "no difference": within half a pooled standard deviation, shown by TOST
DEFAULT_MIN_EFFECT = "0.5sd"  # "runs needed": to detect half a pooled standard deviation with 80% power
_SD = re.compile(r"^\s*(?:d\s*=\s*)?([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*(sd|d|std)?\s*$", re.I)


@dataclass(frozen=True)
class Effect:
    """A size of difference: ``value`` in metric units, or in pooled standard deviations (``standardized``)."""

    value: float
    standardized: bool

    def __str__(self) -> str:
        return f"{self.value:g} pooled SD" if self.standardized else f"{self.value:g} (metric units)"

    def units(self, pooled_sd: float) -> float:
        """The size in metric units for two groups with this pooled standard deviation."""
        return self.value * pooled_sd if self.standardized else self.value

    def standard(self, pooled_sd: float) -> float:
        """The size in pooled standard deviations."""
        if self.standardized:
            return self.value
        return self.value / pooled_sd if pooled_sd > 0 else math.inf


def parse_effect(spec: Any, metric: str = "", what: str = "margin") -> Effect:
    """``0.01`` (metric units), ``"0.5sd"``/``"d=0.5"``/``"0.5d"`` (pooled SDs), or a dict of those per metric."""
    if isinstance(spec, Mapping):
        spec = spec.get(
            metric, spec.get(f"metrics.{metric}", DEFAULT_MARGIN if what == "margin" else DEFAULT_MIN_EFFECT)
        )
    if isinstance(spec, bool) or spec is None:
        raise ValueError(f"{what} must be a number (metric units) or a string such as '0.5sd'")
    if isinstance(spec, (int, float)):
        value, standardized = float(spec), False
    else:
        match = _SD.match(str(spec))
        if not match:
            raise ValueError(f"{what}={spec!r}: give a number (metric units) or '0.5sd' (pooled standard deviations)")
        value, standardized = float(match.group(1)), match.group(2) is not None or "=" in str(spec)
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{what} must be positive, got {spec!r}")
    return Effect(value, standardized)


def pooled_sd(a: Any, b: Any) -> float:
    """The pooled standard deviation of two groups' finite scores (NaN below two runs a side)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 2 or b.size < 2:
        return math.nan
    return math.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))


def tost_t(diff: Any, se: Any, df: Any, margin: Any) -> Any:
    """The TOST p-value of ``-margin < true diff < margin`` for t statistics: the larger of the two one-sided
    p-values P(T > (diff + margin) / se) and P(T < (diff - margin) / se), T ~ t(df). Vectorized; equals
    ``statsmodels.stats.weightstats.ttost_ind`` / ``ttost_paired`` on the same diff, se and df."""
    from scipy import special

    diff, se, df, margin = (np.asarray(v, dtype=float) for v in (diff, se, df, margin))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_low = special.stdtr(df, -(diff + margin) / se)
        p_high = special.stdtr(df, (diff - margin) / se)
    p = np.maximum(p_low, p_high)
    p = np.where((se > 0) & np.isfinite(se) & (df > 0), p, np.nan)
    return float(p) if p.ndim == 0 else p


def inside(low: float, high: float, margin: float) -> bool:
    """Whether an interval lies strictly inside ``(-margin, margin)`` (the interval form of TOST)."""
    return bool(math.isfinite(low) and math.isfinite(high) and -margin < low and high < margin)


def interval_verdict(low: float, high: float, higher_is_better: bool, *, flag: str, equivalent: bool) -> str:
    """The verdict a simultaneous or sequential interval of ``group - reference`` gives: ``better``/``worse`` when
    it excludes 0, ``no difference`` when it lies inside the margin, else ``inconclusive``; degenerate pairs
    (``flag``) get ``needs more runs``."""
    if flag:
        return "needs more runs"
    if low > 0 or high < 0:
        return "better" if (low > 0) == higher_is_better else "worse"
    return "no difference" if equivalent else "inconclusive"
