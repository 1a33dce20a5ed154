"""The sentence a comparison opens with, one per metric (and data set), read off the pair verdicts.

Nothing here is computed anew: every number in a sentence is a cell of ``cmp.pairs`` (the difference, its
interval and P(better) turned round when the reference is the winner, which is exact: the tests' estimates
are antisymmetric and P(better) counts ties half). So a headline can never say what the table does not:

- a decided pair (``better``/``worse``, the smallest adjusted p first): "lr=0.1 is better than lr=0.3 on
  val_acc: +0.031 [0.012, 0.050], P(better) 0.97, 6 runs each";
- else an ``inconclusive`` pair: "undecided: ~8 more runs per group would settle it" (runs needed for
  ``min_effect`` less the runs there are, or the sequential test's ``runs_more``);
- else ``no difference`` for every pair: "no difference within ±margin";
- else ``needs more runs``: the flag saying why no test could decide.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from nbtrack import format as fmt
from nbtrack.analysis.grouping import slice_rows

DECIDED = ("better", "worse")


@dataclass(frozen=True)
class Headline:
    """One sentence: its metric (and data set), its kind (``better``, ``undecided``, ``no difference``, ``needs
    more runs``, ``single group``), the pair it is about (winner first for ``better``) and the text."""

    metric: str
    dataset: Any
    kind: str
    group: str | None
    reference: str | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {k: (v if k != "dataset" or v is None else str(v)) for k, v in asdict(self).items()}


def headlines(cmp: Any) -> list[Headline]:
    """The headline of each (metric, data set) slice of ``cmp``, in the table's order."""
    out = []
    for metric in cmp.metrics:
        for dataset in cmp.datasets(metric):
            pairs = slice_rows(cmp.pairs, metric, dataset).to_dict(orient="records")
            where = f"{metric}" + (f" ({cmp.dataset_name}={dataset})" if dataset is not None else "")
            out.append(_slice_headline(metric, dataset, where, pairs))
    return out


def headline_text(cmp: Any) -> str:
    """The headlines as lines of text (``Comparison.headline``)."""
    return "\n".join(h.text for h in headlines(cmp))


def _slice_headline(metric: str, dataset: Any, where: str, pairs: list[dict[str, Any]]) -> Headline:
    if not pairs:
        return Headline(metric, dataset, "single group", None, None, f"{where}: one group only, nothing to compare.")
    decided = [p for p in pairs if p["verdict"] in DECIDED]
    undecided = [p for p in pairs if p["verdict"] == "inconclusive"]
    if decided:
        top = min(decided, key=lambda p: (_nan_last(p["p_adjusted"]), str(p["group"])))
        text = _decided(where, top)
        if len(decided) > 1:
            text += f"; {len(decided) - 1} more decided pair{'s' * (len(decided) > 2)} in the table"
        if undecided:
            text += f"; {len(undecided)} undecided"
        winner, loser = _winner(top)
        return Headline(metric, dataset, "better", winner, loser, text + ".")
    if undecided:
        return _undecided(metric, dataset, where, undecided)
    if all(p["verdict"] == "no difference" for p in pairs):
        margins = sorted({fmt.number(p["margin"], 2) for p in pairs})
        within = f"±{margins[0]}" if len(margins) == 1 else f"±{margins[0]} to ±{margins[-1]}"
        between = _between(pairs)
        return Headline(
            metric,
            dataset,
            "no difference",
            _one(pairs, "group"),
            _one(pairs, "reference"),
            f"{where}: no difference {between} within {within}.",
        )
    flags = sorted({str(p["flag"]) for p in pairs if p["verdict"] == "needs more runs" and p["flag"]})
    why = f" ({'; '.join(flags)})" if flags else ""
    return Headline(
        metric,
        dataset,
        "needs more runs",
        _one(pairs, "group"),
        _one(pairs, "reference"),
        f"{where}: no test could decide{why}: add runs to the groups.",
    )


def _winner(p: dict[str, Any]) -> tuple[str, str]:
    return (
        (str(p["group"]), str(p["reference"])) if p["verdict"] == "better" else (str(p["reference"]), str(p["group"]))
    )


def _decided(where: str, p: dict[str, Any]) -> str:
    """The pair's row read from the winner's side: difference winner - loser, P(winner beats loser)."""
    flip = p["verdict"] == "worse"
    diff, lo, hi, pb = p["diff"], p["diff_ci_low"], p["diff_ci_high"], p["p_better"]
    if flip:
        diff, lo, hi, pb = -diff, -hi, -lo, 1 - pb
    winner, loser = _winner(p)
    n_w, n_l = (p["n_reference"], p["n"]) if flip else (p["n"], p["n_reference"])
    runs = f"{int(n_w)} runs each" if n_w == n_l else f"{int(n_w)} and {int(n_l)} runs"
    sign = "+" if diff > 0 else ""
    return (
        f"{winner} is better than {loser} on {where}: {sign}{fmt.number(diff, 3)} "
        f"[{fmt.number(lo, 3)}, {fmt.number(hi, 3)}], P(better) {pb:.2f}, {runs}"
    )


def more_runs(p: dict[str, Any]) -> int | None:
    """Runs per group still to add to settle an undecided pair: the sequential estimate when there is one,
    else the runs needed for ``min_effect`` less the smaller group's runs; None when unknown."""
    more: Any = p.get("runs_more")
    if not _missing(more):
        return max(int(more), 1)
    needed: Any = p.get("runs_needed")
    if _missing(needed):
        return None
    return max(int(needed) - int(min(p["n"], p["n_reference"])), 1)


def _undecided(metric: str, dataset: Any, where: str, pairs: list[dict[str, Any]]) -> Headline:
    counts = [m for m in (more_runs(p) for p in pairs) if m is not None]
    if len(pairs) == 1:
        subject = f"{pairs[0]['group']} against {pairs[0]['reference']}"
    else:
        subject = f"{len(pairs)} pairs against {pairs[0]['reference']}"
    if counts:
        settle = f"~{max(counts)} more runs per group would settle {'it' if len(pairs) == 1 else 'them'}"
    else:
        settle = "more runs per group would settle it"
    return Headline(
        metric,
        dataset,
        "undecided",
        _one(pairs, "group"),
        str(pairs[0]["reference"]),
        f"{where}: undecided ({subject}): {settle}.",
    )


def _between(pairs: list[dict[str, Any]]) -> str:
    if len(pairs) == 1:
        return f"between {pairs[0]['group']} and {pairs[0]['reference']}"
    return f"between {pairs[0]['reference']} and the {len(pairs)} other groups"


def _one(pairs: list[dict[str, Any]], key: str) -> str | None:
    return str(pairs[0][key]) if len(pairs) == 1 else None


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or value is pd.NA or fmt.is_missing(value)


def _nan_last(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return math.inf
    return math.inf if math.isnan(x) else x
