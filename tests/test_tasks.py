"""nbtrack.analysis.tasks: across data sets, aggregate IQM (stratified bootstrap), performance profiles, average
probability of improvement and Wilcoxon-Holm verdicts, against scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nbtrack.analysis import significance, tasks
from nbtrack.analysis.comparison import compare


def _rows(effects: dict[str, float], n_datasets: int, seed: int, noise: float = 0.01, runs: int = 5) -> list[dict]:
    rng = np.random.default_rng(seed)
    bases = rng.uniform(0.6, 0.9, n_datasets)
    task_noise = {m: rng.normal(0, 0.02, n_datasets) for m in effects}  # method x data set interaction
    rows = []
    for d in range(n_datasets):
        for model, effect in effects.items():
            for s in range(runs):
                rows.append(
                    {
                        "run_id": f"{d}-{model}-{s}",
                        "params.model": model,
                        "params.seed": s,
                        "tags.dataset": f"ds{d}",
                        "metrics.acc": bases[d] + effect + task_noise[model][d] + rng.normal(0, noise),
                    }
                )
    return rows


def test_adding_an_unrelated_method_does_not_change_a_vs_b():
    """The reproduction: Nemenyi's A-vs-B p-value moves when C is added; the signed-rank test's does not."""
    ab = _rows({"a": 0.0, "b": 0.012}, 10, seed=1)
    c_rows = [r | {"params.model": "c", "run_id": r["run_id"] + "c", "metrics.acc": r["metrics.acc"] - 0.2} for r in ab]
    c_rows = [r for r in c_rows if r["run_id"].split("-")[1] == "a"]
    two = compare(pd.DataFrame(ab), metric="acc")
    three = compare(pd.DataFrame(ab + c_rows), metric="acc")

    def pair(cmp):
        p = cmp.tasks.pairwise
        return p[(p["group"] == "model=a") & (p["other"] == "model=b")].iloc[0]

    assert pair(two).p_value == pair(three).p_value
    means = pd.DataFrame(ab).groupby(["tags.dataset", "params.model"])["metrics.acc"].mean().unstack()
    assert pair(two).p_value == pytest.approx(stats.wilcoxon(means["a"], means["b"]).pvalue)
    # Holm adjusts over the 3 pairs now, as it should; Nemenyi's raw p-value itself moved
    assert pair(three).p_adjusted >= pair(two).p_adjusted

    def nemenyi(cmp):
        p = cmp.nemenyi
        return p[(p["group"] == "model=a") & (p["other"] == "model=b")]["p_value"].iloc[0]

    assert nemenyi(two) != pytest.approx(nemenyi(three))
    assert "Wilcoxon" in three.to_text() and "Wilcoxon" in three._repr_html_()


def test_verdicts_follow_the_direction_and_holm():
    rows = _rows({"a": 0.0, "b": 0.05, "c": 0.0}, 12, seed=2)
    cmp = compare(pd.DataFrame(rows), metric="acc")
    p = cmp.tasks.pairwise.set_index(["group", "other"])
    assert p.loc[("model=a", "model=b"), "verdict"] == "worse"
    assert p.loc[("model=b", "model=c"), "verdict"] == "better"
    raw = list(cmp.tasks.pairwise["p_value"])
    assert list(cmp.tasks.pairwise["p_adjusted"]) == pytest.approx(list(significance.adjust_pvalues(raw, "holm")[0]))
    loss = pd.DataFrame(rows).rename(columns={"metrics.acc": "metrics.loss"})
    low = compare(loss, metric="loss").tasks.pairwise.set_index(["group", "other"])
    assert low.loc[("model=a", "model=b"), "verdict"] == "better"  # lower is better: b's higher loss is worse


def test_aggregate_iqm_and_stratified_bootstrap():
    rows = _rows({"a": 0.0, "b": 0.02}, 4, seed=3, runs=8)
    cmp = compare(pd.DataFrame(rows), metric="acc")
    frame = pd.DataFrame(rows)
    lo = frame.groupby("tags.dataset")["metrics.acc"].transform("min")
    hi = frame.groupby("tags.dataset")["metrics.acc"].transform("max")
    frame["z"] = (frame["metrics.acc"] - lo) / (hi - lo)
    agg = cmp.tasks.aggregate.set_index("group")
    for model in "ab":
        pooled = frame.loc[frame["params.model"] == model, "z"]
        assert agg.loc[f"model={model}", "iqm"] == pytest.approx(stats.trim_mean(pooled, 0.25))
        assert agg.loc[f"model={model}", "iqm_ci_low"] <= agg.loc[f"model={model}", "iqm"]
        assert agg.loc[f"model={model}", "iqm"] <= agg.loc[f"model={model}", "iqm_ci_high"]
    # stratified: every resample keeps each task's number of runs, drawn from that task only
    arrays = [np.arange(3.0), 10 + np.arange(5.0), 100 + np.arange(2.0)]
    boot = tasks.stratified_resamples(arrays, 50, np.random.default_rng(0))
    assert boot.shape == (50, 10)
    assert (
        (boot[:, :3] < 10).all() and ((boot[:, 3:8] >= 10) & (boot[:, 3:8] < 100)).all() and (boot[:, 8:] >= 100).all()
    )


def test_probability_of_improvement_and_profiles():
    rows = _rows({"a": 0.0, "b": 0.01}, 5, seed=4)
    cmp = compare(pd.DataFrame(rows), metric="acc")
    frame = pd.DataFrame(rows)
    expected = np.mean(
        [
            stats.mannwhitneyu(
                frame[(frame["tags.dataset"] == d) & (frame["params.model"] == "a")]["metrics.acc"],
                frame[(frame["tags.dataset"] == d) & (frame["params.model"] == "b")]["metrics.acc"],
            ).statistic
            / 25
            for d in sorted(frame["tags.dataset"].unique())
        ]
    )
    imp = cmp.tasks.improvement.iloc[0]
    assert (imp.group, imp.other) == ("model=a", "model=b")
    assert imp.p_improvement == pytest.approx(expected)
    assert imp.ci_low <= imp.p_improvement <= imp.ci_high
    prof = cmp.tasks.profiles
    assert set(prof["group"]) == {"model=a", "model=b"} and prof["tau"].between(0, 1).all()
    a = prof[prof["group"] == "model=a"]
    assert (np.diff(a["fraction"].to_numpy()) <= 0).all()  # a survival curve
    assert ((a["low"] <= a["fraction"] + 1e-12) & (a["fraction"] <= a["high"] + 1e-12)).all()
    assert type(cmp.plot("profile")).__name__ == "Figure"
    assert any("fewer" in w or "smallest p-value" in w for w in cmp.warnings)  # 5 data sets, 1 pair: min p 0.0625


def test_no_tasks_without_datasets():
    rows = [r for r in _rows({"a": 0.0, "b": 0.01}, 1, seed=5)]
    cmp = compare(pd.DataFrame(rows).drop(columns="tags.dataset"), metric="acc")
    assert cmp.tasks is None
    with pytest.raises(ValueError, match="several data sets"):
        cmp.plot("profile")


def test_failures_are_ranked_worst_across_tasks_and_undecided_pairs_are_inconclusive():
    rows = []
    for task in range(4):
        for seed in range(5):
            for model, shift in (("a", 0.0), ("b", 0.01)):
                acc = 0.7 + shift + 0.01 * seed + 0.05 * task
                failed = model == "b" and seed == 0
                rows.append(
                    {
                        "run_id": f"{model}{task}{seed}",
                        "params.model": model,
                        "params.seed": seed,
                        "tags.dataset": f"t{task}",
                        "metrics.acc": float("nan") if failed else acc,
                    }
                )
    cmp = compare(pd.DataFrame(rows), metric="acc")
    agg = cmp.tasks.aggregate.set_index("group")
    assert agg.loc["model=b", "runs"] == 20  # the failed runs are in, not dropped
    assert cmp.tasks.pairwise["verdict"].isin(["better", "worse", "inconclusive"]).all()
    assert any("failed runs ranked worst" in note for note in cmp.notes)
    scores = tasks.normalized_scores({"t": {"a": np.array([0.5, 1.0]), "b": np.array([0.0, -np.inf])}}, True)
    assert list(scores["b"][0]) == [0.0, 0.0] and list(scores["a"][0]) == [0.5, 1.0]
