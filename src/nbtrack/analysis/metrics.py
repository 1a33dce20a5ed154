"""Which metrics a comparison is about, and which way is better for each.

A metric's direction is given (``higher_is_better=``) or guessed from its name, and a guess is always shown as
one, with the override, so a wrong guess is visible in the result. The rule, applied to the name's words
(split at non-alphanumerics and camelCase):

1. A leading ``neg``/``negative``/``minus`` (scikit-learn's ``neg_*`` scorers) or ``1-``/``one_minus``
   flips the direction of the rest: ``neg_mean_squared_error`` and ``neg_log_loss`` are higher-is-better,
   ``1-acc`` lower-is-better.
2. A change word names the direction of a change of the rest: ``improvement``/``improve``/``speedup`` are
   always better up and ``degradation``/``regression`` always down; ``reduction``, ``decrease``, ``drop``,
   ``decline``, ``fall`` flip the rest (``error_reduction`` up, ``accuracy_drop`` down); ``gain``,
   ``increase``, ``rise``, ``growth`` keep it (``accuracy_gain`` up, ``loss_increase`` down).
3. Otherwise the first word that says a direction decides: losses, errors, distances and times go down,
   accuracies, scores and rewards up.
4. A name that says neither is assumed higher-is-better, and the note says so.
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


_FLIP_PREFIX = ("neg", "negative", "minus", "inv", "inverse")
_ONE_MINUS = (("1", "minus"), ("one", "minus"), ("1",))
_ALWAYS_UP = ("improvement", "improvements", "improve", "improved", "speedup")
_ALWAYS_DOWN = ("degradation", "regression", "slowdown", "deterioration")
_FLIP_CHANGE = ("reduction", "reduce", "reduced", "decrease", "decreased", "drop", "decline", "fall", "shrink")
_KEEP_CHANGE = ("gain", "increase", "increased", "rise", "growth")


def _words(metric: str) -> list[str]:
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", short_metric(metric))
    return [t for t in re.split(r"[^a-z0-9]+", name.lower()) if t]


def _base_direction(tokens: list[str]) -> tuple[bool | None, str]:
    for token in tokens:
        if token in _LOWER_WORDS or token.startswith(_LOWER_PREFIXES):
            return False, token
    for token in tokens:
        if token.startswith(_HIGHER_PREFIXES):
            return True, token
    return None, ""


def guess_direction(metric: str) -> tuple[bool, str]:
    """(higher_is_better, why) from a metric's name by the rule in this module's docstring; ``why`` always
    says the direction was guessed (or assumed) and how to override it."""
    tokens = _words(metric)
    override = "; pass higher_is_better= to override"
    flipped = False
    for prefix in _ONE_MINUS:
        if tuple(tokens[: len(prefix)]) == prefix and len(tokens) > len(prefix):
            tokens, flipped, why = tokens[len(prefix) :], True, f"'{' '.join(prefix)}' before"
            break
    else:
        if tokens and tokens[0] in _FLIP_PREFIX and len(tokens) > 1:
            tokens, flipped, why = tokens[1:], True, f"{tokens[0]!r} before"
    for k, token in enumerate(tokens):
        if token in _ALWAYS_UP or token in _ALWAYS_DOWN:
            up = (token in _ALWAYS_UP) != flipped
            return up, f"{'higher' if up else 'lower'} is better (guessed from {token!r} in the name{override})"
        if token in _FLIP_CHANGE or token in _KEEP_CHANGE:
            base, word = _base_direction(tokens[:k] + tokens[k + 1 :])
            if base is not None:
                up = (base if token in _KEEP_CHANGE else not base) != flipped
                return up, (
                    f"{'higher' if up else 'lower'} is better (guessed from {token!r} of {word!r} in the name"
                    f"{override})"
                )
    base, word = _base_direction(tokens)
    if base is None:
        return True, "higher is better (assumed: the name does not say; pass higher_is_better=)"
    up = base != flipped
    source = f"{why} {word!r}" if flipped else repr(word)
    return up, f"{'higher' if up else 'lower'} is better (guessed from {source} in the name{override})"


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
