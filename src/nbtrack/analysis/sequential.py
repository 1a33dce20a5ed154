"""Comparisons that stay valid when you add runs and look again: anytime-valid tests and confidence sequences.

A fixed-n test looked at after every added seed calls equal groups different far more often than alpha (with
four looks 8.5-10% instead of 5%). ``compare(..., sequential=True)`` instead tests every pair with an
e-value whose false-verdict guarantee holds at every look, however many runs are added and whenever one
stops, and shows the matching confidence sequence for the difference.

What is implemented: the scale-invariant t-test Bayes factor / e-value for a normal mean with unknown variance
(a right-Haar prior on the standard deviation and a normal prior N(0, sigma^2 / c) on the mean), the
sequential t-test of Lai (1976, "On confidence sequences", Ann. Statist. 4) in the form of Wang & Ramdas
(2023, "Anytime-valid t-tests and confidence sequences for Gaussian means with unknown variance",
Sequential Analysis) and Perez-Ortiz, Lardy, de Heide & Grunwald (2024, "E-statistics, group invariance and
anytime-valid testing", Ann. Statist.), who show it is a test martingale under the null, so Ville's inequality
bounds the chance it ever exceeds 1 / alpha by alpha. Inverting it gives the confidence sequence
``{mu0 : E_n(mu0) < 1 / alpha}`` in closed form (:func:`t_confidence_sequence`).

How runs become one sequence: the pair's runs are matched by seed when their seeds match (paired design),
else in the order they were recorded (start time): the k-th run of one group with the k-th of the other, so
each new pair extends the sequence and the mean difference of equal-sized groups is unchanged. The
differences are assumed normal (ML scores over seeds mostly are; heavy tails are not).

Multiplicity: the per-pair level is alpha / m (Bonferroni), m = k - 1 comparisons with a given baseline,
k (k - 1) / 2 when the reference is picked from the data; the shown sequence is at that level, so the interval
and the verdict agree. The verdicts are those of :mod:`~nbtrack.analysis.verdicts`: ``better``/``worse``
when the sequence excludes 0, ``no difference`` when it lies inside +-``margin`` (the fixed-n tests' margin,
default half a pooled SD), ``inconclusive`` while neither (``decided`` False, ``runs_more`` an estimate),
``needs more runs`` only for degenerate pairs (fewer than 3 runs a side, zero variance). Failed runs (the
failure policy ranks them worst) have no place in a t-test: such pairs are refused with a flag and a warning.

When it is on: ``sequential=True``; ``sequential=None`` (the default) turns it on automatically when this
process already showed a comparison of the same runs source (store, experiment or ids, metrics) and the runs
now are a strict superset of that look's, since then the fixed-n test's error would compound. A previous
look done with the fixed-n test already spent up to alpha, so over all looks the error is at most 2 alpha;
``sequential=True`` from the first look keeps it at alpha. The memory is this process's only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nbtrack.analysis.equivalence import inside, interval_verdict, parse_effect, pooled_sd
from nbtrack.analysis.grouping import Configuration, Group, Slice
from nbtrack.analysis.pairfacts import POWER, align_by_seed, degenerate, pair_facts
from nbtrack.analysis.significance import TestResult, hedges_g

PRIOR_PRECISION = 1.0  # c: prior sd of the standardized effect 1/sqrt(c) = 1, tightest around n ~ 10 runs
MAX_RUNS = 10_000
SEQUENTIAL_TEST = "sequential-t"
COLUMNS = ["decided", "runs_more"]


# the e-value and the confidence sequence ------------------------------------------------------------------------


def t_evalue(n: Any, mean: Any, ss: Any, mu0: Any = 0.0, c: float = PRIOR_PRECISION) -> Any:
    """The anytime-valid e-value (Bayes factor) against ``mean = mu0`` after ``n`` normal observations with
    sample mean ``mean`` and sum of squared deviations ``ss``: sqrt(c / (n + c)) * ((ss + n d^2) / (ss +
    n c / (n + c) d^2))^(n / 2), d = mean - mu0. Equals 1 at n = 1 (one value says nothing about the scale);
    bounded by (1 + n / c)^((n - 1) / 2), so with c = 1 and alpha = 0.05 nothing is decided before 5 pairs."""
    n = np.asarray(n, dtype=float)
    d2 = (np.asarray(mean, dtype=float) - mu0) ** 2
    ss = np.asarray(ss, dtype=float)
    q = c / (n + c)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_e = 0.5 * np.log(q) + 0.5 * n * (np.log(ss + n * d2) - np.log(ss + n * q * d2))
    log_e = np.where(np.isnan(log_e) & (ss == 0) & (d2 == 0), 0.0, log_e)  # all values equal mu0: no evidence
    out = np.exp(np.minimum(log_e, 700.0))
    return float(out) if out.ndim == 0 else out


def t_half_width(n: Any, ss: Any, alpha: float, c: float = PRIOR_PRECISION) -> Any:
    """Half-width of the (1 - alpha) confidence sequence of a normal mean at ``n`` observations with sum of
    squared deviations ``ss`` (infinite while the data cannot yet exclude any value). Arrays broadcast."""
    n = np.asarray(n, dtype=float)
    ss = np.asarray(ss, dtype=float)
    q = c / (n + c)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = np.exp((2.0 / n) * (math.log(1.0 / alpha) - 0.5 * np.log(q)))
        r_max = (k - 1.0) / (1.0 - k * q)
        hw = np.sqrt(r_max * ss / n)
    hw = np.where((k * q < 1.0) & (n >= 2), hw, np.inf)
    return float(hw) if hw.ndim == 0 else hw


def t_confidence_sequence(x: Any, alpha: float = 0.05, c: float = PRIOR_PRECISION) -> tuple[float, float, float]:
    """(mean, low, high) of the (1 - alpha) confidence sequence for the mean of ``x`` at its current length:
    the values ``mu0`` whose e-value is below 1 / alpha. Covers the true mean at every n at once."""
    x = np.asarray(x, dtype=float)
    n = x.size
    if n == 0:
        return math.nan, -math.inf, math.inf
    mean = float(x.mean())
    hw = t_half_width(n, float(((x - mean) ** 2).sum()), alpha, c)
    return mean, mean - hw, mean + hw


def running_sequences(x: Any, alpha: float = 0.05, c: float = PRIOR_PRECISION) -> tuple[Any, Any]:
    """(running means, half-widths) of the confidence sequence after each observation along the last axis of
    ``x`` (vectorized over the other axes): what every look would have shown."""
    x = np.asarray(x, dtype=float)
    n = np.arange(1, x.shape[-1] + 1, dtype=float)
    s1 = np.cumsum(x, axis=-1)
    s2 = np.cumsum(x * x, axis=-1)
    mean = s1 / n
    ss = np.maximum(s2 - n * mean * mean, 0.0)
    return mean, t_half_width(n, ss, alpha, c)


def runs_to_decide(
    n: int, diff: float, sd: float, alpha: float, margin: float = 0.0, c: float = PRIOR_PRECISION
) -> int | None:
    """Pairs of runs at which the confidence sequence would exclude 0 (or fit inside +-margin) if the observed
    difference and standard deviation were the true ones: an estimate, not a promise. None beyond MAX_RUNS."""
    if not (math.isfinite(diff) and math.isfinite(sd)) or sd <= 0:
        return None
    grid = np.arange(max(n + 1, 2), MAX_RUNS + 1, dtype=float)
    hw = t_half_width(grid, (grid - 1) * sd * sd, alpha, c)
    ok = (hw < abs(diff)) | (hw + abs(diff) < margin)
    hits = np.flatnonzero(ok)
    return int(grid[hits[0]]) if hits.size else None


def runs_for_power(
    effect: float, sd: float, alpha: float, c: float = PRIOR_PRECISION, power: float = POWER
) -> int | None:
    """Pairs of runs at which the confidence sequence excludes 0 with probability ``power`` when the true
    difference is ``effect`` (metric units, the stated ``min_effect``) and the differences have standard
    deviation ``sd``: the smallest n with Phi((effect - half-width) / (sd / sqrt n)) >= power (normal
    approximation of the running mean, sd taken as known). None when it cannot be estimated or beyond MAX_RUNS."""
    from scipy import stats

    if not (math.isfinite(effect) and effect > 0 and math.isfinite(sd) and sd > 0):
        return None
    grid = np.arange(2, MAX_RUNS + 1, dtype=float)
    hw = t_half_width(grid, (grid - 1) * sd * sd, alpha, c)
    ok = (effect - hw) / (sd / np.sqrt(grid)) >= stats.norm.ppf(power)
    hits = np.flatnonzero(ok)
    return int(grid[hits[0]]) if hits.size else None


# when to use it -------------------------------------------------------------------------------------------------

_LOOKS: dict[tuple[Any, ...], frozenset[str]] = {}
_SEQUENTIAL: set[tuple[Any, ...]] = set()


def resolve(sequential: bool | None, runs: Any, store: Any, metrics: Sequence[str], slices: list[Slice]) -> bool:
    """Whether this comparison is sequential: as asked, or (``None``) when this process already compared the
    same source and metrics on a strict subset of these runs. Remembers this look."""
    import pandas as pd

    if isinstance(runs, pd.DataFrame):  # no identity to remember across calls
        return bool(sequential)
    from nbtrack.store.local import get_store

    source = runs if runs is None or isinstance(runs, str) else "ids"
    key = (str(get_store(store).root), source, tuple(metrics))
    current = frozenset(r for sl in slices for g in sl.groups for r in g.run_ids)
    previous = _LOOKS.get(key)
    _LOOKS[key] = current
    if sequential is None:
        if previous is not None and previous < current:
            _SEQUENTIAL.add(key)
        return key in _SEQUENTIAL
    if sequential:
        _SEQUENTIAL.add(key)
    return bool(sequential)


def forget_looks() -> None:
    """Forget the comparisons this process has shown (the next ``sequential=None`` look starts afresh)."""
    _LOOKS.clear()
    _SEQUENTIAL.clear()


# the pairs of one slice -----------------------------------------------------------------------------------------


def _run_order(frame: Any) -> dict[str, tuple[Any, int]]:
    times = frame["start_time"] if "start_time" in frame.columns else [None] * len(frame)
    ids = frame["run_id"] if "run_id" in frame.columns else [""] * len(frame)
    return {str(r): ("" if t is None or t != t else str(t), k) for k, (r, t) in enumerate(zip(ids, times, strict=True))}


def matched_differences(a: Group, b: Group, order: Mapping[str, tuple[Any, int]]) -> tuple[Any, bool]:
    """(differences a - b, matched by seed?): by seed when the seeds match one to one, else the k-th recorded
    run of each group with the k-th of the other (oldest first)."""
    aligned = align_by_seed(a, b)
    if aligned is not None:
        x, y = aligned
        pos = sorted(range(len(a.run_ids)), key=lambda k: order.get(a.run_ids[k], ("", k)))
        return (x - y)[pos], True

    def chronological(g: Group) -> Any:
        keys = [order.get(r, ("", k)) for k, r in enumerate(g.run_ids)]
        idx = sorted(range(len(keys)), key=lambda k: keys[k])
        return np.asarray(g.values, dtype=float)[idx]

    xa, xb = chronological(a), chronological(b)
    m = min(xa.size, xb.size)
    return xa[:m] - xb[:m], False


@dataclass
class SequentialMethod:
    """The anytime-valid test of every group against the reference (plugged into
    :func:`nbtrack.analysis.verdicts.analyze` in place of the fixed-n tests)."""

    order: Mapping[str, tuple[Any, int]]
    c: float = PRIOR_PRECISION
    columns: list[str] = field(default_factory=lambda: list(COLUMNS))
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _unmatched: int = 0
    _refused: list[str] = field(default_factory=list)

    @classmethod
    def for_frame(cls, frame: Any) -> SequentialMethod:
        return cls(_run_order(frame))

    def applies(self, sl: Slice, selected_reference: bool) -> bool:
        return True

    def reference(self, sl: Slice, stats_rows: list[dict[str, Any]], hib: bool, ref_index: int) -> int:
        return ref_index

    def finish(self, confidence: float, families: set[int]) -> None:
        sizes = " or ".join(str(m) for m in sorted(families)) or "0"
        self.notes.append(
            f"sequential (anytime-valid): each pair by the t-test e-value of Lai (1976) / Wang & Ramdas (2023), "
            f"its {confidence:.0%} confidence sequence at level alpha/{sizes} (Bonferroni over {sizes} comparisons); "
            f"the false-verdict rate stays below {1 - confidence:.0%} however often runs are added and looked at. "
            f"'no difference' when the sequence lies inside +-margin (margin=); undecided pairs are 'inconclusive' "
            f"(decided False) with runs_more, the runs per group still to add at which it would decide if the "
            f"observed difference were the true one; runs_needed: runs per group for {POWER:.0%} power at "
            f"min_effect with this test"
        )
        if self._refused:
            shown = ", ".join(self._refused[:5]) + (" ..." if len(self._refused) > 5 else "")
            self.warnings.append(
                f"Sequential: pairs with failed runs get no verdict ({shown}): the anytime-valid t-test cannot "
                f"rank failures as worst outcomes; compare with sequential=False (Mann-Whitney, failures worst)."
            )
        if self._unmatched:
            self.warnings.append(
                f"Sequential: {self._unmatched} runs wait for a partner (seeds do not match and groups differ in "
                f"size; runs are matched in the order recorded): add runs to the smaller groups."
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
        """(one row per group against the reference, family size m). The shared columns (counts, P(better),
        margin, flag) mean what they mean for the fixed-n tests; runs_needed is for ``min_effect``."""
        k = len(sl.groups)
        m = k * (k - 1) // 2 if selected_reference else k - 1
        level = options.alpha / max(m, 1)
        ref = sl.groups[ref_index]
        others = [i for i in range(k) if i != ref_index]
        facts = pair_facts(sl, ref_index, others, hib, options.confidence)
        margin_spec = parse_effect(options.margin, sl.metric, "margin")
        effect_spec = parse_effect(options.min_effect, sl.metric, "min_effect")
        rows = []
        for i, fact in zip(others, facts, strict=True):
            g = sl.groups[i]
            sp = pooled_sd(g.values, ref.values)
            margin = margin_spec.units(sp)
            row: dict[str, Any] = {
                "metric": sl.metric,
                **({"dataset": sl.dataset} if config.dataset_col else {}),
                **dict(zip(config.param_columns, g.key, strict=True)),
                "group": g.label,
                "reference": ref.label,
                **fact,
                "test": SEQUENTIAL_TEST,
                "margin": margin,
                "p_equivalence": math.nan,  # equivalence is the sequence inside +-margin, not a TOST p-value
            }
            if g.n_failed or ref.n_failed:  # the t e-value has no place for a failure: refuse, never drop it
                self._refused.append(f"{g.label} vs {ref.label}")
                rows.append(
                    {
                        **row,
                        "paired": False,
                        "equivalent": False,
                        "verdict": "inconclusive",
                        "runs_needed": None,
                        "flag": "failed runs: the sequential t-test cannot rank them (sequential=False does)",
                        "decided": False,
                        "runs_more": None,
                    }
                )
                continue
            d, by_seed = matched_differences(g, ref, self.order)
            self._unmatched += abs(len(g.values) - len(ref.values)) if not by_seed else 0
            n = int(d.size)
            mean = float(d.mean()) if n else math.nan
            ss = float(((d - mean) ** 2).sum()) if n else math.nan
            e = t_evalue(n, mean, ss) if n >= 2 else 1.0
            hw = t_half_width(n, ss, level, self.c) if n >= 2 else math.inf
            sd_d = math.sqrt(ss / (n - 1)) if n >= 2 else math.nan
            p_value = min(1.0, 1.0 / e) if e > 0 else 1.0
            res = TestResult(
                SEQUENTIAL_TEST, e, float(n - 1), p_value, mean, mean - hw, mean + hw, float(np.sign(mean)),
                sd_d / math.sqrt(n) if n >= 2 else math.nan,
            )  # fmt: skip
            flag = degenerate(g, ref, res)
            equivalent = not flag and inside(res.ci_low, res.ci_high, margin)
            runs_needed: Any = None
            runs_more: Any = None
            verdict = interval_verdict(res.ci_low, res.ci_high, hib, flag=flag, equivalent=equivalent)
            if verdict in ("inconclusive", "needs more runs"):
                runs_needed = runs_for_power(effect_spec.standard(sp) * sp, sd_d, level, self.c)
                to_decide = runs_to_decide(n, mean, sd_d, level, margin if math.isfinite(margin) else 0.0, self.c)
                runs_more = None if to_decide is None else max(to_decide - n, 1)
            rows.append(
                {
                    **row,
                    "paired": by_seed,
                    "diff": mean,
                    "diff_ci_low": res.ci_low,
                    "diff_ci_high": res.ci_high,
                    "statistic": e,
                    "df": float(n - 1),
                    "p_value": p_value,
                    "p_adjusted": min(1.0, p_value * max(m, 1)),
                    "effect_size": hedges_g(g.values, ref.values),
                    "equivalent": equivalent,
                    "verdict": verdict,
                    "runs_needed": runs_needed,
                    "flag": flag,
                    "decided": verdict in ("better", "worse", "no difference"),
                    "runs_more": runs_more,
                }
            )
        return rows, m
