"""Which metrics a comparison is about, and which way is better for each.

A metric's direction is given (``higher_is_better=``) or guessed from its name: losses, errors, distances and
times go down, accuracies, scores and rewards up; a name that says neither is assumed higher-is-better, and the
note says so, so a wrong guess is visible in the result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_LOWER_PREFIXES = (
    "loss",
    "err",
    "mse",
    "mae",
    "rmse",
    "rmsle",
    "nll",
    "perplex",
    "ppl",
    "wer",
    "cer",
    "latenc",
    "cost",
    "regret",
    "brier",
    "logloss",
    "crossentropy",
    "xent",
    "divergence",
    "kl",
)
_LOWER_WORDS = (
    "time",
    "duration",
    "seconds",
    "sec",
    "ms",
    "fpr",
    "fnr",
    "bpd",
    "memory",
    "mem",
    "mape",
    "smape",
    "distance",
    "dist",
    "fid",
    "eer",
    "miss",
    "hamming",
    "ce",
    "runtime",
    "size",
)
_HIGHER_PREFIXES = (
    "acc",
    "auc",
    "f1",
    "precision",
    "recall",
    "r2",
    "score",
    "reward",
    "return",
    "bleu",
    "rouge",
    "iou",
    "map",
    "ndcg",
    "dice",
    "sharpe",
    "hit",
    "mrr",
    "roc",
    "pr_auc",
    "top",
    "kappa",
    "mcc",
    "sensitivity",
    "specificity",
    "jaccard",
    "psnr",
    "ssim",
    "success",
    "win",
    "throughput",
)


def guess_direction(metric: str) -> tuple[bool, str]:
    """(higher_is_better, why) from a metric's name: losses, errors and times go down, the rest up."""
    tokens = [t for t in re.split(r"[^a-z0-9]+", metric.lower().replace("metrics.", "", 1)) if t]
    for token in tokens:
        if token in _LOWER_WORDS or token.startswith(_LOWER_PREFIXES):
            return False, f"lower is better (guessed from {token!r} in the name)"
    for token in tokens:
        if token.startswith(_HIGHER_PREFIXES):
            return True, f"higher is better (guessed from {token!r} in the name)"
    return True, "higher is better (assumed: the name does not say; pass higher_is_better=)"


def short_metric(metric: str) -> str:
    """The metric's name without the ``metrics.`` column prefix of ``nbtrack.runs()``."""
    return metric[len("metrics.") :] if metric.startswith("metrics.") else metric


def resolve_metrics(
    frame: Any, metric: str | Sequence[str] | None, higher_is_better: bool | Mapping[str, bool] | None, source: str
) -> tuple[list[str], dict[str, bool], list[str]]:
    """(metrics, direction per metric, one note per metric saying where its direction came from).

    ``metric`` may be omitted when the runs have exactly one metric; unknown names raise ValueError listing
    the metrics there are."""
    metric_cols = [c for c in frame.columns if c.startswith("metrics.")]
    if metric is None:
        if len(metric_cols) != 1:
            known = ", ".join(short_metric(c) for c in metric_cols) or "none"
            raise ValueError(f"say which metric to compare: metric=... (metrics in {source}: {known})")
        metric = short_metric(metric_cols[0])
    metrics = [m.strip() for m in metric.split(",")] if isinstance(metric, str) else [str(m) for m in metric]
    metrics = [short_metric(m) for m in metrics if m]
    for m in metrics:
        if f"metrics.{m}" not in frame.columns:
            known = ", ".join(short_metric(c) for c in metric_cols) or "none"
            raise ValueError(f"no metric {m!r} in {source} (metrics: {known})")
    directions: dict[str, bool] = {}
    notes: list[str] = []
    for m in metrics:
        if isinstance(higher_is_better, Mapping) and (m in higher_is_better or f"metrics.{m}" in higher_is_better):
            directions[m] = bool(higher_is_better.get(m, higher_is_better.get(f"metrics.{m}")))
            notes.append(f"{m}: {'higher' if directions[m] else 'lower'} is better (given)")
        elif isinstance(higher_is_better, bool):
            directions[m] = higher_is_better
            notes.append(f"{m}: {'higher' if directions[m] else 'lower'} is better (given)")
        else:
            directions[m], why = guess_direction(m)
            notes.append(f"{m}: {why}")
    return metrics, directions, notes
