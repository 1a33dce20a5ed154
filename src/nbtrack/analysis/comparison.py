"""Statistical comparison of runs: is configuration A really better than B, and how sure am I?

``compare()`` groups runs into configurations (their params, seed-like params left out), summarizes each
group with intervals, tests every group against a reference group with multiplicity-adjusted p-values, and
gives a verdict: ``better``, ``worse``, ``no difference``, ``inconclusive`` (with the runs needed) or ``needs
more runs``. This
module is the pipeline; its steps live by concept: :mod:`~nbtrack.analysis.metrics` (which metrics, which way is
better), :mod:`~nbtrack.analysis.grouping` (runs into groups), :mod:`~nbtrack.analysis.verdicts` (tests and
verdicts), :mod:`~nbtrack.analysis.ranking` (across data sets), :mod:`~nbtrack.analysis.report` (text and HTML),
on the statistics of :mod:`~nbtrack.analysis.intervals`, :mod:`~nbtrack.analysis.significance` and
:mod:`~nbtrack.analysis.power`.

Choices, and why:

- Mean intervals use Hall's skewness-corrected t interval: it keeps 92.8-95% coverage on normal and
  lognormal(0, 0.5) scores from n = 5, where Student-t falls to 91.7% and a plain bootstrap lower.
- When no baseline is given the reference is the best group by IQM, picked from the same data it is then
  tested on. Adjusting only the k - 1 comparisons against it would then call one of five identical groups
  better or worse in ~9% of experiments instead of 5%, so p-values are adjusted over all k(k-1)/2 pairwise
  comparisons, which bounds the error whatever group gets picked.
- Tests: paired t (or Wilcoxon if the differences are clearly skewed) when runs match by seed/fold;
  Nadeau-Bengio corrected t for cross-validation folds when ``cv=(n_train, n_test)`` is given; Welch t
  otherwise (Mann-Whitney if scores are clearly skewed, or when asked with ``test=``).
- ``no difference`` needs an equivalence test (TOST inside +-margin, default half a pooled SD): with a real
  d = 0.5 effect the old rule (|g| < 0.2 and no significance) said so 16-21% of the time, TOST <= 5%.
  Otherwise ``inconclusive``, with the runs per group that would detect ``min_effect`` (default half a pooled
  SD) with 80% power at the level of that comparison (alpha = 1 - confidence divided by the factor the
  multiplicity adjustment applied to it): a stated effect, not the observed one, which is noise when the
  answer is unclear. ``needs more runs`` only for degenerate comparisons (under 3 runs, zero variance).
- Failed runs and NaN/inf scores are the worst outcomes, not dropped (dropping them is survivorship bias):
  those pairs use Mann-Whitney with the Hodges-Lehmann interval, and P(better) counts them as losses.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbtrack.analysis import best as best_tests
from nbtrack.analysis import sequential as sequential_tests
from nbtrack.analysis.equivalence import DEFAULT_MARGIN, DEFAULT_MIN_EFFECT
from nbtrack.analysis.grouping import FAILURE_POLICY, build_slices, configure, load_frame, tidy_runs
from nbtrack.analysis.metrics import resolve_metrics, short_metric
from nbtrack.analysis.ranking import rank_across_datasets
from nbtrack.analysis.report import comparison_html, comparison_text
from nbtrack.analysis.tasks import across_tasks
from nbtrack.analysis.verdicts import TESTS, VERDICTS, TestOptions, analyze
from nbtrack.store.local import Store

__all__ = ["TESTS", "VERDICTS", "Comparison", "compare"]


@dataclass
class Comparison:
    """The result of :func:`compare`. ``groups`` and ``pairs`` are DataFrames (see :func:`compare` for their
    columns), ``warnings`` sentences that matter for reading them, ``notes`` the methods used."""

    groups: Any
    pairs: Any
    warnings: list[str]
    notes: list[str]
    metrics: list[str]
    params: list[str]  # the params identifying a group (columns of groups and pairs)
    directions: dict[str, bool]
    confidence: float
    runs: Any  # tidy frame: metric, dataset, group, run_id, value and the group params
    ranks: Any = None  # across data sets: average ranks (one row per metric and group)
    friedman: Any = None  # across data sets: one row per metric
    nemenyi: Any = None  # across data sets: pairwise Nemenyi p-values
    best: Any = None  # multiple comparisons with the best: per group its interval and status (or None)
    tasks: Any = None  # across data sets: a TaskSummary (aggregate IQM, profiles, improvement, Wilcoxon-Holm)
    store: Any = field(default=None, repr=False)
    failure_policy: str = FAILURE_POLICY  # failed runs and NaN/inf scores: ranked as the worst outcomes
    min_effect: Any = DEFAULT_MIN_EFFECT  # the difference runs_needed is computed for (compare's min_effect=)

    # exports ----------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """``{"groups": [...], "pairs": [...], "warnings": [...]}`` with JSON-safe values (NaN -> None);
        with multiple comparisons with the best also ``"best"``; across data sets also ``"ranks"``,
        ``"friedman"`` and ``"tasks"`` (``{"aggregate", "profiles", "improvement", "pairwise"}``)."""
        out: dict[str, Any] = {
            "groups": _records(self.groups),
            "pairs": _records(self.pairs),
            "warnings": list(self.warnings),
        }
        if self.best is not None:
            out["best"] = _records(self.best)
        if self.friedman is not None:
            out["ranks"] = _records(self.ranks)
            out["friedman"] = _records(self.friedman)
        if self.tasks is not None and self.tasks.pairwise is not None:
            out["tasks"] = {
                name: _records(getattr(self.tasks, name))
                for name in ("aggregate", "profiles", "improvement", "pairwise")
            }
        return out

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def plot(self, kind: str = "box", metric: str | None = None, **options: Any) -> Any:
        """A matplotlib Figure: ``box`` (scores per group with the mean's interval), ``diff`` (differences
        against the reference), ``curves`` (step series, mean and interval band per group), ``parallel``
        (params against the metric), ``matrix`` (P(better) for every pair), ``cd`` (critical-difference
        diagram across data sets), ``profile`` (performance profiles across data sets)."""
        from nbtrack.analysis import plots

        makers: dict[str, Callable[..., Any]] = {
            "box": plots.box,
            "diff": plots.diff,
            "curves": plots.curves,
            "parallel": plots.parallel,
            "matrix": plots.matrix,
            "cd": plots.cd,
            "profile": plots.profile,
        }
        if kind not in makers:
            raise ValueError(f"unknown plot kind {kind!r}: use one of {', '.join(makers)}")
        return makers[kind](self, metric=metric, **options)

    def chart(self, kind: str = "box", metric: str | None = None, **options: Any) -> Any:
        """An interactive Vega-Lite chart (:class:`nbtrack.charts.Chart`, shown by JupyterLab): ``curves``,
        ``box``, ``parallel``, ``scatter`` or ``matrix``; one colour per group, the same in every chart."""
        from nbtrack.charts import comparison_chart

        return comparison_chart(self, kind, metric, **options)

    @property
    def headline(self) -> str:
        """One sentence per metric read off the pair verdicts (:mod:`~nbtrack.analysis.headline`): who is better
        and by how much, or how many more runs would settle it, or no difference within the margin."""
        from nbtrack.analysis.headline import headline_text

        return headline_text(self)

    def verdict(self, group: str, metric: str | None = None) -> str:
        """The verdict of one group (by label) against the reference."""
        rows = self.pairs[self.pairs["group"] == group]
        if metric is not None:
            rows = rows[rows["metric"] == short_metric(metric)]
        if len(rows) != 1:
            raise KeyError(f"{len(rows)} pairs match group {group!r}" + (f" and metric {metric!r}" if metric else ""))
        return str(rows["verdict"].iloc[0])

    # renderings -------------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return self.to_text()

    def to_text(self) -> str:
        """Plain-text rendering for terminals."""
        return comparison_text(self)

    def _repr_html_(self) -> str:
        return comparison_html(self)

    # reading the tables -----------------------------------------------------------------------------------

    @property
    def dataset_name(self) -> str:
        """What the runs call their data set (the tag or param ``compare`` read it from)."""
        return str(self.groups.attrs.get("dataset_name", "dataset"))

    def datasets(self, metric: str) -> list[Any]:
        """The data sets ``metric`` was compared on, in order; ``[None]`` without data sets."""
        if "dataset" not in self.groups.columns:
            return [None]
        rows = self.groups[self.groups["metric"] == metric]
        return list(dict.fromkeys(rows["dataset"]))


def _records(frame: Any) -> list[dict[str, Any]]:
    if frame is None:
        return []
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({str(k): _jsonable(v) for k, v in row.items()})
    return out


def _jsonable(value: Any) -> Any:
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


# the pipeline ---------------------------------------------------------------------------------------------------


def compare(
    runs: Any = None,
    metric: str | Sequence[str] | None = None,
    by: str | Sequence[str] | None = None,
    baseline: Any = None,
    higher_is_better: bool | Mapping[str, bool] | None = None,
    paired: bool | None = None,
    confidence: float = 0.95,
    *,
    seed_params: Iterable[str] = (),
    test: str | None = None,
    adjust: str = "holm",
    cv: tuple[int, int] | None = None,
    dataset: str | None = None,
    interval: str = "hall-t",
    n_boot: int = 2000,
    seed: int = 0,
    store: str | Path | Store | None = None,
    status: str | Sequence[str] | None = "finished",
    margin: float | str | Mapping[str, float | str] = DEFAULT_MARGIN,
    min_effect: float | str | Mapping[str, float | str] = DEFAULT_MIN_EFFECT,
    sequential: bool | None = None,
    best: str = "auto",
) -> Comparison:
    """Compare configurations of runs on one or more metrics, with intervals, tests and a verdict.

    ``runs``: a list of run ids, a DataFrame from ``nbtrack.runs()``, an experiment name, or None (the
    current experiment). Runs whose status is ``status`` (finished by default) are scores; failed,
    interrupted and abandoned runs, and NaN/inf scores, are failures on every entry point: counted per group
    (``n_failed``) and ranked as the worst outcomes (``failure_policy`` "worst"); runs still running are left
    out with a warning.
    ``by``: params forming a configuration; default all params except seed-like ones (``seed``,
    ``random_state``, ``random_seed``, ``rng_seed``, ``fold``, ``cv_fold``, ``rep``, ``repeat``, ``repetition``,
    ``replicate``, ``trial``, ``run``, ``*_seed``, ``seed_*``, ``*_fold``, ``fold_*``, and ``seed_params``,
    e.g. ``["seed", "split"]``). Group keys keep types (``depth=3`` and ``depth='3'`` differ; a param a run
    did not record is ``<missing>``). ``baseline``: the reference group, as a dict of param values, a run id,
    or a group label such as ``"lr=0.1"``; default the best group by IQM among groups with 3+ runs.
    ``higher_is_better``: a bool, or a dict per metric; guessed from the metric's name when not given (the
    notes and titles say it is a guess).
    ``paired``: None pairs runs by their seed-like params when they match; True asks for it (with a warning
    when impossible); False never pairs. ``test``: force one of ``welch``, ``paired-t``, ``wilcoxon``,
    ``mann-whitney``, ``nadeau-bengio`` (pairs with failures always use Mann-Whitney). ``adjust``: ``holm``
    or ``bh`` (Benjamini-Hochberg) or ``none``.
    ``cv=(n_train, n_test)``: runs differing by ``fold`` are cross-validation folds; use the Nadeau-Bengio
    corrected t-test. ``dataset``: a tag or param naming the data set of each run (default: a ``dataset``
    tag or param with several values), to compare per data set and across them: ``.tasks`` holds the aggregate
    IQM, performance profiles, average probability of improvement and the Wilcoxon-Holm verdicts
    (:mod:`~nbtrack.analysis.tasks`); Friedman and Nemenyi stay for the CD diagram.
    ``interval``: ``hall-t`` or ``t`` for the mean. ``n_boot``, ``seed``: the IQM bootstrap (deterministic).
    ``margin``: "no difference" needs an equivalence test inside +-margin: a number in metric units or
    ``"0.5sd"`` in pooled standard deviations (default), or a dict per metric. ``min_effect``: the
    difference ``runs_needed`` is computed for, same forms (default ``"0.5sd"``).

    ``.groups`` columns: metric, [dataset], the group params, group, n (finite scores), n_failed, mean, std,
    median, iqm, ci_low, ci_high (interval of the mean), ci_method, iqm_ci_low, iqm_ci_high, iqm_ci_method,
    median_ci_low, median_ci_high, median_ci_coverage (the median interval's true coverage: 75% at 3 runs,
    where it is [min, max]), min, max, same_data, higher_is_better, is_reference.
    ``.pairs`` columns: metric, [dataset], the group params, group, reference, n, n_reference, n_failed,
    n_failed_reference, paired, diff (the deciding test's estimate: mean difference for t-tests,
    Hodges-Lehmann shift for rank tests), diff_ci_low, diff_ci_high (that test's interval), p_better,
    p_better_ci_low, p_better_ci_high (P(a run of the group beats one of the reference) in the metric's
    direction, failures worst, Newcombe interval), p_greater, p_greater_ci_low, p_greater_ci_high (the raw
    P(A > B) of the finite scores, whatever the direction), test, statistic, df, p_value, p_adjusted,
    effect_size (Hedges g; NaN with failures), margin (metric units), p_equivalence (TOST; NaN for rank
    tests), equivalent, verdict (``better``, ``worse``, ``no difference``, ``inconclusive``, ``needs more
    runs``), runs_needed (runs per group to detect ``min_effect`` with 80% power; not the observed effect),
    flag (why a comparison got no verdict). Every quantity is group versus reference. ``inconclusive`` means
    tested and not decided; ``needs more runs`` only that no test could decide (``flag``: fewer than 3 runs a
    side, or zero variance).

    ``sequential=True``: anytime-valid tests (:mod:`~nbtrack.analysis.sequential`), so runs can be added and
    the comparison looked at again after every run with the false-verdict rate still below 1 - confidence;
    the pairs then have test ``sequential-t``, the confidence sequence as diff_ci_low/high (``no difference``
    when it lies inside +-margin), the e-value as statistic, and the columns ``decided`` and ``runs_more``
    (estimated runs per group still to add at the observed difference; ``runs_needed`` stays the runs for
    ``min_effect``). Pairs with failures get no sequential verdict (``flag``; the t e-value cannot rank them).
    ``None`` (default): on when this process already compared a strict subset of these runs (same store,
    experiment or ids, metrics); ``False``: the fixed-n tests.

    ``best``: how the best configuration is found when no baseline is given: ``auto`` (default) uses Hsu's
    multiple comparisons with the best (:mod:`~nbtrack.analysis.best`) in slices of more than 6 groups,
    ``mcb`` in every slice, ``pairs`` Holm over all pairs. With MCB the reference is the best mean among
    groups with 3+ runs, the pairs have test ``mcb``, diff_ci_low/high the Tukey-Kramer simultaneous interval
    against it, the same verdicts (``no difference`` when that interval lies inside +-margin), and ``.best``
    lists every group's status (``best``, ``could be best``, ``not best``). Slices with failed runs are
    tested pair by pair instead (a warning says so): MCB pools means and cannot rank failures.
    ``sequential`` takes precedence.
    """
    options = TestOptions(confidence, paired, test, adjust, cv, interval, n_boot, seed, margin, min_effect)
    mcb_method = best_tests.MCBMethod(best)
    frame, source = load_frame(runs, store, status)
    metrics, directions, notes = resolve_metrics(frame, metric, higher_is_better, source)
    config = configure(frame, by, seed_params, dataset, source, status)
    slices, warnings = build_slices(frame, metrics, config, source)
    method: Any = mcb_method
    if sequential_tests.resolve(sequential, runs, store, metrics, slices):
        method = sequential_tests.SequentialMethod.for_frame(frame)
    analysis = analyze(slices, directions, config, baseline, options, method=method)
    if "runs_more" in analysis.pairs.columns:
        analysis.pairs["runs_more"] = analysis.pairs["runs_more"].astype("Int64")
    cmp = Comparison(
        analysis.groups,
        analysis.pairs,
        list(dict.fromkeys(warnings + analysis.warnings)),
        notes + analysis.notes,
        metrics,
        config.param_columns,
        directions,
        confidence,
        tidy_runs(slices, config.label_params, config.param_columns, config.dataset_col is not None),
        store=store,
        min_effect=min_effect,
    )
    if isinstance(method, best_tests.MCBMethod):
        cmp.best = method.table()
    if config.dataset_col is not None:
        ranking = rank_across_datasets(slices, metrics, directions, options.alpha, config.dataset_name)
        cmp.ranks, cmp.friedman, cmp.nemenyi = ranking.ranks, ranking.friedman, ranking.nemenyi
        cmp.warnings += ranking.warnings
        cmp.tasks = across_tasks(
            slices, metrics, directions, options.alpha, config.dataset_name, n_boot, seed, adjust if adjust else "holm"
        )
        cmp.warnings += cmp.tasks.warnings
        cmp.notes += cmp.tasks.notes
    return cmp
