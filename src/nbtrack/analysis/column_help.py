"""What each column of a comparison's tables means, one sentence each, for hover help in the views.

The sentences follow :func:`~nbtrack.analysis.comparison.compare`'s docstring and the method notes of
:mod:`~nbtrack.analysis.verdicts`; the confidence level and ``min_effect`` of the comparison are filled in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nbtrack.analysis.equivalence import DEFAULT_MIN_EFFECT, parse_effect

POWER_TEXT = "0.8"


def column_help(cmp: Any) -> dict[str, dict[str, str]]:
    """``{"groups": {column: sentence}, "pairs": {column: sentence}}`` for ``cmp``."""
    pct = f"{cmp.confidence:.0%}"
    effect = _effect_text(getattr(cmp, "min_effect", DEFAULT_MIN_EFFECT))
    groups = {
        "group": "The configuration: the values of the group-by params shared by its runs.",
        "n": "Runs with a finite score in this group.",
        "n_failed": "Runs of this group that failed or scored NaN/inf; they count as the worst outcomes.",
        "mean": "Mean score of the group's finite runs.",
        "ci_low": f"Lower end of the {pct} interval of the mean.",
        "ci_high": f"Upper end of the {pct} interval of the mean.",
        "median": "Median score of the group's finite runs.",
        "iqm": "Interquartile mean: the mean of the middle 50% of scores, robust to outliers.",
        "std": "Standard deviation of the scores (n - 1).",
        "min": "Lowest score of the group.",
        "max": "Highest score of the group.",
    }
    pairs = {
        "group": "The group tested against the reference.",
        "reference": "The reference group: the baseline asked for, else the best group by IQM.",
        "verdict": (
            "better or worse: the adjusted p is below the level and the interval excludes 0; no difference: an "
            "equivalence test puts the difference inside ±margin; inconclusive: tested, not decided; needs more "
            "runs: no test could run."
        ),
        "diff": "Group minus reference, in metric units (mean difference, or Hodges-Lehmann shift for rank tests).",
        "diff_ci_low": f"Lower end of the {pct} interval of the difference.",
        "diff_ci_high": f"Upper end of the {pct} interval of the difference.",
        "p_better": (
            "Probability that a run of the group beats a run of the reference in the metric's direction "
            "(lower is better for losses), ties half, failures worst."
        ),
        "p_better_ci_low": f"Lower end of the {pct} interval of P(better) (Newcombe).",
        "p_better_ci_high": f"Upper end of the {pct} interval of P(better) (Newcombe).",
        "n_failed": "Failed runs or NaN/inf scores in the group.",
        "test": "The test that decided the verdict (Welch t, paired t, Wilcoxon, Mann-Whitney, ...).",
        "p_value": "Two-sided p-value of the test.",
        "p_adjusted": "The p-value adjusted for testing several pairs at once (Holm by default).",
        "effect_size": "Hedges g: the difference in pooled standard deviations, corrected for small samples.",
        "margin": "Differences inside ±margin count as no difference (equivalence test).",
        "runs_needed": (
            f"Runs per group to detect an effect of {effect} with power {POWER_TEXT}; "
            "it is not computed from the observed difference."
        ),
        "runs_more": "Sequential test: estimated runs per group still to add at the observed difference.",
        "flag": "Why a pair got no verdict, when it did not.",
    }
    return {"groups": groups, "pairs": pairs}


def _effect_text(spec: Any) -> str:
    """``0.5 pooled SD`` or ``0.01 (metric units)``; per metric ``loss: 0.01, acc: 0.5sd`` when given as a dict."""
    if isinstance(spec, Mapping):
        return ", ".join(f"{k}: {v}" for k, v in spec.items())
    try:
        return str(parse_effect(spec, what="min_effect"))
    except ValueError:
        return str(spec)
