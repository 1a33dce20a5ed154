"""Which configuration is best in a sweep: Hsu's multiple comparisons with the best (MCB), and simultaneous
verdicts against the best by the studentized range (Tukey-Kramer).

With the reference picked from the data, testing it against every group with Holm over all k (k - 1) / 2 pairs
of Welch tests is valid but hopeless in sweeps: at 200 groups x 5 runs a configuration better by 4 standard
deviations is never found (each Welch test has 8 degrees of freedom and must reach p < 0.05 / 19,900). Both
methods here pool the groups' standard deviation (N - k degrees of freedom) and use the exact simultaneous
critical value of their family instead of Bonferroni.

- Which could be best (``.best``): Hsu's constrained MCB intervals for mu_i - max_{j != i} mu_j, simultaneous
  at the confidence level whatever group the data make look best (Hsu 1984, "Constrained simultaneous
  confidence intervals for multiple comparisons with the best", Ann. Statist. 12; Hsu 1996, "Multiple
  Comparisons", ch. 4), with the one-sided Dunnett critical value. A group whose upper bound is 0 is
  ``not best``: another configuration is at least as good (a weak statement, true also when they tie); the
  others are ``could be best``; a single candidate is ``best`` (lower bound 0). The p-value ``p_not_best``
  is the Dunnett tail probability of the group's largest standardized gap, below 1 - confidence exactly when
  the interval says so.
- Verdicts against the reference (the best mean), in ``.pairs``: ``worse`` is the strict claim "below the
  reference", so with equal groups it must stay rare: the Tukey-Kramer simultaneous intervals for all pairs
  (Tukey 1953; Kramer 1956; conservative for unequal sizes, Hayter 1984), whose family-wise error is exactly
  alpha for equal groups of equal size. ``diff_ci_low/high`` is that interval, the adjusted p-value is the
  studentized range tail probability, so interval and verdict agree.
- The Dunnett and studentized range distributions are computed by 2-D quadrature (checked against
  ``scipy.stats.dunnett`` and ``scipy.stats.studentized_range``); for unequal sizes MCB's lower bounds use each
  group's own quantile (Hsu's approximation). Both assume equal variances: a Levene test at 1% warns.
- Used by ``compare`` when no baseline is given and a slice has more than ``AUTO_GROUPS`` groups
  (``best="auto"``), in every slice without a baseline with ``best="mcb"``, never with ``best="pairs"``.
- The shared columns and verdicts are those of :mod:`~nbtrack.analysis.verdicts`: ``no difference`` when the
  Tukey-Kramer interval lies inside +-``margin``, ``inconclusive`` when neither it nor that holds, ``needs more
  runs`` (with ``flag``) for pairs with fewer than 3 runs a side or no variance; ``runs_needed`` is for
  ``min_effect`` at the per-comparison level matching the Tukey-Kramer critical value. Slices with failed runs
  are not tested here (means cannot rank failures): they get the pair tests (Mann-Whitney, failures worst) and
  a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from nbtrack.analysis import power
from nbtrack.analysis.equivalence import inside, interval_verdict, parse_effect
from nbtrack.analysis.equivalence import pooled_sd as pair_pooled_sd
from nbtrack.analysis.grouping import Configuration, Slice
from nbtrack.analysis.pairfacts import POWER, align_by_seed, degenerate, pair_facts
from nbtrack.analysis.significance import TestResult, hedges_g
from nbtrack.analysis.summary import MIN_REFERENCE_RUNS

AUTO_GROUPS = 6
BEST_MODES = ("auto", "mcb", "pairs")
MCB_TEST = "tukey-kramer"
COLUMNS = ["best_status"]
STATUSES = ("best", "could be best", "not best")

_Z = np.linspace(-8.5, 8.5, 257)
_ZW = np.exp(-0.5 * _Z**2) / math.sqrt(2 * math.pi) * (_Z[1] - _Z[0])
_U, _UW = np.polynomial.legendre.leggauss(96)


# the Dunnett distribution ---------------------------------------------------------------------------------------


def _scale_nodes(df: float | None) -> tuple[Any, Any]:
    """Nodes and weights of s = sqrt(chi2_df / df) (the studentizing factor); s = 1 for df None (known sd)."""
    if df is None or not math.isfinite(df) or df > 1e5:
        return np.ones(1), np.ones(1)
    from scipy import special

    u = 0.5 * (_U + 1.0)
    return np.sqrt(special.chdtri(df, 1.0 - u) / df), 0.5 * _UW


def dunnett_cdf(d: Any, lambdas: Any, df: float | None) -> Any:
    """P(max_i T_i <= d) for one-sided Dunnett statistics T_i with correlations lambda_i lambda_j (comparisons
    with one control: lambda_i = sqrt(n_i / (n_i + n_control))), studentized by a pooled sd on ``df`` degrees
    of freedom (None: known sd). ``d`` may be an array."""
    from scipy import special

    lam, counts = np.unique(np.round(np.asarray(lambdas, dtype=float), 12), return_counts=True)
    d_arr = np.atleast_1d(np.asarray(d, dtype=float))
    s, sw = _scale_nodes(df)
    root = np.sqrt(1.0 - lam**2)
    # axes: d, s, z, distinct lambda
    arg = (d_arr[:, None, None, None] * s[None, :, None, None] + lam * _Z[None, None, :, None]) / root
    log_p = (special.log_ndtr(arg) * counts).sum(axis=-1)
    inner = (np.exp(log_p) * _ZW).sum(axis=-1)
    out = np.clip((inner * sw).sum(axis=-1), 0.0, 1.0)
    return float(out[0]) if np.ndim(d) == 0 else out


@lru_cache(maxsize=256)
def _quantile(lambdas: tuple[float, ...], df: float | None, confidence: float) -> float:
    from scipy import optimize

    return float(optimize.brentq(lambda d: dunnett_cdf(d, lambdas, df) - confidence, -5.0, 40.0, xtol=1e-7))


def dunnett_quantile(lambdas: Any, df: float | None, confidence: float = 0.95) -> float:
    """The one-sided Dunnett critical value: P(max_i T_i <= d) = confidence."""
    return _quantile(tuple(float(v) for v in np.round(np.sort(np.asarray(lambdas, dtype=float)), 12)), df, confidence)


def range_cdf(q: Any, k: int, df: float | None) -> Any:
    """P(R <= q) for the studentized range R of ``k`` standard normal means studentized by a pooled sd on
    ``df`` degrees of freedom (None: known sd): E_s[k * integral phi(z) (Phi(z) - Phi(z - q s))^(k-1) dz]."""
    from scipy import special

    q_arr = np.atleast_1d(np.asarray(q, dtype=float))
    s, sw = _scale_nodes(df)
    width = q_arr[:, None, None] * s[None, :, None]
    inner = special.ndtr(_Z) - special.ndtr(_Z - width)
    with np.errstate(divide="ignore"):
        dens = np.exp((k - 1) * np.log(np.maximum(inner, 0.0))) * (k * _ZW)
    out = np.clip((dens.sum(axis=-1) * sw).sum(axis=-1), 0.0, 1.0)
    return float(out[0]) if np.ndim(q) == 0 else out


@lru_cache(maxsize=64)
def range_quantile(k: int, df: float | None, confidence: float = 0.95) -> float:
    """The studentized range critical value q: P(R <= q) = confidence."""
    from scipy import optimize

    return float(optimize.brentq(lambda q: range_cdf(q, k, df) - confidence, 0.0, 60.0, xtol=1e-7))


@lru_cache(maxsize=64)
def _sf_grid(kind: str, shape: tuple[float, ...], df: float | None) -> tuple[Any, Any]:
    """Tail probabilities on a grid of the statistic, so the p-values of many groups cost one evaluation."""
    grid = np.linspace(0.0, 12.0, 241) if kind == "range" else np.linspace(-4.0, 12.0, 321)
    cdf = range_cdf(grid, int(shape[0]), df) if kind == "range" else dunnett_cdf(grid, shape, df)
    return grid, np.log(np.maximum(1.0 - cdf, 1e-300))


def _sf(kind: str, x: Any, shape: tuple[float, ...], df: float | None) -> Any:
    grid, log_sf = _sf_grid(kind, shape, df)
    x = np.asarray(x, dtype=float)
    return np.where(np.isnan(x), np.nan, np.exp(np.interp(x, grid, log_sf, left=0.0, right=log_sf[-1])))


# MCB of one set of groups ---------------------------------------------------------------------------------------


@dataclass
class MCBResult:
    """Per group (in the metric's units, ``mcb_low``/``mcb_high`` bound mu_i minus the best of the others)."""

    low: Any
    high: Any
    candidate: Any  # bool per group: could be the best
    p_not_best: Any  # adjusted p-value of "this group is not the best"
    statistic: Any  # largest standardized gap to another group
    crit: Any  # the Dunnett critical value used for each group
    sd: float
    df: float


def mcb(means: Any, sizes: Any, sd: float, df: float, higher_is_better: bool = True, confidence: float = 0.95) -> Any:
    """Hsu's constrained MCB intervals for mu_i - max_{j != i} mu_j (mu_i - min for lower-is-better) from group
    means, sizes and the pooled sd on ``df`` degrees of freedom."""
    y = np.asarray(means, dtype=float) * (1.0 if higher_is_better else -1.0)
    n = np.asarray(sizes, dtype=float)
    k = y.size
    crit = np.empty(k)
    pvals = np.empty(k)
    se = sd * np.sqrt(1.0 / n[:, None] + 1.0 / n[None, :])
    gap = y[:, None] - y[None, :]  # y_i - y_j
    off = ~np.eye(k, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(off, -gap / se, -np.inf).max(axis=1)
    cache: dict[tuple[float, ...], tuple[float, list[int]]] = {}
    for i in range(k):
        others = np.delete(n, i)
        key = (n[i], *np.sort(others))
        if key not in cache:
            lam = np.sqrt(others / (others + n[i]))
            cache[key] = (dunnett_quantile(lam, df, confidence), [])
        crit[i] = cache[key][0]
        cache[key][1].append(i)
    for key, (_, members) in cache.items():
        others_n = np.asarray(key[1:])
        lam = tuple(float(v) for v in np.round(np.sort(np.sqrt(others_n / (others_n + key[0]))), 12))
        pvals[members] = _sf("dunnett", stat[members], lam, df)
    upper_raw = np.where(off, gap + crit[:, None] * se, np.inf).min(axis=1)
    candidate = upper_raw > 0
    high = np.maximum(upper_raw, 0.0)
    lower_terms = np.where(off & candidate[None, :], gap - crit[:, None] * se, np.inf).min(axis=1)
    only = candidate.sum() == 1
    low = np.where(only & candidate, 0.0, np.minimum(lower_terms, 0.0))
    if not higher_is_better:
        low, high = -high, -low
    return MCBResult(low, high, candidate, np.clip(pvals, 0.0, 1.0), stat, crit, float(sd), float(df))


def pooled_sd(groups_values: list[Any]) -> tuple[float, float]:
    """(pooled standard deviation, its degrees of freedom N - k) over the groups with at least 2 values."""
    ss = sum(float(((v - v.mean()) ** 2).sum()) for v in groups_values if v.size > 1)
    df = sum(v.size - 1 for v in groups_values if v.size > 1)
    return (math.sqrt(ss / df) if df > 0 else math.nan), float(df)


def blocked_sd(sl: Slice, ref_index: int) -> tuple[float, float] | None:
    """(residual sd, (k - 1)(n - 1) df) of the additive groups + seeds model when every group ran the same
    seeds once each (a randomized block design: shared seed effects leave the comparisons), else None."""
    ref = sl.groups[ref_index]
    cols = []
    for g in sl.groups:
        aligned = align_by_seed(ref, g) if g is not ref else (np.asarray(ref.values), np.asarray(ref.values))
        if aligned is None:
            return None
        cols.append(np.asarray(aligned[1], dtype=float))
    x = np.stack(cols)
    k, n = x.shape
    if n < 2 or k < 2:
        return None
    res = x - x.mean(1, keepdims=True) - x.mean(0, keepdims=True) + x.mean()
    df = float((k - 1) * (n - 1))
    return math.sqrt(float((res**2).sum()) / df), df


# the slices of a comparison -------------------------------------------------------------------------------------


@dataclass
class MCBMethod:
    """Multiple comparisons with the best, plugged into :func:`nbtrack.analysis.verdicts.analyze` for the
    slices without a baseline (and, with ``mode="auto"``, more than ``AUTO_GROUPS`` groups)."""

    mode: str = "auto"
    columns: list[str] = field(default_factory=list)  # COLUMNS once it applied to a slice
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    best_rows: list[dict[str, Any]] = field(default_factory=list)
    _crit: list[tuple[float, float, int]] = field(default_factory=list)
    _range: list[tuple[float, float, int]] = field(default_factory=list)
    _blocked: bool = False
    _unequal: list[str] = field(default_factory=list)
    _failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode not in BEST_MODES:
            raise ValueError(f"unknown best={self.mode!r}: use one of {', '.join(BEST_MODES)}")

    def applies(self, sl: Slice, selected_reference: bool) -> bool:
        if self.mode == "pairs" or not selected_reference or len(sl.groups) < 2:
            return False
        if pooled_sd([np.asarray(g.values, dtype=float) for g in sl.groups])[1] < 2:
            return False
        if not (self.mode == "mcb" or len(sl.groups) > AUTO_GROUPS):
            return False
        failed = sum(g.n_failed for g in sl.groups)
        if failed:  # MCB pools means: a failure cannot be ranked worst there, so these pairs are tested pair by pair
            self._failures.append(
                f"{sl.metric}" + (f" on {sl.dataset}" if sl.dataset is not None else "") + f": {failed}"
            )
            return False
        return True

    def reference(self, sl: Slice, stats_rows: list[dict[str, Any]], hib: bool, ref_index: int) -> int:
        """MCB is about means: the reference is the group with the best mean, among the groups with at least
        MIN_REFERENCE_RUNS runs when there are any (as for the fixed-n tests)."""
        means = [r["mean"] for r in stats_rows]
        pool = [k for k, g in enumerate(sl.groups) if g.n_total >= MIN_REFERENCE_RUNS] or list(range(len(means)))
        return max(pool, key=lambda k: (means[k] if hib else -means[k], -k))

    def finish(self, confidence: float, families: set[int]) -> None:
        if self._failures:
            self.warnings.append(
                f"Multiple comparisons with the best skipped where runs failed ({', '.join(self._failures)} failed "
                f"runs): MCB compares means and cannot rank failures as worst; those slices are tested pair by pair "
                f"(Holm over all pairs, Mann-Whitney with failures worst)."
            )
        if not self._crit:
            return
        mcb_d = "; ".join(f"d = {d:.3f} (df {df:g}, {k} groups)" for d, df, k in dict.fromkeys(self._crit))
        tk_q = "; ".join(f"q/sqrt(2) = {q:.3f}" for q, _, _ in dict.fromkeys(self._range))
        self.notes.append(
            f"reference: the group with the best mean. Verdicts: Tukey-Kramer {confidence:.0%} simultaneous "
            f"intervals over all pairs (pooled sd, studentized range {tk_q}) as diff_ci_low/high, rather than Holm "
            f"over all pairs (best='pairs'). Which could be best: Hsu's MCB ({confidence:.0%} simultaneous "
            f"intervals of 'group - best of the others', one-sided Dunnett {mcb_d}) in .best and best_status: "
            f"'not best' = another configuration is at least as good"
            + (
                "; where every group ran the same seeds, the sd is the residual of groups + seeds (blocks)"
                if self._blocked
                else ""
            )
        )
        if self._unequal:
            self.warnings.append(
                f"The sweep's tests pool the groups' variances, but they clearly differ ({', '.join(self._unequal)}; "
                f"Levene p < 0.01): verdicts of the noisiest groups may be off; best='pairs' tests pair by pair."
            )

    def pair_rows(
        self,
        sl: Slice,
        ref_index: int,
        hib: bool,
        config: Configuration,
        options: Any,
        selected_reference: bool,
    ) -> tuple[list[dict[str, Any]], int]:
        from scipy import special, stats

        self.columns = list(COLUMNS)
        values = [np.asarray(g.values, dtype=float) for g in sl.groups]
        k = len(values)
        sd, df = pooled_sd(values)
        blocked = blocked_sd(sl, ref_index)
        if blocked is not None:
            sd, df = blocked
            self._blocked = True
        means = np.array([v.mean() for v in values])
        sizes = np.array([v.size for v in values])
        res = mcb(means, sizes, sd, df, hib, options.confidence)
        self._crit.append((float(res.crit[ref_index]), df, k))
        if k > 2 and (sizes > 1).sum() > 2:
            with np.errstate(all="ignore"):
                lev = stats.levene(*[v for v in values if v.size > 1], center="median").pvalue
            if np.isfinite(lev) and lev < 0.01:
                self._unequal.append(sl.metric + (f" on {sl.dataset}" if sl.dataset is not None else ""))
        only = int(res.candidate.sum()) == 1
        for i, g in enumerate(sl.groups):
            status = "best" if (only and res.candidate[i]) else "could be best" if res.candidate[i] else "not best"
            self.best_rows.append(
                {
                    "metric": sl.metric,
                    **({"dataset": sl.dataset} if config.dataset_col else {}),
                    **dict(zip(config.param_columns, g.key, strict=True)),
                    "group": g.label,
                    "n": int(sizes[i]),
                    "mean": float(means[i]),
                    "mcb_low": float(res.low[i]),
                    "mcb_high": float(res.high[i]),
                    "best_status": status,
                    "p_not_best": float(res.p_not_best[i]) if i != ref_index else math.nan,
                }
            )
        ref = sl.groups[ref_index]
        others = [i for i in range(k) if i != ref_index]
        facts = pair_facts(sl, ref_index, others, hib, options.confidence)
        margin_spec = parse_effect(options.margin, sl.metric, "margin")
        effect_spec = parse_effect(options.min_effect, sl.metric, "min_effect")
        q = range_quantile(k, df, options.confidence) / math.sqrt(2.0)
        level = float(2 * special.stdtr(df, -q))  # the per-comparison level matching the critical value q
        self._range.append((q, df, k))
        rows = []
        sizes_for: dict[float, int | None] = {}
        for i, fact in zip(others, facts, strict=True):
            g = sl.groups[i]
            diff = float(means[i] - means[ref_index])
            se = sd * math.sqrt(1.0 / sizes[i] + 1.0 / sizes[ref_index])
            t = diff / se if se > 0 else math.copysign(math.inf, diff) if diff else 0.0
            p_value = float(2 * special.stdtr(df, -abs(t)))
            tr = TestResult(MCB_TEST, t, df, p_value, diff, diff - q * se, diff + q * se, float(np.sign(diff)), se)
            flag = degenerate(g, ref, tr)
            margin = margin_spec.units(pair_pooled_sd(g.values, ref.values))
            equivalent = not flag and inside(tr.ci_low, tr.ci_high, margin)
            runs_needed: Any = None
            verdict = interval_verdict(tr.ci_low, tr.ci_high, hib, flag=flag, equivalent=equivalent)
            if verdict in ("inconclusive", "needs more runs"):
                effect = effect_spec.standard(sd)
                if effect not in sizes_for:  # one number for every pair when min_effect is in pooled SDs
                    size = power.runs_needed(effect, POWER, level, "two-sample")
                    sizes_for[effect] = int(size) if math.isfinite(size) else None
                runs_needed = sizes_for[effect]
            rows.append(
                {
                    "metric": sl.metric,
                    **({"dataset": sl.dataset} if config.dataset_col else {}),
                    **dict(zip(config.param_columns, g.key, strict=True)),
                    "group": g.label,
                    "reference": ref.label,
                    **fact,
                    "paired": blocked is not None,
                    "diff": diff,
                    "diff_ci_low": tr.ci_low,
                    "diff_ci_high": tr.ci_high,
                    "test": MCB_TEST,
                    "statistic": t,
                    "df": df,
                    "p_value": p_value,
                    "p_adjusted": float(_sf("range", abs(t) * math.sqrt(2.0), (float(k),), df)),
                    "effect_size": hedges_g(values[i], values[ref_index]),
                    "margin": margin,
                    "p_equivalence": math.nan,  # equivalence is the simultaneous interval inside +-margin
                    "equivalent": equivalent,
                    "verdict": verdict,
                    "runs_needed": runs_needed,
                    "flag": flag,
                    "best_status": "could be best" if res.candidate[i] else "not best",
                }
            )
        return rows, k - 1

    def table(self) -> Any:
        """The ``.best`` table: per group its MCB interval and status; None when MCB was not used."""
        import pandas as pd

        return pd.DataFrame(self.best_rows) if self.best_rows else None


def summary_line(table: Any, metric: str, dataset: Any = None) -> str:
    """One line for the text report: which groups could be best in this slice (empty without MCB)."""
    if table is None:
        return ""
    rows = table[table["metric"] == metric]
    if dataset is not None and "dataset" in rows.columns:
        rows = rows[rows["dataset"] == dataset]
    if not len(rows):
        return ""
    chosen = rows[rows["best_status"] != "not best"]
    if (rows["best_status"] == "best").any():
        return f"best (MCB): {chosen['group'].iloc[0]}; every other group is not the best"
    shown = ", ".join(chosen["group"].head(8)) + (" ..." if len(chosen) > 8 else "")
    return f"could be best (MCB): {len(chosen)} of {len(rows)} groups: {shown}"
