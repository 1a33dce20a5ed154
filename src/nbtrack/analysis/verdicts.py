"""The tests of one comparison and their verdicts: per (metric, data set) slice, statistics of every group,
the reference group, a test of every group against it with multiplicity-adjusted p-values, and the verdict
``better``, ``worse``, ``no difference`` or ``needs more runs`` (with how many).

Why these choices is in :mod:`nbtrack.analysis.comparison`'s docstring.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nbtrack.analysis import power
from nbtrack.analysis.grouping import Configuration, Group, Slice, data_warnings, match_baseline, same_data
from nbtrack.analysis.intervals import (
    IQM_BOOTSTRAP_MIN_N,
    MEAN_CI_METHODS,
    bootstrap_iqm_intervals,
    iqm,
    mean_interval,
    median_interval,
    tukey_mclaughlin_interval,
)
from nbtrack.analysis.significance import (
    adjust_pvalues,
    clearly_skewed,
    hedges_g,
    mann_whitney_test,
    nadeau_bengio_test,
    paired_dz,
    paired_t_test,
    prob_superiority,
    prob_superiority_interval,
    welch_test,
    wilcoxon_test,
)

VERDICTS = ("better", "worse", "no difference", "needs more runs")
TESTS = ("welch", "paired-t", "wilcoxon", "mann-whitney", "nadeau-bengio")
ADJUSTMENTS = ("holm", "bh", "none")
MIN_RUNS = 5
NEGLIGIBLE = 0.2
POWER = 0.8

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

    def __post_init__(self) -> None:
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
        ref_index = reference_index(sl, stats_rows, baseline, hib, config)
        custom = method is not None and method.applies(sl, selected_reference)
        if custom:
            ref_index = method.reference(sl, stats_rows, hib, ref_index)
        for g, row in zip(sl.groups, stats_rows, strict=True):
            if len(g.values) < MIN_RUNS:
                small[g.label] = min(small.get(g.label, len(g.values)), len(g.values))
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
            res, is_paired, design, problem = pair_test(sl.groups[i], sl.groups[j], options, config.folds_vary)
            if problem and j == ref_index:
                pairing_failed.append(f"{sl.groups[i].label} vs {sl.groups[ref_index].label}")
            if is_paired and config.folds_vary and options.cv is None and options.test != "mann-whitney":
                fold_warning = True
            results.append((i, j, res, is_paired, design))
        pair_rows += _pair_rows(sl, ref_index, results, hib, config, options)
        families.add(len(family))

    groups_frame = pd.DataFrame(group_rows)
    columns = pair_columns(config.dataset_col is not None, config.param_columns)
    pairs_frame = pd.DataFrame(pair_rows, columns=columns + (list(method.columns) if method is not None else []))
    if len(pairs_frame):
        pairs_frame["runs_needed"] = pairs_frame["runs_needed"].astype("Int64")
    groups_frame.attrs["dataset_name"] = config.dataset_name
    notes = [_adjust_note(options.adjust, selected_reference, families)] if families or not custom_families else []
    if method is not None:
        method.finish(options.confidence, custom_families)
        notes += method.notes
        warnings += method.warnings
    if all(len(sl.groups) < 2 for sl in slices):
        warnings.append("Only one configuration: nothing to compare (give by= to name the params that differ).")
    notes.append(
        f"intervals at {options.confidence:.0%}: mean by {_INTERVAL_NAMES[options.interval]}; IQM by the percentile "
        f"bootstrap ({options.n_boot} resamples, seed {options.seed}) from {IQM_BOOTSTRAP_MIN_N} runs, "
        f"Tukey-McLaughlin below; median by Hettmansperger-Sheather; P(A>B) by Newcombe's method 5"
    )
    if small:
        listed = ", ".join(f"{k}: {v}" for k, v in small.items())
        warnings.append(
            f"Groups with fewer than {MIN_RUNS} runs ({listed}): intervals are wide and verdicts "
            f"tentative; run more seeds."
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


def _pair_rows(
    sl: Slice, ref_index: int, results: list[Any], hib: bool, config: Configuration, options: TestOptions
) -> list[dict[str, Any]]:
    """One row per group against the reference: the test, P(A>B), the effect size and the verdict."""
    import numpy as np
    import pandas as pd

    alpha = options.alpha
    ref = sl.groups[ref_index]
    p_adj, mult = adjust_pvalues([r[2].p_value for r in results], options.adjust)
    ref_results = [(k, r) for k, r in enumerate(results) if r[1] == ref_index]
    pg = [prob_superiority(sl.groups[r[0]].values, ref.values) for _, r in ref_results]
    pg_lo, pg_hi = prob_superiority_interval(
        pg, [len(sl.groups[r[0]].values) for _, r in ref_results], len(ref.values), options.confidence
    )
    rows = []
    for (k, (i, _, res, is_paired, design)), p_gt, lo, hi in zip(ref_results, pg, pg_lo, pg_hi, strict=True):
        g = sl.groups[i]
        effect = hedges_g(g.values, ref.values)
        n_min = min(len(g.values), len(ref.values))
        runs_needed: Any = pd.NA
        if np.isfinite(p_adj[k]) and p_adj[k] < alpha:
            sign = res.direction if hib else -res.direction
            verdict = "better" if sign > 0 else "worse" if sign < 0 else "no difference"
        elif n_min >= MIN_RUNS and np.isfinite(effect) and abs(effect) < NEGLIGIBLE:
            verdict = "no difference"
        else:
            verdict = "needs more runs"
            level = alpha / (mult[k] if np.isfinite(mult[k]) else 1.0)
            runs_needed = runs_needed_for(g, ref, effect, design, options.cv, level)
            if runs_needed is not pd.NA:  # these runs did not settle it: at least one more each
                runs_needed = max(runs_needed, max(len(g.values), len(ref.values)) + 1)
        rows.append(
            {
                "metric": sl.metric,
                **({"dataset": sl.dataset} if config.dataset_col else {}),
                **dict(zip(config.param_columns, g.key, strict=True)),
                "group": g.label,
                "reference": ref.label,
                "n": len(g.values),
                "n_reference": len(ref.values),
                "paired": is_paired,
                "diff": res.diff,
                "diff_ci_low": res.ci_low,
                "diff_ci_high": res.ci_high,
                "p_greater": p_gt,
                "p_greater_ci_low": float(lo),
                "p_greater_ci_high": float(hi),
                "test": res.test,
                "statistic": res.statistic,
                "df": res.df,
                "p_value": res.p_value,
                "p_adjusted": float(p_adj[k]),
                "effect_size": effect,
                "verdict": verdict,
                "runs_needed": runs_needed,
            }
        )
    return rows


def _adjust_note(adjust: str, selected_reference: bool, families: set[int]) -> str:
    sizes = " or ".join(str(n) for n in sorted(families)) or "0"
    if adjust == "none":
        return "p-values not adjusted for multiple comparisons"
    if selected_reference:
        return (
            f"reference: the best group by IQM, picked from these runs; so p-values are adjusted "
            f"({_ADJUST_NAMES[adjust]}) over all {sizes} pairwise comparisons, not only those with it"
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
            "paired",
            "diff",
            "diff_ci_low",
            "diff_ci_high",
            "p_greater",
            "p_greater_ci_low",
            "p_greater_ci_high",
            "test",
            "statistic",
            "df",
            "p_value",
            "p_adjusted",
            "effect_size",
            "verdict",
            "runs_needed",
        ]
    )


def group_stats(groups: list[Group], options: TestOptions) -> list[dict[str, Any]]:
    """Per group: n, mean, std, median, IQM and the intervals of the mean, IQM and median."""
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
                "mean": float(x.mean()),
                "std": float(x.std(ddof=1)) if n > 1 else math.nan,
                "median": float(np.median(x)),
                "iqm": iqm(x),
                "ci_low": lo,
                "ci_high": hi,
                "ci_method": interval,
                "iqm_ci_low": iqm_lo,
                "iqm_ci_high": iqm_hi,
                "iqm_ci_method": iqm_method,
                "median_ci_low": med_lo,
                "median_ci_high": med_hi,
                "min": float(x.min()),
                "max": float(x.max()),
            }
        )
    return rows


def reference_index(
    sl: Slice,
    rows: list[dict[str, Any]],
    baseline: Any,
    hib: bool,
    config: Configuration,
) -> int:
    """The reference group's index: the baseline asked for, else the best group by IQM."""
    if baseline is None:
        scores = [r["iqm"] for r in rows]
        return max(range(len(scores)), key=lambda k: (scores[k] if hib else -scores[k], -k))
    index = match_baseline(sl.groups, baseline, config.label_params)
    if index is None:
        where = f" for {sl.metric}" + (f" on {config.dataset_name}={sl.dataset}" if sl.dataset is not None else "")
        labels = ", ".join(g.label for g in sl.groups)
        raise ValueError(f"baseline {baseline!r} matches no group{where} (groups: {labels})")
    return index


def pair_test(a: Group, b: Group, options: TestOptions, folds_vary: bool) -> tuple[Any, bool, str, bool]:
    """(test result, paired?, power design, pairing asked but impossible?) for group a against group b."""
    import numpy as np

    paired, test, cv, confidence = options.paired, options.test, options.cv, options.confidence

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


def runs_needed_for(g: Group, ref: Group, effect: float, design: str, cv: tuple[int, int] | None, alpha: float) -> Any:
    """Runs per group giving 80% power at ``alpha`` for the observed effect (t-test power: for the rank tests
    an approximation), NA when it cannot be estimated or no number of runs would do."""
    import pandas as pd

    if len(g.values) < 2 or len(ref.values) < 2:
        return pd.NA
    if design == "two-sample":
        size = power.runs_needed(effect, POWER, alpha, "two-sample")
    else:
        aligned = align_by_seed(g, ref)
        if aligned is None:
            return pd.NA
        dz = paired_dz(*aligned)
        rho = cv[1] / cv[0] if (design == "nadeau-bengio" and cv) else 0.0
        size = power.runs_needed(dz, POWER, alpha, design, rho)
    return int(size) if math.isfinite(size) else pd.NA
