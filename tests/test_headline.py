"""The headline sentence of a comparison, read off its pair verdicts, and P(better) in the metric's direction."""

import re

import numpy as np
import pytest
from compare_helpers import frame

from nbtrack.analysis.comparison import compare
from nbtrack.analysis.headline import headlines, more_runs


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"[-+]?\d+\.?\d*(?:e[-+]?\d+)?", text.split(": ", 1)[1])]


def _pair(cmp):
    assert len(cmp.pairs) == 1
    return cmp.pairs.iloc[0]


@pytest.mark.parametrize("metric, shift", [("acc", 0.1), ("loss", 0.1)])
def test_decided_headline_names_the_winner_with_the_tables_numbers(metric, shift):
    rng = np.random.default_rng(0)
    cmp = compare(frame({0.1: rng.normal(0.3, 0.02, 6), 0.3: rng.normal(0.3 + shift, 0.02, 6)}, metric=metric))
    row = _pair(cmp)
    (h,) = headlines(cmp)
    assert row["verdict"] in ("better", "worse")
    # acc: higher is better, so lr=0.3 wins; loss: lower is better, so lr=0.1 wins
    winner, loser = ("lr=0.3", "lr=0.1") if metric == "acc" else ("lr=0.1", "lr=0.3")
    assert h.kind == "better" and (h.group, h.reference) == (winner, loser)
    assert h.text.startswith(f"{winner} is better than {loser} on {metric}: ")
    assert h.text.endswith("6 runs each.")
    diff, lo, hi, p_better = _numbers(h.text)[:4]
    flip = -1 if row["verdict"] == "worse" else 1
    assert diff == pytest.approx(flip * row["diff"], rel=1e-2)
    assert sorted([lo, hi]) == pytest.approx(sorted([flip * row["diff_ci_low"], flip * row["diff_ci_high"]]), rel=1e-2)
    assert lo < hi
    expected_p = row["p_better"] if flip == 1 else 1 - row["p_better"]
    assert p_better == pytest.approx(expected_p, abs=0.005)
    # the winner is better in the metric's direction: its difference has the direction's sign
    assert (diff > 0) == (metric == "acc")
    assert cmp.headline == h.text


def test_p_better_follows_the_metric_direction_for_a_loss():
    """The issue's complaint: P(better) = 1 next to verdict worse for loss. A worse group has P(better) < 0.5."""
    rng = np.random.default_rng(3)
    for kwargs in ({}, {"paired": False}, {"test": "mann-whitney"}, {"sequential": True}):
        cmp = compare(frame({0.1: rng.normal(0.3, 0.02, 6), 0.3: rng.normal(0.4, 0.02, 6)}, metric="loss"), **kwargs)
        row = _pair(cmp)
        assert cmp.directions["loss"] is False
        assert row["verdict"] == "worse", kwargs
        assert row["p_better"] < 0.5 and row["p_better_ci_high"] < 1, kwargs
        assert row["p_greater"] > 0.5, kwargs  # the raw P(A > B) stays the other way round
    cmp = compare(
        frame({0.1: rng.normal(0.3, 0.02, 6), 0.3: rng.normal(0.4, 0.02, 6)}, metric="loss"), baseline="lr=0.3"
    )
    row = _pair(cmp)
    assert row["verdict"] == "better" and row["p_better"] > 0.5


def test_undecided_headline_says_how_many_more_runs():
    rng = np.random.default_rng(1)
    cmp = compare(frame({0.1: rng.normal(0.30, 0.02, 4), 0.3: rng.normal(0.31, 0.02, 4)}, seeds=False))
    row = _pair(cmp)
    assert row["verdict"] == "inconclusive"
    (h,) = headlines(cmp)
    more = int(row["runs_needed"]) - 4
    assert h.kind == "undecided"
    assert h.text == f"acc: undecided (lr=0.1 against lr=0.3): ~{more} more runs per group would settle it."
    assert more_runs(row.to_dict()) == more


def test_no_difference_headline_gives_the_margin():
    rng = np.random.default_rng(2)
    cmp = compare(frame({0.1: rng.normal(0.3, 0.001, 30), 0.3: rng.normal(0.3, 0.001, 30)}), margin=0.01)
    row = _pair(cmp)
    assert row["verdict"] == "no difference"
    (h,) = headlines(cmp)
    assert h.kind == "no difference"
    assert h.text == f"acc: no difference between {row['group']} and {row['reference']} within ±0.01."


def test_needs_more_runs_and_single_group_headlines():
    cmp = compare(frame({0.1: [0.3, 0.32], 0.3: [0.4, 0.43]}, seeds=False))
    assert _pair(cmp)["verdict"] == "needs more runs"
    (h,) = headlines(cmp)
    assert h.kind == "needs more runs" and "fewer than 3 runs" in h.text
    single = compare(frame({0.1: [0.3, 0.31, 0.32]}))
    assert [x.kind for x in headlines(single)] == ["single group"]


def test_one_headline_per_metric_in_order():
    rng = np.random.default_rng(4)
    df = frame({0.1: rng.normal(0.3, 0.02, 6), 0.3: rng.normal(0.4, 0.02, 6)}, metric="acc")
    df["metrics.loss"] = 1 - df["metrics.acc"]
    cmp = compare(df, metric=["acc", "loss"])
    found = headlines(cmp)
    assert [h.metric for h in found] == cmp.metrics
    assert all(h.text.endswith(".") for h in found)
    # both metrics agree on the winner: lr=0.3 has the higher acc and so the lower loss
    assert {h.group for h in found} == {"lr=0.3"}
