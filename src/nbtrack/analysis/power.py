"""Power and sample size of the t-tests: how many runs per group would settle a comparison.

The exact power uses the noncentral t (scipy); the sample size is the smallest n reaching the power, found
from the normal approximation and then refined on the exact curve.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

DESIGNS = ("two-sample", "paired", "nadeau-bengio")


def t_power(effect: float, n: Any, alpha: float = 0.05, design: str = "two-sample", rho: float = 0.0) -> Any:
    """Power of a two-sided t-test with ``n`` runs per group (pairs, or folds for Nadeau-Bengio) when the
    true standardized effect is ``effect``, from the noncentral t distribution (as R's power.t.test).
    ``rho`` = n_test / n_train for the Nadeau-Bengio design. ``n`` may be an array."""
    from scipy import special

    n_arr = np.asarray(n, dtype=float)
    effect = abs(effect)  # two-sided: symmetric in the sign of the effect
    if design == "two-sample":
        df, ncp = 2 * n_arr - 2, effect * np.sqrt(n_arr / 2)
    elif design == "paired":
        df, ncp = n_arr - 1, effect * np.sqrt(n_arr)
    elif design == "nadeau-bengio":
        df, ncp = n_arr - 1, effect / np.sqrt(1 / n_arr + rho)
    else:
        raise ValueError(f"design must be one of {DESIGNS}")
    with np.errstate(invalid="ignore", divide="ignore"):
        crit = special.stdtrit(df, 1 - alpha / 2)
        exact = 1 - special.nctdtr(df, ncp, crit) + np.nan_to_num(special.nctdtr(df, ncp, -crit))
        # the noncentral t loses accuracy (NaN) at large df, where it is normal to 1e-3
        z = special.ndtri(1 - alpha / 2)
        normal = special.ndtr(ncp - z) + special.ndtr(-z - ncp)
    power = np.where(df > 1000, normal, exact)
    power = np.where(df > 0, power, np.nan)
    return float(power) if power.ndim == 0 else power


def _normal_size(effect: float, power: float, alpha: float, design: str, rho: float) -> float:
    from scipy import special

    k = ((special.ndtri(1 - alpha / 2) + special.ndtri(power)) / effect) ** 2
    if design == "two-sample":
        return 2 * k
    if design == "paired":
        return k
    return 1 / (1 / k - rho) if 1 / k > rho else math.inf


def sample_size(
    effect: float,
    power: float = 0.8,
    alpha: float = 0.05,
    design: str = "two-sample",
    rho: float = 0.0,
    max_n: float = 1e6,
) -> float:
    """Runs per group (a real number, round up) giving ``power`` for a two-sided test at ``alpha`` if the true
    effect were ``effect``; ``inf`` when no n up to ``max_n`` gets there (zero effect, or a Nadeau-Bengio
    effect too small for any number of folds)."""
    from scipy.optimize import brentq

    effect = abs(effect)
    if not np.isfinite(effect):
        return 2.0 if effect == math.inf else math.nan
    if effect == 0:
        return math.inf
    lo = 2.0
    at_lo = t_power(effect, lo, alpha, design, rho)
    if at_lo >= power or (math.isnan(at_lo) and _normal_size(effect, power, alpha, design, rho) <= lo):
        return lo  # NaN: the noncentral t gives out for effects of ~1e10 sd (zero spread), where 2 runs suffice
    if not t_power(effect, max_n, alpha, design, rho) >= power:
        return math.inf
    return float(brentq(lambda n: t_power(effect, n, alpha, design, rho) - power, lo, max_n, xtol=1e-6))


def runs_needed(
    effect: float, power: float = 0.8, alpha: float = 0.05, design: str = "two-sample", rho: float = 0.0
) -> float:
    """The smallest whole number of runs per group reaching ``power`` (``ceil`` of :func:`sample_size`), found
    with one vectorized power evaluation around the normal approximation; ``inf`` if unreachable."""
    effect = abs(effect)
    if not np.isfinite(effect) or effect == 0:
        return sample_size(effect, power, alpha, design, rho)
    guess = _normal_size(effect, power, alpha, design, rho)
    if math.isfinite(guess) and guess < 1e5:
        candidates = np.arange(max(2, int(guess * 0.8) - 2), int(guess * 1.25) + 12)
        ok = np.flatnonzero(t_power(effect, candidates, alpha, design, rho) >= power)
        if ok.size and (ok[0] > 0 or candidates[0] == 2):
            return float(candidates[ok[0]])
    size = sample_size(effect, power, alpha, design, rho)
    return float(math.ceil(size - 1e-9)) if math.isfinite(size) else size
