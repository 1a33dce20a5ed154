"""nbtrack.analysis.significance against independent references: published worked examples (R, Demsar 2006,
Benjamini-Hochberg 1995), scipy on the same samples, and seeded coverage simulations.

Coverage tolerance: a 95% interval must cover the true value in 92-97.5% of repeated draws (the target of
issue #4, for n >= 5, normal and lognormal(0, 0.5) scores). With R draws the simulation's own standard error
is sqrt(0.95 * 0.05 / R): 0.22 points at R = 10,000, 0.49 at R = 2,000; the seeds are fixed, so the figures
are reproducible.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from nbtrack.analysis import intervals, significance

COVERAGE_LOW, COVERAGE_HIGH = 0.92, 0.975

# R's `sleep` data: extra hours of sleep with two drugs, 10 patients (Student 1908)
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


# published worked examples ----------------------------------------------------------------------------


def test_welch_matches_r_sleep_example():
    # R: t.test(extra ~ group, data = sleep) -> t = -1.8608, df = 17.776, p-value = 0.07939,
    # 95 percent confidence interval: -3.3654832  0.2054832
    res = significance.welch_test(SLEEP_1, SLEEP_2)
    assert res.statistic == pytest.approx(-1.8608, abs=5e-5)
    assert res.df == pytest.approx(17.776, abs=5e-4)
    assert res.p_value == pytest.approx(0.07939, abs=5e-6)
    assert (res.ci_low, res.ci_high) == pytest.approx((-3.3654832, 0.2054832), abs=5e-8)
    assert res.diff == pytest.approx(-1.58)


def test_paired_t_matches_r_sleep_example():
    # R: t.test(extra ~ group, data = sleep, paired = TRUE) -> t = -4.0621, df = 9, p-value = 0.002833
    res = significance.paired_t_test(SLEEP_1, SLEEP_2)
    assert res.statistic == pytest.approx(-4.0621, abs=5e-5)
    assert res.df == 9
    assert res.p_value == pytest.approx(0.002833, abs=5e-7)
    assert (res.ci_low, res.ci_high) == pytest.approx((-2.4598858, -0.7001142), abs=5e-7)


# Demsar (2006), JMLR 7:1-30, table 6: AUC of C4.5 with and without m / cf tuning on 14 UCI data sets.
DEMSAR_AUC = np.array(
    [
        [0.763, 0.768, 0.771, 0.798],
        [0.599, 0.591, 0.590, 0.569],
        [0.954, 0.971, 0.968, 0.967],
        [0.628, 0.661, 0.654, 0.657],
        [0.882, 0.888, 0.886, 0.898],
        [0.936, 0.931, 0.916, 0.931],
        [0.661, 0.668, 0.609, 0.685],
        [0.583, 0.583, 0.563, 0.625],
        [0.775, 0.838, 0.866, 0.875],
        [1.000, 1.000, 1.000, 1.000],
        [0.940, 0.962, 0.965, 0.962],
        [0.619, 0.666, 0.614, 0.669],
        [0.972, 0.981, 0.975, 0.975],
        [0.957, 0.978, 0.946, 0.970],
    ]
)


def _demsar_as_ranked_in_the_paper():
    # The table prints 3 decimals; the paper ranks 'voting' (row 13) 4, 1, 2, 3, so its third value is the
    # larger of the two printed as 0.975. With that order the paper's figures follow exactly.
    table = DEMSAR_AUC.copy()
    table[12, 2] = 0.9751
    return table


def test_friedman_nemenyi_match_demsar_2006():
    res = significance.friedman(_demsar_as_ranked_in_the_paper(), higher_is_better=True, tie_correction=False)
    assert res.average_ranks == pytest.approx([3.143, 2.000, 2.893, 1.964], abs=5e-4)
    assert res.statistic == pytest.approx(9.28, abs=5e-3)  # chi2_F in the paper
    assert res.iman_davenport == pytest.approx(3.69, abs=5e-3)  # F_F in the paper
    assert res.cd == pytest.approx(1.25, abs=5e-3)  # CD = 2.569 sqrt(4 * 5 / (6 * 14))
    assert res.p_value_f < 0.05  # "we reject the null hypothesis" (F(3, 39) critical value 2.85)
    # post-hoc: C4.5 vs C4.5+m+cf differ by 1.179 < CD at 0.05; at 0.10, CD = 2.291 sqrt(...) = 1.12 (paper)
    assert significance.nemenyi_cd(4, 14, 0.10) == pytest.approx(1.12, abs=5e-3)
    assert res.nemenyi_p[0, 3] > 0.05 and res.nemenyi_p[0, 3] < 0.10


def test_nemenyi_q_values_match_demsar_table_5a():
    # q_0.05 for k = 2..10 from Demsar's table 5(a): the studentized range / sqrt(2)
    table = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]
    for k, q in zip(range(2, 11), table, strict=True):
        n = 10
        assert significance.nemenyi_cd(k, n, 0.05) / math.sqrt(k * (k + 1) / (6 * n)) == pytest.approx(q, abs=1e-3)


def test_friedman_with_ties_matches_scipy():
    res = significance.friedman(DEMSAR_AUC, higher_is_better=True)
    ref = stats.friedmanchisquare(*DEMSAR_AUC.T)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-10)


BH_1995 = [
    0.0001,
    0.0004,
    0.0019,
    0.0095,
    0.0201,
    0.0278,
    0.0298,
    0.0344,
    0.0459,
    0.3240,
    0.4262,
    0.5719,
    0.6528,
    0.7590,
    1.000,
]


def test_benjamini_hochberg_1995_example():
    # Benjamini & Hochberg (1995), section 4: the 15 p-values of the example; BH rejects 4 at 0.05, Holm 3
    order = np.random.default_rng(0).permutation(len(BH_1995))  # the input order must not matter
    p = np.array(BH_1995)[order]
    bh, _ = significance.adjust_pvalues(p, "bh")
    holm, _ = significance.adjust_pvalues(p, "holm")
    assert (bh < 0.05).sum() == 4 and (holm < 0.05).sum() == 3
    assert sorted(p[bh < 0.05]) == BH_1995[:4]
    if hasattr(stats, "false_discovery_control"):  # scipy >= 1.11
        assert bh == pytest.approx(stats.false_discovery_control(p, method="bh"), rel=1e-12)


def test_holm_by_hand_and_nan_left_out():
    adjusted, mult = significance.adjust_pvalues([0.01, 0.04, np.nan, 0.03, 0.2], "holm")
    # sorted 0.01, 0.03, 0.04, 0.2 with m = 4: 0.04, 0.09, 0.09 (monotone), 0.2
    assert adjusted[[0, 3, 1, 4]] == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert math.isnan(adjusted[2]) and list(mult[[0, 3, 1, 4]]) == [4, 3, 2, 1]
    none, _ = significance.adjust_pvalues([0.01, 0.5], "none")
    assert list(none) == [0.01, 0.5]
    with pytest.raises(ValueError):
        significance.adjust_pvalues([0.1], "bonferroni-ish")


# against scipy on the same samples ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_tests_match_scipy(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0.3, 1, 9 + seed), rng.lognormal(0, 0.7, 12)
    w = significance.welch_test(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert (w.statistic, w.p_value) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-10)
    ci = ref.confidence_interval(0.9)
    w90 = significance.welch_test(a, b, confidence=0.9)
    assert (w90.ci_low, w90.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-10)
    x, y = rng.normal(0, 1, 10), rng.normal(0.5, 1, 10)
    p = significance.paired_t_test(x, y)
    ref = stats.ttest_rel(x, y)
    assert (p.statistic, p.p_value) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-10)
    assert significance.mann_whitney_test(a, b).p_value == pytest.approx(stats.mannwhitneyu(a, b).pvalue, rel=1e-12)
    assert significance.wilcoxon_test(x, y).p_value == pytest.approx(stats.wilcoxon(x - y).pvalue, rel=1e-12)
    u = stats.mannwhitneyu(a, b).statistic
    assert significance.prob_superiority(a, b) == pytest.approx(u / (len(a) * len(b)), rel=1e-12)
    lo, hi = intervals.t_interval(a)
    assert (lo, hi) == pytest.approx(stats.t.interval(0.95, len(a) - 1, a.mean(), stats.sem(a)), rel=1e-10)
    assert intervals.iqm(b) == pytest.approx(stats.trim_mean(b, 0.25), rel=1e-12)


def test_prob_superiority_counts_ties_half():
    assert significance.prob_superiority([1, 2], [2, 3]) == pytest.approx((0 + 0 + 0.5 + 0) / 4)
    assert significance.prob_superiority([5, 6], [1, 2]) == 1.0


def test_nadeau_bengio_correction():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.80, 0.01, 10), rng.normal(0.79, 0.01, 10)
    plain = significance.paired_t_test(a, b)
    # with no test set the correction vanishes: the plain paired t-test
    assert significance.nadeau_bengio_test(a, b, 900, 0).statistic == pytest.approx(plain.statistic, rel=1e-12)
    # otherwise the variance grows by (1/J + n_test/n_train) / (1/J): 10-fold CV, 900/100 -> t shrinks by sqrt(2)
    nb = significance.nadeau_bengio_test(a, b, 900, 100)
    assert nb.statistic == pytest.approx(plain.statistic / math.sqrt(1 + 10 * 100 / 900), rel=1e-12)
    assert nb.df == 9 and nb.p_value > plain.p_value
    assert nb.p_value == pytest.approx(2 * stats.t.sf(abs(nb.statistic), 9), rel=1e-12)


def test_hedges_g_by_hand():
    a, b = np.array([2.0, 4, 6, 8]), np.array([1.0, 2, 3, 4, 5])
    sp = math.sqrt((3 * np.var(a, ddof=1) + 4 * np.var(b, ddof=1)) / 7)
    assert significance.hedges_g(a, b) == pytest.approx((a.mean() - b.mean()) / sp * (1 - 3 / (4 * 9 - 9)))
    assert significance.hedges_g(b, a) == pytest.approx(-significance.hedges_g(a, b))


def test_clearly_skewed():
    rng = np.random.default_rng(3)
    assert significance.clearly_skewed(rng.lognormal(0, 1, 40))
    assert not significance.clearly_skewed(rng.normal(0, 1, 40))
    assert not significance.clearly_skewed(rng.lognormal(0, 1, 6))  # too few to tell


def test_prob_superiority_interval_properties():
    lo, hi = significance.prob_superiority_interval([0.0, 0.3, 0.5, 0.7, 1.0], 6, 6)
    assert lo[0] == 0 and hi[-1] == 1 and 0 < hi[0] < 0.5 and 0.5 < lo[-1] < 1  # never degenerate
    assert lo[1:4] == pytest.approx(1 - hi[3:0:-1], abs=1e-9)  # symmetric in swapping the groups
    assert all(lo <= np.array([0.0, 0.3, 0.5, 0.7, 1.0])) and all(hi >= np.array([0.0, 0.3, 0.5, 0.7, 1.0]))


# coverage simulations ---------------------------------------------------------------------------------------

COVERAGE_FIGURES: dict[str, float] = {}  # filled by the simulations, printed by -s for the report


@pytest.mark.parametrize("n", [5, 10, 20])
def test_difference_and_p_greater_interval_coverage(n):
    """Welch interval of the difference of means and Newcombe's interval of P(A>B), two lognormal groups."""
    rng = np.random.default_rng(400 + n)
    sigma_a, sigma_b, shift = 0.5, 0.3, 0.4
    true_diff = math.exp(shift + sigma_a**2 / 2) - math.exp(sigma_b**2 / 2)
    true_p = stats.norm.cdf(shift / math.hypot(sigma_a, sigma_b))  # log A - log B is normal
    draws = 10_000
    a = rng.lognormal(shift, sigma_a, (draws, n))
    b = rng.lognormal(0, sigma_b, (draws, n))
    diff_hits = 0
    p_hat = np.empty(draws)
    for k in range(draws):
        res = significance.welch_test(a[k], b[k])
        diff_hits += res.ci_low <= true_diff <= res.ci_high
        p_hat[k] = significance.prob_superiority(a[k], b[k])
    lo, hi = significance.prob_superiority_interval(p_hat, n, n)
    p_cov = float(np.mean((lo <= true_p) & (true_p <= hi)))
    COVERAGE_FIGURES[f"diff n={n}"] = diff_hits / draws
    COVERAGE_FIGURES[f"P(A>B) n={n}"] = p_cov
    print(f"n = {n}: difference coverage {diff_hits / draws:.4f}, P(A>B) coverage {p_cov:.4f}")
    assert COVERAGE_LOW <= diff_hits / draws <= COVERAGE_HIGH
    assert COVERAGE_LOW <= p_cov <= 0.985  # Newcombe's interval is a little conservative at small n


# rank-based intervals (issue 14) ----------------------------------------------------------------------------


@pytest.mark.parametrize(("m", "n"), [(5, 7), (8, 12), (15, 15)])
def test_shift_interval_inverts_the_mann_whitney_test(m, n):
    rng = np.random.default_rng(m * n)
    a, b = rng.normal(1, 1, m), rng.normal(0, 1, n)
    est, lo, hi = significance.shift_interval(a, b)
    assert est == pytest.approx(np.median(np.subtract.outer(a, b)))
    eps = 1e-7
    inside = [stats.mannwhitneyu(a - d, b).pvalue for d in (lo + eps, hi - eps)]
    outside = [stats.mannwhitneyu(a - d, b).pvalue for d in (lo - eps, hi + eps)]
    assert min(inside) >= 0.05 - 0.005 and max(outside) < 0.05 + 0.005  # exact at small n, normal beyond


def test_signed_rank_interval_inverts_the_wilcoxon_test():
    rng = np.random.default_rng(5)
    d = rng.normal(0.5, 1, 12)
    est, lo, _ = significance.signed_rank_interval(d)
    walsh = [(d[i] + d[j]) / 2 for i in range(12) for j in range(i, 12)]
    assert est == pytest.approx(np.median(walsh))
    assert stats.wilcoxon(d - (lo + 1e-7)).pvalue >= 0.05 > stats.wilcoxon(d - (lo - 1e-7)).pvalue
    assert significance.signed_rank_interval(d[:5])[1:] == (-math.inf, math.inf)  # 5 pairs never reach 5%


def test_p_better_ranks_failures_worst():
    assert significance.p_better([1.0, 2.0], [1.5]) == 0.5
    assert significance.p_better([1.0, 2.0], [1.5], higher_is_better=False) == 0.5
    assert significance.p_better([0.3, math.inf], [0.35, 0.35], higher_is_better=False) == 0.5
    assert significance.p_better([-math.inf], [-math.inf]) == 0.5
