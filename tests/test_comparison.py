"""nbtrack.compare() (analysis.comparison): grouping, reference, pairs, verdicts, warnings, renderings, CLI, plots.

The statistics themselves are checked against references in test_intervals.py, test_significance.py and
test_power.py; here the numbers are checked against those functions (and scipy) on the same samples, plus a
seeded simulation of false verdicts.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from compare_helpers import frame
from scipy import stats

from nbtrack.analysis import intervals, significance
from nbtrack.analysis.comparison import VERDICTS, Comparison, compare

GROUP_COLUMNS = ["n", "mean", "std", "median", "iqm", "ci_low", "ci_high", "min", "max", "same_data"]
PAIR_COLUMNS = [
    "group",
    "reference",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "p_greater",
    "p_greater_ci_low",
    "p_greater_ci_high",
    "test",
    "p_value",
    "p_adjusted",
    "effect_size",
    "verdict",
    "runs_needed",
]


@pytest.fixture
def three():
    rng = np.random.default_rng(5)
    return {0.01: rng.normal(0.80, 0.01, 8), 0.1: rng.normal(0.83, 0.01, 8), 1.0: rng.normal(0.80, 0.01, 8)}


def test_groups_and_pairs_have_the_documented_columns_and_values(three):
    cmp = compare(frame(three, seeds=False), metric="acc")
    assert isinstance(cmp, Comparison)
    assert set(GROUP_COLUMNS) <= set(cmp.groups.columns) and "lr" in cmp.groups.columns
    assert set(PAIR_COLUMNS) <= set(cmp.pairs.columns) and "lr" in cmp.pairs.columns
    g = cmp.groups.set_index("lr")
    for key, values in three.items():
        row = g.loc[key]
        assert row["n"] == len(values)
        assert row["mean"] == pytest.approx(values.mean())
        assert row["std"] == pytest.approx(values.std(ddof=1))
        assert row["median"] == pytest.approx(np.median(values))
        assert row["iqm"] == pytest.approx(stats.trim_mean(values, 0.25))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(intervals.hall_t_interval(values))
        assert (row["min"], row["max"]) == (values.min(), values.max())
        assert row["ci_method"] == "hall-t" and row["iqm_ci_method"] == "bootstrap"
    # the reference is the best by IQM; every quantity is group versus reference
    assert list(cmp.groups.loc[cmp.groups.is_reference, "group"]) == ["lr=0.1"]
    p = cmp.pairs.set_index("group")
    assert list(p.index) == ["lr=0.01", "lr=1.0"] and set(p.reference) == {"lr=0.1"}
    a, ref = three[0.01], three[0.1]
    welch = stats.ttest_ind(a, ref, equal_var=False)
    assert p.loc["lr=0.01", "test"] == "welch"
    assert p.loc["lr=0.01", "diff"] == pytest.approx(a.mean() - ref.mean())
    assert p.loc["lr=0.01", "p_value"] == pytest.approx(welch.pvalue)
    ci = welch.confidence_interval(0.95)
    assert (p.loc["lr=0.01", "diff_ci_low"], p.loc["lr=0.01", "diff_ci_high"]) == pytest.approx((ci.low, ci.high))
    u = stats.mannwhitneyu(a, ref).statistic
    assert p.loc["lr=0.01", "p_greater"] == pytest.approx(u / 64)
    assert p.loc["lr=0.01", "effect_size"] == pytest.approx(significance.hedges_g(a, ref))
    assert (
        p.loc["lr=0.01", "p_greater_ci_low"] <= p.loc["lr=0.01", "p_greater"] <= p.loc["lr=0.01", "p_greater_ci_high"]
    )
    assert set(p.verdict) <= set(VERDICTS)
    assert list(p.verdict) == ["worse", "worse"]


def test_several_metrics_carry_a_metric_column():
    rng = np.random.default_rng(2)
    rows = []
    for cfg, (acc, loss) in {"a": (0.8, 0.3), "b": (0.9, 0.2)}.items():
        for s in range(6):
            rows.append(
                {
                    "run_id": f"{cfg}{s}",
                    "params.model": cfg,
                    "params.seed": s,
                    "metrics.acc": acc + rng.normal(0, 0.01),
                    "metrics.loss": loss + rng.normal(0, 0.01),
                }
            )
    cmp = compare(pd.DataFrame(rows), metric=["acc", "metrics.loss"], baseline="model=a")
    assert list(cmp.groups.metric) == ["acc", "acc", "loss", "loss"]
    assert list(cmp.pairs.metric) == ["acc", "loss"]
    assert list(cmp.pairs.verdict) == ["better", "better"]  # higher acc, lower loss
    assert cmp.directions == {"acc": True, "loss": False}
    per_metric = compare(pd.DataFrame(rows), metric="acc,loss", higher_is_better={"loss": True}, baseline="model=a")
    assert list(per_metric.pairs.verdict) == ["better", "worse"]


def test_deterministic_bootstrap_with_overridable_seed(three):
    f = frame(three)
    a, b = compare(f, metric="acc"), compare(f, metric="acc")
    pd.testing.assert_frame_equal(a.groups, b.groups)
    pd.testing.assert_frame_equal(a.pairs, b.pairs)
    c = compare(f, metric="acc", seed=1)
    assert not np.allclose(a.groups.iqm_ci_low, c.groups.iqm_ci_low)
    assert np.allclose(a.groups.ci_low, c.groups.ci_low)  # only the bootstrap moves


def test_json_shape_and_values(three):
    cmp = compare(frame(three), metric="acc")
    data = json.loads(cmp.to_json())
    assert set(data) == {"groups", "pairs", "warnings"}
    assert len(data["groups"]) == 3 and len(data["pairs"]) == 2
    assert data["pairs"][0]["verdict"] in VERDICTS and data["pairs"][0]["runs_needed"] is None
    assert data["groups"][0]["same_data"] is None  # no fingerprints recorded


def test_one_configuration_warns_and_bad_input_is_explained(three):
    single = compare(frame({0.1: three[0.1]}), metric="acc")
    assert len(single.pairs) == 0 and any("Only one configuration" in w for w in single.warnings)
    with pytest.raises(ValueError, match="no metric 'nope'"):
        compare(frame(three), metric="nope")
    with pytest.raises(ValueError, match="no param"):
        compare(frame(three), metric="acc", by="nope")
    g = compare(frame(three), by="lr,seed", metric="acc")  # explicit by: every run its own group
    assert len(g.groups) == 24 and {"lr", "seed"} <= set(g.groups.columns)


def test_import_nbtrack_stays_cheap():
    code = "import sys, nbtrack; print([m for m in ('scipy', 'pandas', 'matplotlib') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_runs_needed_is_nullable_int(three):
    cmp = compare(frame({k: v[:4] for k, v in three.items()}), metric="acc", baseline="lr=0.01")
    assert compare(frame(three), metric="acc").pairs.runs_needed.isna().all()  # all "worse": nothing to wait for
    assert str(cmp.pairs.runs_needed.dtype) == "Int64"
    waiting = cmp.pairs[cmp.pairs.verdict == "inconclusive"]
    assert len(waiting) >= 1 and (waiting.runs_needed >= 5).all()
    # the runs needed answer "how many runs to detect min_effect", whatever effect was observed (issue 14)
    big = compare(
        frame({"a": [0.5], "b": [0.6, 0.7, 0.65], "c": [0.7] * 5, "d": [0.8] * 5}, param="opt", seeds=False),
        metric="acc",
    )
    rows = big.pairs.set_index("group")
    assert rows.loc["opt=a", "verdict"] == "needs more runs" and "fewer than 3 runs" in rows.loc["opt=a", "flag"]
    assert rows.loc["opt=c", "verdict"] == "needs more runs" and "zero variance" in rows.loc["opt=c", "flag"]
    assert cmp.pairs[~cmp.pairs.verdict.isin(["inconclusive", "needs more runs"])].runs_needed.isna().all()
