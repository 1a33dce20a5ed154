"""Tests of one group of runs against another, effect sizes, multiplicity adjustment and the rank tests
across data sets, on plain numpy arrays (no pandas, no store).

What scipy has is used from scipy (t, studentized range, Wilcoxon, Mann-Whitney, skewtest). What it lacks is
written here with its reference: Newcombe's interval for P(A>B), the Nadeau-Bengio corrected t-test, Holm and
Benjamini-Hochberg adjustments (scipy has no Holm, and BH only from 1.11), Hedges' g, the Friedman test with
ties and the Nemenyi critical difference.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from nbtrack.analysis.intervals import finite_values, t_quantile


def _t_two_sided_p(t: float, df: float) -> float:
    from scipy import special

    return float(2 * special.stdtr(df, -abs(t)))


# two-sample tests -------------------------------------------------------------------------------------


@dataclass
class TestResult:
    """A two-sided test of group A against reference B: ``diff`` = mean(A) - mean(B) with its interval."""

    test: str
    statistic: float
    df: float
    p_value: float
    diff: float
    ci_low: float
    ci_high: float
    direction: float  # sign of the effect the test measured (+1: A above B)
    se: float = math.nan  # standard error of diff (t-tests), what an equivalence test on the same scale needs


def _t_result(test: str, diff: float, se: float, df: float, confidence: float) -> TestResult:

    if not (np.isfinite(se) and np.isfinite(df)) or df <= 0:
        return TestResult(test, math.nan, df, math.nan, diff, math.nan, math.nan, float(np.sign(diff)))
    if se == 0:
        p = 1.0 if diff == 0 else 0.0
        stat = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        return TestResult(test, stat, df, p, diff, diff, diff, float(np.sign(diff)))
    t = diff / se
    p = _t_two_sided_p(t, df)
    h = t_quantile(0.5 + confidence / 2, df) * se
    return TestResult(test, float(t), float(df), p, diff, diff - h, diff + h, float(np.sign(diff)), float(se))


def welch_test(a: Any, b: Any, confidence: float = 0.95) -> TestResult:
    """Welch's unequal-variance t-test and interval of the difference of means (Welch 1947)."""
    a, b = finite_values(a), finite_values(b)
    na, nb = a.size, b.size
    diff = float(a.mean() - b.mean()) if na and nb else math.nan
    if na < 2 or nb < 2:
        return TestResult("welch", math.nan, math.nan, math.nan, diff, math.nan, math.nan, float(np.sign(diff)))
    va, vb = a.var(ddof=1) / na, b.var(ddof=1) / nb
    se = math.sqrt(va + vb)
    denom = va**2 / (na - 1) + vb**2 / (nb - 1)
    df = (va + vb) ** 2 / denom if denom > 0 else float(na + nb - 2)
    return _t_result("welch", diff, se, df, confidence)


def paired_t_test(a: Any, b: Any, confidence: float = 0.95) -> TestResult:
    """Paired t-test on a - b (the arrays are aligned by seed or fold)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.isfinite(d)]
    n = d.size
    diff = float(d.mean()) if n else math.nan
    if n < 2:
        return TestResult("paired-t", math.nan, math.nan, math.nan, diff, math.nan, math.nan, float(np.sign(diff)))
    return _t_result("paired-t", diff, float(d.std(ddof=1) / math.sqrt(n)), n - 1, confidence)


def nadeau_bengio_test(a: Any, b: Any, n_train: int, n_test: int, confidence: float = 0.95) -> TestResult:
    """Corrected resampled t-test for scores from J cross-validation folds (or repeated folds).

    Nadeau, C. & Bengio, Y. (2003) "Inference for the generalization error", Machine Learning 52:239-281;
    Bouckaert, R. & Frank, E. (2004) for repeated k-fold. Training sets overlap, so fold scores are
    correlated and the paired t-test is far too liberal; the variance term 1/J becomes
    1/J + n_test/n_train: t = mean(d) / sqrt((1/J + n_test/n_train) s_d^2), J - 1 degrees of freedom.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.isfinite(d)]
    j = d.size
    diff = float(d.mean()) if j else math.nan
    if j < 2:
        return TestResult("nadeau-bengio", math.nan, math.nan, math.nan, diff, math.nan, math.nan, float(np.sign(diff)))
    se = math.sqrt((1 / j + n_test / n_train) * d.var(ddof=1))
    return _t_result("nadeau-bengio", diff, se, j - 1, confidence)


def wilcoxon_test(a: Any, b: Any, confidence: float = 0.95) -> TestResult:
    """Wilcoxon signed-rank test on paired differences (scipy). ``diff`` is the Hodges-Lehmann estimate (the
    median of the Walsh averages) with the interval that inverts the signed-rank test (exact without ties or
    zeros up to 50 pairs, normal otherwise; Hollander & Wolfe 1999, sec. 3.3), so the interval agrees with
    the test rather than with a t-test it did not run."""
    from scipy import stats

    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.isfinite(d)]
    diff, lo, hi = signed_rank_interval(d, confidence)
    nz = d[d != 0]
    if nz.size == 0:
        return TestResult("wilcoxon", 0.0, math.nan, 1.0, diff, lo, hi, 0.0)
    res = stats.wilcoxon(d)
    ranks = stats.rankdata(np.abs(nz))
    direction = float(np.sign(ranks[nz > 0].sum() - ranks[nz < 0].sum()))
    return TestResult("wilcoxon", float(res.statistic), math.nan, float(res.pvalue), diff, lo, hi, direction)


def mann_whitney_test(a: Any, b: Any, confidence: float = 0.95, keep_infinite: bool = False) -> TestResult:
    """Mann-Whitney U test (scipy, exact for small samples without ties). ``diff`` is the Hodges-Lehmann shift
    (the median of all differences a_i - b_j) with the interval that inverts the U test (Bauer 1972).
    ``keep_infinite``: +-inf are outcomes (failures ranked worst), not dropped; only NaN is."""
    from scipy import stats

    a, b = (_not_nan(a), _not_nan(b)) if keep_infinite else (finite_values(a), finite_values(b))
    if a.size == 0 or b.size == 0:
        return TestResult("mann-whitney", math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, 0.0)
    diff, lo, hi = shift_interval(a, b, confidence)
    res = stats.mannwhitneyu(a, b, alternative="two-sided")
    direction = float(np.sign(p_better(a, b) - 0.5))
    return TestResult("mann-whitney", float(res.statistic), math.nan, float(res.pvalue), diff, lo, hi, direction)


def _not_nan(x: Any) -> np.ndarray:
    v = np.asarray(x, dtype=float).ravel()
    return v[~np.isnan(v)]


# rank-based estimates and intervals ---------------------------------------------------------------------


def _pairwise_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        d = (a[:, None] - b[None, :]).ravel()
    return np.sort(np.where(np.isnan(d), 0.0, d))  # two failures (inf - inf) tie


def _exact_counts(polys: list[np.ndarray]) -> np.ndarray:
    out = np.array([1.0])
    for p in polys:
        out = np.convolve(out, p)
    return out


@functools.lru_cache(maxsize=256)
def _u_distribution(m: int, n: int) -> np.ndarray:
    """P(U = u), u = 0..mn, for the Mann-Whitney U without ties: the Gaussian binomial [m+n choose m]_q."""
    from scipy.special import comb

    c = np.zeros(m * n + 1, dtype=object)
    c[0] = 1
    for i in range(1, m + 1):  # multiply by (1 - q^(n+i)), divide by (1 - q^i): exact integer arithmetic
        c[n + i :] = c[n + i :] - c[: m * n + 1 - n - i].copy()
        for k in range(i, m * n + 1):
            c[k] += c[k - i]
    return np.asarray(c / comb(m + n, m, exact=True), dtype=float)


def shift_interval(a: Any, b: Any, confidence: float = 0.95) -> tuple[float, float, float]:
    """(Hodges-Lehmann shift, low, high): the median of the m n differences a_i - b_j and the order statistics
    D_(k), D_(mn+1-k) that bound the shifts the two-sided U test does not reject (Bauer, D. F. 1972,
    "Constructing confidence sets using rank statistics", JASA 67:687-690). Exact when scipy's test is exact
    (no ties, one side <= 8 runs), else the normal approximation with the tie correction."""
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    m, n = a.size, b.size
    d = _pairwise_differences(a, b)
    big = m * n
    estimate = float(np.median(d))
    pooled = np.concatenate([a, b])
    ties = np.unique(pooled).size < pooled.size
    alpha = 1 - confidence
    if not ties and min(m, n) <= 8 and big <= 2500:
        cdf = np.cumsum(_u_distribution(m, n))
        k = int(np.searchsorted(cdf, alpha / 2 + 1e-12, side="right"))  # P(U <= k - 1) <= alpha / 2
    else:
        _, counts = np.unique(pooled, return_counts=True)
        total = m + n
        var = m * n / 12 * (total + 1 - float(np.sum(counts**3 - counts)) / (total * (total - 1)))
        k = math.floor(big / 2 - stats.norm.ppf(1 - alpha / 2) * math.sqrt(max(var, 0.0)))
    if k < 1:
        return estimate, -math.inf, math.inf
    return estimate, float(d[k - 1]), float(d[big - k])


@functools.lru_cache(maxsize=128)
def _signed_rank_distribution(n: int) -> np.ndarray:
    polys = []
    for i in range(1, n + 1):
        p = np.zeros(i + 1)
        p[0] = p[i] = 1.0
        polys.append(p)
    counts = _exact_counts(polys)
    return counts / counts.sum()


def signed_rank_interval(d: Any, confidence: float = 0.95) -> tuple[float, float, float]:
    """(Hodges-Lehmann estimate, low, high) of the center of paired differences: the median of the Walsh
    averages (d_i + d_j) / 2, i <= j, and their order statistics bounding the centers the signed-rank test
    does not reject (exact without ties or zeros up to 50 pairs, normal approximation otherwise)."""
    from scipy import stats

    d = np.asarray(d, dtype=float)
    n = d.size
    if n == 0:
        return math.nan, math.nan, math.nan
    i, j = np.triu_indices(n)
    walsh = np.sort((d[i] + d[j]) / 2)
    total = walsh.size
    estimate = float(np.median(walsh))
    alpha = 1 - confidence
    if n <= 50 and np.unique(np.abs(d)).size == n and not (d == 0).any():
        cdf = np.cumsum(_signed_rank_distribution(n))
        k = int(np.searchsorted(cdf, alpha / 2 + 1e-12, side="right"))
    else:
        k = math.floor(total / 2 - stats.norm.ppf(1 - alpha / 2) * math.sqrt(n * (n + 1) * (2 * n + 1) / 24))
    if k < 1:
        return estimate, -math.inf, math.inf
    return estimate, float(walsh[k - 1]), float(walsh[total - k])


# effect sizes -----------------------------------------------------------------------------------------


def prob_superiority(a: Any, b: Any) -> float:
    """P(A > B) + P(A = B) / 2 for a random run of each: the Mann-Whitney U of A over n_A n_B (McGraw & Wong
    1992's common-language effect size, the AUC)."""
    a, b = finite_values(a), finite_values(b)
    if a.size == 0 or b.size == 0:
        return math.nan
    diff = a[:, None] - b[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def p_better(a: Any, b: Any, higher_is_better: bool = True) -> float:
    """P(a run of A beats a run of B in the metric's direction) + ties / 2, with +-inf kept as outcomes (a
    failure recorded as the worst value ties with another failure and loses to every score); NaN dropped."""
    a, b = _not_nan(a), _not_nan(b)
    if a.size == 0 or b.size == 0:
        return math.nan
    if not higher_is_better:
        a, b = -a, -b
    gt = (a[:, None] > b[None, :]).sum()
    eq = (a[:, None] == b[None, :]).sum()
    return float((gt + 0.5 * eq) / (a.size * b.size))


def prob_superiority_interval(p: Any, n_a: Any, n_b: Any, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Interval of P(A > B), vectorized over arrays of estimates and sample sizes.

    Newcombe, R. G. (2006) "Confidence intervals for an effect size measure based on the Mann-Whitney
    statistic. Part 2: asymptotic methods and evaluation", Statistics in Medicine 25:559-573, method 5: the
    score-type interval {theta : (theta - p)^2 <= z^2 V(theta)} with Hanley & McNeil's variance in which
    m - 1 and n - 1 are both replaced by N* = (m + n)/2 - 1:
    V(theta) = theta (1 - theta) / (m n) * [1 + N* (1 - theta)/(2 - theta) + N* theta/(1 + theta)].
    It stays inside [0, 1] and is not degenerate at p = 0 or 1 (complete separation, common with few runs).
    Solved by bisection, 60 halvings on every pair at once.
    """
    from scipy import stats

    p = np.atleast_1d(np.asarray(p, dtype=float))
    m = np.broadcast_to(np.asarray(n_a, dtype=float), p.shape)
    n = np.broadcast_to(np.asarray(n_b, dtype=float), p.shape)
    z2 = stats.norm.ppf(0.5 + confidence / 2) ** 2
    nstar = (m + n) / 2 - 1

    def f(theta: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):  # empty groups: NaN, masked below
            v = theta * (1 - theta) / (m * n) * (1 + nstar * (1 - theta) / (2 - theta) + nstar * theta / (1 + theta))
        return (theta - p) ** 2 - z2 * v

    def bisect(outside: np.ndarray, inside: np.ndarray) -> np.ndarray:
        for _ in range(60):
            mid = (outside + inside) / 2
            out = f(mid) > 0
            outside = np.where(out, mid, outside)
            inside = np.where(out, inside, mid)
        return (outside + inside) / 2

    valid = np.isfinite(p) & (m > 0) & (n > 0)
    pp = np.where(valid, p, 0.5)
    lo = np.where(pp > 0, bisect(np.zeros_like(pp), pp.copy()), 0.0)
    hi = np.where(pp < 1, bisect(np.ones_like(pp), pp.copy()), 1.0)
    lo = np.where(valid, lo, np.nan)
    hi = np.where(valid, hi, np.nan)
    return lo, hi


def hedges_g(a: Any, b: Any) -> float:
    """Standardized mean difference (A - B) / pooled sd with Hedges' small-sample correction
    J = 1 - 3 / (4 (n_A + n_B) - 9) (Hedges 1981)."""
    a, b = finite_values(a), finite_values(b)
    na, nb = a.size, b.size
    if na < 2 or nb < 2:
        return math.nan
    diff = a.mean() - b.mean()
    sp = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    if sp == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return float(diff / sp * (1 - 3 / (4 * (na + nb) - 9)))


def paired_dz(a: Any, b: Any) -> float:
    """Standardized mean of paired differences, the effect size paired-test power depends on."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return math.nan
    s = d.std(ddof=1)
    if s == 0:
        return 0.0 if d.mean() == 0 else math.copysign(math.inf, d.mean())
    return float(d.mean() / s)


# multiplicity -------------------------------------------------------------------------------------------


def adjust_pvalues(p: Any, method: str = "holm") -> tuple[np.ndarray, np.ndarray]:
    """(adjusted p-values, multipliers) over one family; NaN p-values are left out of the family.

    ``holm``: Holm (1979) step-down, controls the family-wise error rate. ``bh``: Benjamini & Hochberg
    (1995) step-up, controls the false discovery rate. ``none``. The multiplier is the factor the method
    applies to each raw p-value before monotonicity (Holm: m - i + 1, BH: m / i for the i-th smallest), the
    per-comparison level being alpha / multiplier.
    """
    p = np.asarray(p, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    mult = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return adjusted, mult
    order = ok[np.argsort(p[ok], kind="stable")]
    ps = p[order]
    i = np.arange(1, m + 1)
    if method == "holm":
        factor = m - i + 1.0
        adj = np.minimum(1.0, np.maximum.accumulate(ps * factor))
    elif method in ("bh", "fdr_bh", "benjamini-hochberg"):
        factor = m / i
        adj = np.minimum(1.0, np.minimum.accumulate((ps * factor)[::-1])[::-1])
    elif method == "none":
        factor = np.ones(m)
        adj = ps.copy()
    else:
        raise ValueError(f"unknown adjustment {method!r}: use 'holm', 'bh' or 'none'")
    adjusted[order] = adj
    mult[order] = factor
    return adjusted, mult


# shape ----------------------------------------------------------------------------------------------------


def clearly_skewed(x: Any, min_n: int = 8, min_skew: float = 1.0, alpha: float = 0.01) -> bool:
    """True when the scores are skewed beyond doubt: |adjusted skewness| >= 1 and D'Agostino's skewness test
    rejects symmetry at 1% (scipy.stats.skewtest, which needs n >= 8)."""
    from scipy import stats

    a = finite_values(x)
    n = a.size
    if n < min_n or a.std() == 0:
        return False
    c = a - a.mean()
    g1 = np.mean(c**3) / np.mean(c**2) ** 1.5 * math.sqrt(n * (n - 1)) / (n - 2)
    if abs(g1) < min_skew:
        return False
    return bool(stats.skewtest(a).pvalue < alpha)


# several data sets ----------------------------------------------------------------------------------------


@dataclass
class FriedmanResult:
    """Friedman test over N data sets (rows) x k methods (columns), with Nemenyi's critical difference."""

    average_ranks: np.ndarray
    statistic: float  # chi-square, tie-corrected unless asked otherwise
    p_value: float
    iman_davenport: float  # F statistic, (k-1, (k-1)(N-1)) df
    p_value_f: float
    cd: float  # Nemenyi critical difference of average ranks at alpha
    n_datasets: int
    k: int
    alpha: float
    nemenyi_p: np.ndarray  # k x k matrix


def rank_rows(scores: Any, higher_is_better: bool = True) -> np.ndarray:
    """Rank methods within each data set: 1 = best, ties share the average rank."""
    from scipy import stats

    s = np.asarray(scores, dtype=float)
    return stats.rankdata(-s if higher_is_better else s, axis=1)


def friedman(
    scores: Any, higher_is_better: bool = True, alpha: float = 0.05, tie_correction: bool = True
) -> FriedmanResult:
    """Friedman (1937) test with the Iman-Davenport (1980) F form and Nemenyi post-hoc, as set out in
    Demsar, J. (2006) "Statistical comparisons of classifiers over multiple data sets", JMLR 7:1-30:
    chi2_F = 12N / (k(k+1)) [sum R_j^2 - k(k+1)^2 / 4], F_F = (N-1) chi2_F / (N(k-1) - chi2_F),
    CD = q_alpha sqrt(k(k+1) / (6N)) with q_alpha the studentized range quantile / sqrt(2). The tie correction
    divides chi2_F by 1 - sum(t^3 - t) / (N k (k^2 - 1)) (as scipy.stats.friedmanchisquare)."""
    from scipy import stats

    s = np.asarray(scores, dtype=float)
    n, k = s.shape
    ranks = rank_rows(s, higher_is_better)
    avg = ranks.mean(axis=0)
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(avg**2) - k * (k + 1) ** 2 / 4)
    if tie_correction:
        ties = 0.0
        for row in ranks:
            _, counts = np.unique(row, return_counts=True)
            ties += float(np.sum(counts**3 - counts))
        c = 1 - ties / (n * k * (k * k - 1))
        chi2 = chi2 / c if c > 0 else math.nan
    p = float(stats.chi2.sf(chi2, k - 1))
    denom = n * (k - 1) - chi2
    ff = (n - 1) * chi2 / denom if denom > 0 else math.inf
    pf = float(stats.f.sf(ff, k - 1, (k - 1) * (n - 1))) if np.isfinite(ff) else 0.0
    return FriedmanResult(
        avg, float(chi2), p, float(ff), pf, nemenyi_cd(k, n, alpha), n, k, alpha, nemenyi_pvalues(avg, n)
    )


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of average ranks for k methods on n data sets (Demsar 2006, eq. in 3.2.2):
    q_alpha = studentized range quantile(1 - alpha, k, inf) / sqrt(2); 2.569 for k = 4 at alpha 0.05."""
    from scipy import stats

    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6 * n)))


def nemenyi_pvalues(average_ranks: Any, n: int) -> np.ndarray:
    """Pairwise Nemenyi p-values from average ranks: |R_i - R_j| / sqrt(k(k+1)/(6N)) is a studentized range
    over sqrt(2)."""
    from scipy import stats

    r = np.asarray(average_ranks, dtype=float)
    k = r.size
    z = np.abs(r[:, None] - r[None, :]) / math.sqrt(k * (k + 1) / (6 * n))
    p = stats.studentized_range.sf(z * math.sqrt(2), k, np.inf)
    np.fill_diagonal(p, 1.0)
    return np.clip(p, 0.0, 1.0)
