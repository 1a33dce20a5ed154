"""Configurations compared across many tasks (data sets), as recommended by Agarwal, Schwarzer, Castro,
Courville & Bellemare (2021, "Deep reinforcement learning at the edge of the statistical precipice", NeurIPS):
aggregate scores with stratified bootstrap intervals, performance profiles and the average probability of
improvement; and the across-task verdicts by pairwise Wilcoxon signed-rank tests with Holm's adjustment.

Why not Nemenyi for the verdicts: its p-value for A vs B depends on the mean ranks of every other method, so
adding an unrelated method C changes A vs B (Benavoli, Corani & Mangili 2016, "Should we really use post-hoc
tests based on mean-ranks?", JMLR 17). The Wilcoxon signed-rank test of A vs B (Demsar 2006) over the tasks
uses only A's and B's scores; Holm then adjusts over the pairs. The Friedman test, Nemenyi table and CD
diagram stay (``cmp.friedman``, ``cmp.nemenyi``, ``cmp.plot("cd")``) as a picture.

- Scores are normalized per task so tasks weigh alike: min-max over every run compared on that task,
  oriented so 1 is the best run and 0 the worst (the normalization is taken as fixed by the bootstrap).
- Aggregate: the IQM of a group's normalized runs pooled over tasks; its interval by the stratified
  percentile bootstrap (runs resampled within each task, ``n_boot`` resamples, ``seed``).
- Performance profile: the fraction of a group's normalized runs above each threshold tau, with bootstrap bands.
- Average probability of improvement: mean over tasks of P(X > Y) (ties count half), with a stratified
  bootstrap interval; for every pair up to ``MAX_PAIRS`` pairs, else against the best aggregate IQM.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nbtrack.analysis.grouping import Slice
from nbtrack.analysis.significance import adjust_pvalues

MAX_PAIRS = 66  # every pair up to 12 groups
PROFILE_TAUS = 21


@dataclass
class TaskSummary:
    """DataFrames across tasks (each with a ``metric`` column): ``aggregate`` (group, n_tasks, runs, iqm with
    its interval, on normalized scores), ``profiles`` (group, tau, fraction above tau with its band),
    ``improvement`` (group, other, p_improvement with its interval) and ``pairwise`` (Wilcoxon signed-rank with
    Holm: group, other, n_datasets, mean_diff, statistic, p_value, p_adjusted, verdict)."""

    aggregate: Any = None
    profiles: Any = None
    improvement: Any = None
    pairwise: Any = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _iqm_rows(x: Any) -> Any:
    """IQM along the last axis (the mean of the middle half, as scipy.stats.trim_mean(x, 0.25))."""
    n = x.shape[-1]
    cut = math.floor(0.25 * n)
    srt = np.sort(x, axis=-1)
    return srt[..., cut : n - cut].mean(axis=-1)


def normalized_scores(per_task: Mapping[Any, Mapping[str, Any]], higher_is_better: bool) -> dict[str, list[Any]]:
    """Per group, one array of min-max normalized scores per task (1 = best run on the task). Failures
    (non-finite outcomes, the failure policy 'worst') score 0, the worst; the range is that of the finite scores."""
    out: dict[str, list[Any]] = {}
    for groups in per_task.values():
        allv = np.concatenate([np.asarray(v, dtype=float) for v in groups.values()])
        finite = allv[np.isfinite(allv)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        span = hi - lo
        for label, v in groups.items():
            v = np.asarray(v, dtype=float)
            z = (v - lo) / span if span > 0 else np.full(len(v), 0.5)
            z = z if higher_is_better else 1.0 - z
            out.setdefault(label, []).append(np.where(np.isfinite(v), z, 0.0))
    return out


def task_means(per_task: Mapping[Any, Mapping[str, Any]], labels: list[str], higher_is_better: bool) -> Any:
    """(tasks, groups) mean scores for the signed-rank tests; a failure counts as the task's worst finite score."""
    rows = []
    for groups in per_task.values():
        allv = np.concatenate([np.asarray(groups[lab], dtype=float) for lab in labels])
        finite = allv[np.isfinite(allv)]
        worst = (finite.min() if higher_is_better else finite.max()) if finite.size else 0.0
        rows.append(
            [float(np.where(np.isfinite(v), v, worst).mean()) for v in (np.asarray(groups[lab]) for lab in labels)]
        )
    return np.array(rows)


def stratified_resamples(arrays: list[Any], n_boot: int, rng: Any) -> Any:
    """(n_boot, total runs): each task's runs resampled with replacement within the task, then pooled."""
    parts = []
    for a in arrays:
        idx = rng.integers(0, a.size, size=(n_boot, a.size))
        parts.append(a[idx])
    return np.concatenate(parts, axis=1)


def average_probability_of_improvement(x_tasks: list[Any], y_tasks: list[Any]) -> float:
    """Mean over tasks of P(X > Y) + P(X = Y) / 2 (X, Y: a run of each group on the task)."""
    vals = []
    for x, y in zip(x_tasks, y_tasks, strict=True):
        gt = (x[:, None] > y[None, :]).mean()
        eq = (x[:, None] == y[None, :]).mean()
        vals.append(gt + 0.5 * eq)
    return float(np.mean(vals))


def _boot_improvement(x_tasks: list[Any], y_tasks: list[Any], n_boot: int, rng: Any) -> Any:
    total = np.zeros(n_boot)
    for x, y in zip(x_tasks, y_tasks, strict=True):
        xb = x[rng.integers(0, x.size, size=(n_boot, x.size))]
        yb = y[rng.integers(0, y.size, size=(n_boot, y.size))]
        cmp = np.sign(xb[:, :, None] - yb[:, None, :])
        total += (cmp.mean(axis=(1, 2)) + 1.0) / 2.0
    return total / len(x_tasks)


def wilcoxon_holm(
    means: Any, labels: list[str], higher_is_better: bool, alpha: float, adjust: str = "holm"
) -> list[dict[str, Any]]:
    """Pairwise two-sided Wilcoxon signed-rank tests over tasks (rows of ``means``, one column per label),
    Holm-adjusted over the pairs; verdict of ``group`` against ``other`` in the metric's direction."""
    from scipy import stats

    k = means.shape[1]
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    raw, stat = [], []
    for i, j in pairs:
        d = means[:, i] - means[:, j]
        if np.all(d == 0):
            raw.append(1.0)
            stat.append(0.0)
            continue
        res = stats.wilcoxon(means[:, i], means[:, j])
        raw.append(float(res.pvalue))
        stat.append(float(res.statistic))
    adjusted, _ = adjust_pvalues(raw, adjust)
    rows = []
    for (i, j), p, padj, s in zip(pairs, raw, adjusted, stat, strict=True):
        diff = float(np.mean(means[:, i] - means[:, j]))
        if padj < alpha and diff != 0:
            verdict = "better" if (diff > 0) == higher_is_better else "worse"
        else:
            verdict = "inconclusive"  # tested, not decided: the vocabulary of the per-task pairs
        rows.append(
            {
                "group": labels[i],
                "other": labels[j],
                "n_datasets": int(means.shape[0]),
                "mean_diff": diff,
                "statistic": s,
                "p_value": p,
                "p_adjusted": float(padj),
                "verdict": verdict,
            }
        )
    return rows


def across_tasks(
    slices: list[Slice],
    metrics: list[str],
    directions: Mapping[str, bool],
    alpha: float,
    dataset_name: str,
    n_boot: int = 2000,
    seed: int = 0,
    adjust: str = "holm",
) -> TaskSummary:
    """Aggregate IQM, performance profiles, average probability of improvement and Wilcoxon-Holm verdicts per
    metric, over the tasks every group ran on (None tables when no metric has two such tasks)."""
    import pandas as pd

    summary = TaskSummary()
    agg_rows: list[dict[str, Any]] = []
    prof_rows: list[dict[str, Any]] = []
    imp_rows: list[dict[str, Any]] = []
    pair_rows: list[dict[str, Any]] = []
    taus = np.linspace(0.0, 1.0, PROFILE_TAUS)
    lo_q, hi_q = 100 * alpha / 2, 100 * (1 - alpha / 2)
    for m in metrics:
        per_task = {
            sl.dataset: {g.label: g.outcomes(directions[m]) for g in sl.groups} for sl in slices if sl.metric == m
        }
        if len(per_task) < 2:
            continue
        common = set.intersection(*(set(v) for v in per_task.values()))
        order = [g.label for sl in slices if sl.metric == m for g in sl.groups]
        labels = [lab for lab in dict.fromkeys(order) if lab in common]
        if len(labels) < 2:
            continue
        per_task = {d: {lab: v[lab] for lab in labels} for d, v in per_task.items()}
        hib = directions[m]
        scores = normalized_scores(per_task, hib)
        rng = np.random.default_rng(seed)
        aggregate: dict[str, float] = {}
        for lab in labels:
            tasks = scores[lab]
            pooled = np.concatenate(tasks)
            boot = stratified_resamples(tasks, n_boot, rng)
            iqm_b = _iqm_rows(boot)
            aggregate[lab] = float(_iqm_rows(pooled))
            agg_rows.append(
                {
                    "metric": m,
                    "group": lab,
                    "n_tasks": len(tasks),
                    "runs": int(pooled.size),
                    "iqm": aggregate[lab],
                    "iqm_ci_low": float(np.percentile(iqm_b, lo_q)),
                    "iqm_ci_high": float(np.percentile(iqm_b, hi_q)),
                    "mean": float(pooled.mean()),
                }
            )
            above = (boot[:, :, None] > taus).mean(axis=1)
            point = (pooled[:, None] > taus).mean(axis=0)
            for t, f, lo, hi in zip(
                taus, point, np.percentile(above, lo_q, axis=0), np.percentile(above, hi_q, axis=0), strict=True
            ):
                prof_rows.append(
                    {
                        "metric": m,
                        "group": lab,
                        "tau": float(t),
                        "fraction": float(f),
                        "low": float(lo),
                        "high": float(hi),
                    }
                )
        k = len(labels)
        if k * (k - 1) // 2 <= MAX_PAIRS:
            pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        else:
            top = max(range(k), key=lambda i: aggregate[labels[i]])
            pairs = [(top, j) for j in range(k) if j != top]
        for i, j in pairs:
            x_t, y_t = scores[labels[i]], scores[labels[j]]
            boot = _boot_improvement(x_t, y_t, n_boot, rng)
            imp_rows.append(
                {
                    "metric": m,
                    "group": labels[i],
                    "other": labels[j],
                    "p_improvement": average_probability_of_improvement(x_t, y_t),
                    "ci_low": float(np.percentile(boot, lo_q)),
                    "ci_high": float(np.percentile(boot, hi_q)),
                }
            )
        means = task_means(per_task, labels, hib)
        failed = sum(int((~np.isfinite(v)).sum()) for groups in per_task.values() for v in groups.values())
        if failed:
            summary.notes.append(
                f"{m} across {dataset_name}s: {failed} failed runs ranked worst (normalized score 0; in the "
                f"per-{dataset_name} means the {dataset_name}'s worst finite score)"
            )
        pair_rows += [{"metric": m, **row} for row in wilcoxon_holm(means, labels, hib, alpha, adjust)]
        n = means.shape[0]
        smallest = 2.0 / 2**n  # the exact two-sided signed-rank test cannot go lower
        family = k * (k - 1) // 2
        if smallest * (family if adjust == "holm" else 1) >= alpha:
            summary.warnings.append(
                f"{m}: {n} {dataset_name}s: the signed-rank test's smallest p-value is {smallest:.3g}, so with "
                f"{family} pair{'s' * (family != 1)} no across-{dataset_name} difference can be significant; "
                f"add {dataset_name}s."
            )
    if not pair_rows:
        return summary
    summary.aggregate = pd.DataFrame(agg_rows)
    summary.profiles = pd.DataFrame(prof_rows)
    summary.improvement = pd.DataFrame(imp_rows)
    summary.pairwise = pd.DataFrame(pair_rows)
    summary.notes.append(
        f"across {dataset_name}s: verdicts by pairwise Wilcoxon signed-rank tests on the per-{dataset_name} means, "
        f"{'Holm' if adjust == 'holm' else adjust}-adjusted over the pairs (not Nemenyi: its A-vs-B depends on the "
        f"other methods); aggregate IQM of scores min-max normalized per {dataset_name}, performance profiles and "
        f"average probability of improvement with stratified bootstrap intervals ({n_boot} resamples, seed {seed}; "
        f"Agarwal et al. 2021)"
    )
    return summary


# renderings ---------------------------------------------------------------------------------------------------


def text_lines(summary: TaskSummary | None, dataset_name: str = "dataset") -> list[str]:
    """Plain-text lines: aggregate IQM per group and the Wilcoxon-Holm verdicts, per metric."""
    if summary is None or summary.pairwise is None:
        return []
    lines = ["", f"across {dataset_name}s (aggregate IQM of normalized scores; Wilcoxon signed-rank, Holm):"]
    for m in dict.fromkeys(summary.pairwise["metric"]):
        agg = summary.aggregate[summary.aggregate["metric"] == m].sort_values("iqm", ascending=False)
        lines.append(
            f"  {m}: IQM "
            + ", ".join(
                f"{r.group} {r.iqm:.3f} [{r.iqm_ci_low:.3f}, {r.iqm_ci_high:.3f}]" for r in agg.itertuples(index=False)
            )
        )
        for r in summary.pairwise[summary.pairwise["metric"] == m].itertuples(index=False):
            lines.append(
                f"    {r.group} vs {r.other}: {r.verdict} (p = {r.p_value:.3g}, Holm {r.p_adjusted:.3g}, "
                f"{r.n_datasets} {dataset_name}s)"
            )
    return lines


def html_block(summary: TaskSummary | None, dataset_name: str = "dataset") -> str:
    """HTML: the same as :func:`text_lines`, one table of pairs per metric."""
    import html

    if summary is None or summary.pairwise is None:
        return ""
    esc = html.escape
    parts = [f'<h4 style="margin:8px 0 2px">Across {esc(dataset_name)}s (Wilcoxon signed-rank, Holm)</h4>']
    for m in dict.fromkeys(summary.pairwise["metric"]):
        agg = summary.aggregate[summary.aggregate["metric"] == m].sort_values("iqm", ascending=False)
        iqms = ", ".join(
            f"{esc(str(r.group))} {r.iqm:.3f} [{r.iqm_ci_low:.3f}, {r.iqm_ci_high:.3f}]" for r in agg.itertuples()
        )
        cells = "".join(
            f"<tr><td>{esc(str(r.group))}</td><td>{esc(str(r.other))}</td><td>{r.p_value:.3g}</td>"
            f"<td>{r.p_adjusted:.3g}</td><td>{esc(str(r.verdict))}</td></tr>"
            for r in summary.pairwise[summary.pairwise["metric"] == m].itertuples()
        )
        parts.append(
            f"<div>{esc(str(m))}: aggregate IQM (normalized) {iqms}</div><table><tr><th>group</th><th>other</th>"
            f"<th>p</th><th>p (Holm)</th><th>verdict</th></tr>{cells}</table>"
        )
    return "".join(parts)
