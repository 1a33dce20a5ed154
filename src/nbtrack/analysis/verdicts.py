"""The tests of one comparison and their verdicts: per (metric, data set) slice, statistics of every group,
the reference group, a test of every group against it with multiplicity-adjusted p-values, and the verdict.

Verdicts (:data:`VERDICTS`):

- ``better`` / ``worse``: the adjusted p-value is below 1 - confidence *and* the interval of the test that
  decided (mean difference for the t-tests, Hodges-Lehmann shift for the rank tests) excludes 0 on that side,
  in the metric's direction.
- ``no difference``: an equivalence test shows the difference inside ``(-margin, margin)``: TOST for the
  t-tests, the ``1 - 2 alpha`` rank interval for the rank tests; the margin is ``margin=`` (metric units or
  pooled SDs, default :data:`~nbtrack.analysis.equivalence.DEFAULT_MARGIN`).
- ``inconclusive``: neither; ``runs_needed`` is the runs per group that would detect ``min_effect`` (default
  half a pooled SD) with 80% power at the level that comparison is tested at, not the observed effect.
- ``needs more runs``: the comparison is degenerate and no test is shown as deciding: a side has fewer than
  :data:`MIN_TEST_RUNS` runs, or zero variance makes the statistic infinite (``flag`` says which).

Why these choices is in :mod:`nbtrack.analysis.comparison`'s docstring.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nbtrack.analysis.equivalence import (
    DEFAULT_MARGIN,
    DEFAULT_MIN_EFFECT,
    inside,
    parse_effect,
    pooled_sd,
    tost_t,
)
from nbtrack.analysis.grouping import Configuration, Group, Slice, data_warnings, same_data
from nbtrack.analysis.intervals import IQM_BOOTSTRAP_MIN_N, MEAN_CI_METHODS, median_interval_coverage
from nbtrack.analysis.pairfacts import (
    MIN_TEST_RUNS,
    POWER,
    align_by_seed,
    degenerate,
    pair_facts,
    runs_needed_for,
)
from nbtrack.analysis.significance import (
    adjust_pvalues,
    clearly_skewed,
    hedges_g,
    mann_whitney_test,
    nadeau_bengio_test,
    paired_t_test,
    shift_interval,
    signed_rank_interval,
    welch_test,
    wilcoxon_test,
)
from nbtrack.analysis.summary import MIN_REFERENCE_RUNS, group_stats, reference_index

VERDICTS = ("better", "worse", "no difference", "inconclusive", "needs more runs")
TESTS = ("welch", "paired-t", "wilcoxon", "mann-whitney", "nadeau-bengio")
ADJUSTMENTS = ("holm", "bh", "none")
MIN_RUNS = 5  # below this a group is flagged as small

_ADJUST_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no adjustment"}
_INTERVAL_NAMES = {"hall-t": "Hall's skewness-corrected t", "t": "Student t"}


@dataclass(frozen=True)
class TestOptions:
    """How to test: checked when made, so a bad option fails before any run is loaded."""

    confidence: float = 0.95
    paired: bool | None = None
    test: str | None = None
    adjust: str = "holm"
    cv: tuple[int, int] | None = None
    interval: str = "hall-t"
    n_boot: int = 2000
    seed: int = 0
    margin: Any = DEFAULT_MARGIN  # "no difference" margin: metric units, "0.5sd", or a dict per metric
    min_effect: Any = DEFAULT_MIN_EFFECT  # the difference runs_needed is computed for, same forms

    def __post_init__(self) -> None:
        for what in ("margin", "min_effect"):
            spec = getattr(self, what)
            for one in spec.values() if isinstance(spec, Mapping) else (spec,):
                parse_effect(one, what=what)
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must be between 0 and 1")
        if self.test is not None and self.test not in TESTS:
            raise ValueError(f"unknown test {self.test!r}: use one of {', '.join(TESTS)}")
        if self.interval not in MEAN_CI_METHODS:
            raise ValueError(f"unknown interval {self.interval!r}: use one of {', '.join(MEAN_CI_METHODS)}")
        if self.adjust not in ADJUSTMENTS:
            raise ValueError(f"unknown adjustment {self.adjust!r}: use 'holm', 'bh' or 'none'")
        if self.test == "nadeau-bengio" and self.cv is None:
            raise ValueError("the Nadeau-Bengio test needs the split sizes: cv=(n_train, n_test)")
        if self.cv is not None and (len(self.cv) != 2 or min(self.cv) <= 0):
            raise ValueError("cv must be (n_train, n_test), two positive sizes")

    @property
    def alpha(self) -> float:
        return 1 - self.confidence


@dataclass
class Analysis:
    """The tables of a comparison (as DataFrames) with the warnings and method notes that go with them."""

    groups: Any
    pairs: Any
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def analyze(
    slices: list[Slice],
    directions: Mapping[str, bool],
    config: Configuration,
    baseline: Any,
    options: TestOptions,
    *,
    method: Any = None,
) -> Analysis:
    """Statistics of every group and a test of every group against the reference, slice by slice.

    ``method``: another way to test the slices it ``applies`` to, in place of the fixed-n pair tests (the
    sequential tests of :mod:`~nbtrack.analysis.sequential`, multiple comparisons with the best of
    :mod:`~nbtrack.analysis.best`): it may pick the reference, gives the pair rows, extra ``columns``,
    ``notes`` and ``warnings``."""
    import pandas as pd

    group_rows: list[dict[str, Any]] = []
    pair_rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    small: dict[str, int] = {}
    pairing_failed: list[str] = []
    fold_warning = False
    families: set[int] = set()
    custom_families: set[int] = set()
    selected_reference = baseline is None
    for sl in slices:
        hib = directions[sl.metric]
        stats_rows = group_stats(sl.groups, options)
        ref_index = reference_index(sl, stats_rows, baseline, hib, config, warnings)
        custom = method is not None and method.applies(sl, selected_reference)
        if custom:
            ref_index = method.reference(sl, stats_rows, hib, ref_index)
        for g, row in zip(sl.groups, stats_rows, strict=True):
            if g.n_total < MIN_RUNS:
                small[g.label] = min(small.get(g.label, g.n_total), g.n_total)
            group_rows.append(
                {
                    "metric": sl.metric,
                    **({"dataset": sl.dataset} if config.dataset_col else {}),
                    **dict(zip(config.param_columns, g.key, strict=True)),
                    "group": g.label,
                    **row,
                    "same_data": same_data(g),
                    "higher_is_better": hib,
                    "is_reference": g is sl.groups[ref_index],
                }
            )
        data_warnings(sl, warnings)
        if len(sl.groups) < 2:
            continue
        if custom:
            rows, size = method.pair_rows(sl, ref_index, hib, config, options, selected_reference)
            pair_rows += rows
            custom_families.add(size)
            continue
        # the family of comparisons: against the reference, or all pairs if the reference was picked from the data
        n = len(sl.groups)
        family = [(i, ref_index) for i in range(n) if i != ref_index]
        if selected_reference:
            family += [(i, j) for i in range(n) for j in range(i + 1, n) if ref_index not in (i, j)]
        results = []
        for i, j in family:
            res, is_paired, design, problem = pair_test(
                sl.groups[i], sl.groups[j], options, config.folds_vary, higher_is_better=hib
            )
            flags = degenerate(sl.groups[i], sl.groups[j], res)
            if flags:  # no test decides here: out of the multiplicity family too
                res = dataclasses.replace(res, p_value=math.nan)
            if problem and j == ref_index:
                pairing_failed.append(f"{sl.groups[i].label} vs {sl.groups[ref_index].label}")
            if is_paired and config.folds_vary and options.cv is None and options.test != "mann-whitney":
                fold_warning = True
            results.append((i, j, res, is_paired, design, flags))
        pair_rows += _pair_rows(sl, ref_index, results, hib, config, options)
        families.add(len(family))

    groups_frame = pd.DataFrame(group_rows)
    columns = pair_columns(config.dataset_col is not None, config.param_columns)
    pairs_frame = pd.DataFrame(pair_rows, columns=columns + (list(method.columns) if method is not None else []))
    if len(pairs_frame):
        pairs_frame["runs_needed"] = pairs_frame["runs_needed"].astype("Int64")
    groups_frame.attrs["dataset_name"] = config.dataset_name
    notes = [_adjust_note(options.adjust, selected_reference, families)] if families or not custom_families else []
    notes += method_notes(options, config)
    if method is not None:
        method.finish(options.confidence, custom_families)
        notes += method.notes
        warnings += method.warnings
    if all(len(sl.groups) < 2 for sl in slices):
        warnings.append("Only one configuration: nothing to compare (give by= to name the params that differ).")
    if small:
        listed = ", ".join(f"{k}: {v}" for k, v in small.items())
        warnings.append(
            f"Groups with fewer than {MIN_RUNS} runs ({listed}): intervals are wide and verdicts "
            f"tentative; run more seeds."
        )
    short = sorted(
        {int(r["n"]) for r in group_rows if 2 <= r["n"] < 6 and r["median_ci_coverage"] < options.confidence}
    )
    if short:
        shown = ", ".join(f"{median_interval_coverage(k, options.confidence):.2%} at {k} runs" for k in short)
        warnings.append(
            f"Median intervals of groups with fewer than 6 runs are order statistics (at 3 runs [min, max]) that "
            f"cover less than {options.confidence:.0%}: {shown} (median_ci_coverage)."
        )
    flagged = [f"{r['group']} vs {r['reference']}: {r['flag']}" for r in pair_rows if r["flag"]]
    if flagged:
        shown = "; ".join(flagged[:5]) + (" ..." if len(flagged) > 5 else "")
        warnings.append(
            f"No verdict where the comparison is degenerate or the test and its interval disagree ({shown})."
        )
    if pairing_failed:
        shown = ", ".join(pairing_failed[:5]) + (" ..." if len(pairing_failed) > 5 else "")
        warnings.append(f"Pairing was requested but seeds do not match ({shown}): unpaired tests used there.")
    if fold_warning:
        warnings.append(
            "Runs differ by fold, but cv=(n_train, n_test) was not given: the paired t-test on "
            "cross-validation folds is too optimistic (training sets overlap). Give the split sizes "
            "for the Nadeau-Bengio correction."
        )
    return Analysis(groups_frame, pairs_frame, warnings, notes)


def method_notes(options: TestOptions, config: Configuration) -> list[str]:
    """The methods behind the tables, one sentence each, with the defaults in force."""
    level = f"{options.alpha:g}"
    margin = options.margin if isinstance(options.margin, Mapping) else parse_effect(options.margin)
    effect = options.min_effect if isinstance(options.min_effect, Mapping) else parse_effect(options.min_effect)
    notes = [
        f"intervals at {options.confidence:.0%}: mean by {_INTERVAL_NAMES[options.interval]}; IQM by the percentile "
        f"bootstrap ({options.n_boot} resamples, seed {options.seed}) from {IQM_BOOTSTRAP_MIN_N} runs, "
        f"Tukey-McLaughlin below; median by Hettmansperger-Sheather (true coverage in median_ci_coverage); "
        f"P(better) by Newcombe's method 5",
        f"verdicts: better/worse when the adjusted p < {level} and the deciding test's own interval excludes 0 "
        f"(mean difference for t-tests, Hodges-Lehmann shift for rank tests); no difference only when an "
        f"equivalence test (TOST at {level}, or the {1 - 2 * options.alpha:.0%} rank interval) puts the "
        f"difference inside +-margin, margin = {margin} (margin=); else inconclusive; needs more runs below "
        f"{MIN_TEST_RUNS} runs a side or with zero variance",
        f"runs needed: runs per group to detect a difference of {effect} (min_effect=) with {POWER:.0%} power at the "
        f"level of that comparison; it is not computed from the observed effect",
        "P(better): the probability that a run of the group beats a run of the reference in the metric's "
        "direction (ties half, failures worst); p_greater is the raw P(A > B) of the finite scores",
        "failures (failed, interrupted or abandoned runs, NaN or inf scores): counted per group (n_failed) and "
        "ranked as the worst outcomes (failure policy 'worst'); pairs with a failure use the Mann-Whitney test",
    ]
    if config.seed_params:
        notes.append(
            f"seed-like params (variance, not configuration; runs pair by them): {', '.join(config.seed_params)}"
        )
    return notes


def _pair_rows(
    sl: Slice, ref_index: int, results: list[Any], hib: bool, config: Configuration, options: TestOptions
) -> list[dict[str, Any]]:
    """One row per group against the reference: the test, P(better), the effect size, equivalence, verdict."""
    import numpy as np
    import pandas as pd

    alpha = options.alpha
    ref = sl.groups[ref_index]
    p_adj, mult = adjust_pvalues([r[2].p_value for r in results], options.adjust)
    ref_results = [(k, r) for k, r in enumerate(results) if r[1] == ref_index]
    facts = pair_facts(sl, ref_index, [r[0] for _, r in ref_results], hib, options.confidence)
    margin_spec = parse_effect(options.margin, sl.metric, "margin")
    effect_spec = parse_effect(options.min_effect, sl.metric, "min_effect")
    rows = []
    for pos, (k, (i, _, res, is_paired, design, flag)) in enumerate(ref_results):
        g = sl.groups[i]
        failures = g.n_failed + ref.n_failed > 0
        effect = math.nan if failures else hedges_g(g.values, ref.values)
        sp = pooled_sd(g.values, ref.values)
        margin = margin_spec.units(sp)
        p_eq, equivalent = equivalence(g, ref, res, is_paired, margin, hib, alpha)
        sign = res.direction if hib else -res.direction
        runs_needed: Any = pd.NA
        agrees = (res.ci_low > 0 and res.direction > 0) or (res.ci_high < 0 and res.direction < 0)
        if flag:
            verdict = "needs more runs"
        elif np.isfinite(p_adj[k]) and p_adj[k] < alpha and agrees:
            verdict = "better" if sign > 0 else "worse"
        elif equivalent:
            verdict = "no difference"
        else:
            verdict = "inconclusive"
            if np.isfinite(p_adj[k]) and p_adj[k] < alpha:
                flag = "significant, but the test's interval includes 0: no verdict"
        if verdict in ("inconclusive", "needs more runs"):
            level = alpha / (mult[k] if np.isfinite(mult[k]) else 1.0)
            runs_needed = runs_needed_for(g, ref, effect_spec.standard(sp), design, res.test, options.cv, level)
        rows.append(
            {
                "metric": sl.metric,
                **({"dataset": sl.dataset} if config.dataset_col else {}),
                **dict(zip(config.param_columns, g.key, strict=True)),
                "group": g.label,
                "reference": ref.label,
                **facts[pos],
                "paired": is_paired,
                "diff": res.diff,
                "diff_ci_low": res.ci_low,
                "diff_ci_high": res.ci_high,
                "test": res.test,
                "statistic": res.statistic,
                "df": res.df,
                "p_value": res.p_value,
                "p_adjusted": float(p_adj[k]),
                "effect_size": effect,
                "margin": margin,
                "p_equivalence": p_eq,
                "equivalent": equivalent,
                "verdict": verdict,
                "runs_needed": runs_needed,
                "flag": flag,
            }
        )
    return rows


def equivalence(g: Group, ref: Group, res: Any, is_paired: bool, margin: float, hib: bool, alpha: float) -> Any:
    """(TOST p-value or NaN, equivalent?) of the difference within +-margin, on the scale of the deciding test:
    TOST for the t-tests, the 1 - 2 alpha Hodges-Lehmann interval for the rank tests."""
    if not (math.isfinite(margin) and margin > 0):
        return math.nan, False
    if res.test == "mann-whitney":
        _, lo, hi = shift_interval(g.outcomes(hib), ref.outcomes(hib), 1 - 2 * alpha)
        return math.nan, inside(lo, hi, margin)
    if res.test == "wilcoxon":
        aligned = align_by_seed(g, ref)
        if aligned is None:
            return math.nan, False
        _, lo, hi = signed_rank_interval(aligned[0] - aligned[1], 1 - 2 * alpha)
        return math.nan, inside(lo, hi, margin)
    p = float(tost_t(res.diff, res.se, res.df, margin))
    return p, bool(math.isfinite(p) and p < alpha)


def _adjust_note(adjust: str, selected_reference: bool, families: set[int]) -> str:
    sizes = " or ".join(str(n) for n in sorted(families)) or "0"
    if adjust == "none":
        return "p-values not adjusted for multiple comparisons"
    if selected_reference:
        return (
            f"reference: the best group by IQM (failures worst) among groups with at least {MIN_REFERENCE_RUNS} "
            f"runs, picked from these runs; so p-values are adjusted ({_ADJUST_NAMES[adjust]}) over all {sizes} "
            f"pairwise comparisons, not only those with it"
        )
    return f"p-values adjusted ({_ADJUST_NAMES[adjust]}) over the {sizes} comparisons with the reference"


def pair_columns(with_dataset: bool, param_columns: list[str]) -> list[str]:
    """The columns of the pairs table, in order (so an empty comparison still has them)."""
    return (
        ["metric"]
        + (["dataset"] if with_dataset else [])
        + param_columns
        + [
            "group",
            "reference",
            "n",
            "n_reference",
            "n_failed",
            "n_failed_reference",
            "paired",
            "diff",
            "diff_ci_low",
            "diff_ci_high",
            "p_better",
            "p_better_ci_low",
            "p_better_ci_high",
            "p_greater",
            "p_greater_ci_low",
            "p_greater_ci_high",
            "test",
            "statistic",
            "df",
            "p_value",
            "p_adjusted",
            "effect_size",
            "margin",
            "p_equivalence",
            "equivalent",
            "verdict",
            "runs_needed",
            "flag",
        ]
    )


def pair_test(
    a: Group, b: Group, options: TestOptions, folds_vary: bool, higher_is_better: bool = True
) -> tuple[Any, bool, str, bool]:
    """(test result, paired?, power design, pairing asked but impossible?) for group a against group b. With a
    failure on either side the test is Mann-Whitney with failures ranked worst, whatever ``test`` says."""
    import numpy as np

    paired, test, cv, confidence = options.paired, options.test, options.cv, options.confidence

    if a.n_failed or b.n_failed:
        res = mann_whitney_test(a.outcomes(higher_is_better), b.outcomes(higher_is_better), confidence, True)
        return res, False, "two-sample", False
    aligned = align_by_seed(a, b)
    wants_pairing = paired is True or test in ("paired-t", "wilcoxon", "nadeau-bengio")
    problem = wants_pairing and aligned is None and paired is not False
    use_pairs = aligned is not None and paired is not False
    if use_pairs and test in ("welch", "mann-whitney"):
        use_pairs = False
    if use_pairs:
        assert aligned is not None  # use_pairs says so
        x, y = aligned
        if test == "nadeau-bengio" or (test is None and cv is not None and folds_vary):
            assert cv is not None
            return nadeau_bengio_test(x, y, cv[0], cv[1], confidence), True, "nadeau-bengio", problem
        if test == "wilcoxon" or (test is None and clearly_skewed(x - y)):
            return wilcoxon_test(x, y, confidence), True, "paired", problem
        return paired_t_test(x, y, confidence), True, "paired", problem
    if test == "mann-whitney":
        return mann_whitney_test(a.values, b.values, confidence), False, "two-sample", problem
    if test is None and len(a.values) + len(b.values) >= 8:
        pooled = np.concatenate([a.values - a.values.mean(), b.values - b.values.mean()])
        if clearly_skewed(pooled):
            return mann_whitney_test(a.values, b.values, confidence), False, "two-sample", problem
    return welch_test(a.values, b.values, confidence), False, "two-sample", problem
