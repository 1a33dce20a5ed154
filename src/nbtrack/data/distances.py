"""Distances between two distributions of one column: Wasserstein-1 (from raw values or stored quantiles) for
numeric columns and Jensen-Shannon (from stored top values) for categorical ones. The data checks measure
drift with them when the raw data is gone or too large to test."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def wasserstein_distance(u: Any, v: Any) -> float:
    """Wasserstein-1 distance between the empirical distributions of two samples (as scipy.stats computes it)."""
    import numpy as np

    u = np.sort(np.asarray(u, dtype=np.float64))
    v = np.sort(np.asarray(v, dtype=np.float64))
    if len(u) == 0 or len(v) == 0:
        raise ValueError("both samples must be non-empty")
    points = np.sort(np.concatenate([u, v]))
    widths = np.diff(points)
    cdf_u = np.searchsorted(u, points[:-1], side="right") / len(u)
    cdf_v = np.searchsorted(v, points[:-1], side="right") / len(v)
    return float(np.sum(np.abs(cdf_u - cdf_v) * widths))


def wasserstein_from_quantiles(qa: Sequence[float], qb: Sequence[float]) -> float:
    """Wasserstein-1 distance from two quantile functions sampled at evenly spaced probabilities.

    W1 is the integral over p in [0, 1] of |Qa(p) - Qb(p)|; the quantile functions are taken as linear
    between the stored points and the integral of the absolute difference is exact for them.
    """
    import numpy as np

    a = np.asarray(qa, dtype=np.float64)
    b = np.asarray(qb, dtype=np.float64)
    if len(a) != len(b):  # profiles of different detail: resample on the coarser grid
        k = min(len(a), len(b))
        grid = np.linspace(0.0, 1.0, k)
        a = np.interp(grid, np.linspace(0.0, 1.0, len(a)), a)
        b = np.interp(grid, np.linspace(0.0, 1.0, len(b)), b)
    if len(a) < 2:
        return float(abs(a[0] - b[0])) if len(a) else 0.0
    d = a - b
    left, right = d[:-1], d[1:]
    total = np.abs(left) + np.abs(right)
    same_sign = left * right >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(total > 0, (left**2 + right**2) / (2 * total), 0.0)
    area = np.where(same_sign, total / 2, crossing)
    return float(np.sum(area) / (len(a) - 1))


def jensen_shannon(p: Sequence[float], q: Sequence[float], base: float | None = None) -> float:
    """Jensen-Shannon distance between two discrete distributions (as scipy.spatial.distance.jensenshannon)."""
    import numpy as np

    pv = np.asarray(p, dtype=np.float64)
    qv = np.asarray(q, dtype=np.float64)
    pv = pv / pv.sum()
    qv = qv / qv.sum()
    m = (pv + qv) / 2

    def kl(x: Any) -> float:
        keep = x > 0
        return float(np.sum(x[keep] * np.log(x[keep] / m[keep])))

    js = (kl(pv) + kl(qv)) / 2
    if base is not None:
        js /= math.log(base)
    return math.sqrt(max(js, 0.0))


def category_distributions(ref: Mapping[str, Any], cur: Mapping[str, Any]) -> tuple[list[str], Any, Any]:
    """(keys, reference counts, current counts) over the top values of two column profiles plus "other".

    A value listed on one side only is kept when the other side's list is complete (its count there is 0),
    else it joins the "other" bucket on both sides, so a value that just missed one list adds no distance.
    """
    import numpy as np

    def side(profile: Mapping[str, Any]) -> tuple[dict[str, int], int]:
        top = {str(k): int(c) for k, c in profile.get("top") or []}
        nonnull = int(profile.get("_nonnull", sum(top.values())))
        return top, nonnull

    top_r, n_r = side(ref)
    top_c, n_c = side(cur)
    complete_r = sum(top_r.values()) >= n_r
    complete_c = sum(top_c.values()) >= n_c
    keys = []
    for key in sorted(top_r.keys() | top_c.keys()):
        if (key in top_r or complete_r) and (key in top_c or complete_c):
            keys.append(key)
    counts_r = [top_r.get(k, 0) for k in keys]
    counts_c = [top_c.get(k, 0) for k in keys]
    other_r, other_c = n_r - sum(counts_r), n_c - sum(counts_c)
    if other_r > 0 or other_c > 0:
        keys.append("\x00other")
        counts_r.append(max(other_r, 0))
        counts_c.append(max(other_c, 0))
    return keys, np.asarray(counts_r, dtype=np.float64), np.asarray(counts_c, dtype=np.float64)


# sides ----------------------------------------------------------------------------------------------
