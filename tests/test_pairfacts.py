"""The columns every pair row shares, whatever test decides it (fixed-n, sequential, MCB)."""

import math

import numpy as np
import pytest
from scipy import stats

from nbtrack.analysis.grouping import Group, Slice
from nbtrack.analysis.pairfacts import align_by_seed, degenerate, pair_facts
from nbtrack.analysis.significance import TestResult as Result


def _group(label, values, seeds=None, failed=0):
    values = np.asarray(values, dtype=float)
    seeds = list(range(len(values))) if seeds is None else seeds
    return Group(
        label,
        (label,),
        [f"{label}{k}" for k in range(len(values))],
        values,
        seeds,
        {},
        [f"{label}-f{k}" for k in range(failed)],
    )


def test_p_better_follows_the_direction_and_ranks_failures_worst():
    low, high = _group("low", [0.1, 0.2, 0.3]), _group("high", [0.4, 0.5, 0.6], failed=1)
    sl = Slice("loss", None, [low, high])
    (facts,) = pair_facts(sl, 1, [0], hib=False, confidence=0.95)  # lower loss is better: low beats every run
    assert facts["p_better"] == 1.0 and facts["p_greater"] == 0.0
    assert facts["n"] == 3 and facts["n_failed"] == 0 and facts["n_failed_reference"] == 1
    assert facts["p_better_ci_low"] < 1.0 == pytest.approx(facts["p_better_ci_high"])
    (facts,) = pair_facts(sl, 1, [0], hib=True, confidence=0.95)  # higher is better: the failure loses to all
    mw = stats.mannwhitneyu([0.1, 0.2, 0.3], [0.4, 0.5, 0.6, -math.inf]).statistic / 12
    assert facts["p_better"] == pytest.approx(mw)


def test_degenerate_pairs_and_seed_alignment():
    res = Result("welch", 1.0, 4.0, 0.5, 0.1, -0.1, 0.3, 1.0, 0.1)
    assert degenerate(_group("a", [1, 2]), _group("b", [1, 2, 3]), res).startswith("fewer than 3")
    assert "zero variance" in degenerate(_group("a", [1, 1, 1]), _group("b", [2, 2, 2]), res)
    assert degenerate(_group("a", [1, 2, 3]), _group("b", [2, 2, 4]), res) == ""
    a, b = _group("a", [1, 2, 3], seeds=[2, 0, 1]), _group("b", [10, 20, 30])
    x, y = align_by_seed(a, b)
    assert list(x) == [1, 2, 3] and list(y) == [30, 10, 20]
    assert align_by_seed(a, _group("c", [1, 2, 3], seeds=[5, 6, 7])) is None
