"""nbtrack.analysis.sequential: anytime-valid e-values and confidence sequences, checked against numerical
integration and by seeded simulation of a look after every added run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import nbtrack
from nbtrack.analysis import sequential
from nbtrack.analysis.comparison import compare


def test_evalue_is_the_bayes_factor_by_numerical_integration():
    """The closed form equals the Bayes factor integrated numerically: right-Haar prior on sigma,
    N(0, sigma^2 / c) on the mean, against mean 0."""
    x = np.random.default_rng(1).normal(0.3, 1.2, 7)
    for c in (0.5,):

        def alt(mu: float, s: float, c: float = c) -> float:
            return float(np.prod(stats.norm.pdf(x, mu, s)) * stats.norm.pdf(mu, 0, s / math.sqrt(c)) / s)

        null = integrate.quad(lambda s: np.prod(stats.norm.pdf(x, 0, s)) / s, 0, 30)[0]
        bf = integrate.dblquad(alt, 0.05, 30, -8, 8, epsrel=1e-6)[0] / null
        ss = float(((x - x.mean()) ** 2).sum())
        assert sequential.t_evalue(7, x.mean(), ss, c=c) == pytest.approx(bf, rel=1e-4)
    assert sequential.t_evalue(1, 2.0, 0.0) == pytest.approx(1.0)  # one value carries no scale: no evidence


def test_confidence_sequence_is_the_inverted_evalue():
    x = np.random.default_rng(2).normal(1.0, 0.5, 12)
    mean, lo, hi = sequential.t_confidence_sequence(x, alpha=0.05)
    ss = float(((x - mean) ** 2).sum())
    for end in (lo, hi):
        assert sequential.t_evalue(12, mean, ss, mu0=end) == pytest.approx(20.0, rel=1e-9)
    assert sequential.t_evalue(12, mean, ss, mu0=mean) < 20  # the centre is inside
    # wider than the fixed-n t interval: the price of looking at every n
    t_lo, t_hi = stats.t.interval(0.95, 11, loc=mean, scale=x.std(ddof=1) / math.sqrt(12))
    assert lo < t_lo and hi > t_hi
    # below 5 pairs the e-value cannot reach 20 whatever the data: the sequence is the whole line
    assert sequential.t_half_width(4, 1.0, 0.05) == math.inf and math.isfinite(sequential.t_half_width(5, 1.0, 0.05))


@pytest.mark.parametrize("dist", ["normal", "lognormal"])
def test_false_verdicts_with_a_look_after_every_run_stay_below_alpha(dist):
    """Equal groups, a look after every added run from 3 to 30 per group: a false better/worse at any look
    in at most 5% of simulated experiments (the fixed-n t-test at every look: about 25%)."""
    rng = np.random.default_rng(2024)
    shape = (4000, 30)
    if dist == "normal":
        a, b = rng.normal(0, 1, shape), rng.normal(0, 1, shape)
    else:
        a, b = rng.lognormal(0, 0.5, shape), rng.lognormal(0, 0.5, shape)
    mean, hw = sequential.running_sequences(b - a, alpha=0.05)
    false = (np.abs(mean) > hw)[:, 2:].any(axis=1).mean()
    assert false <= 0.05
    # the fixed-n test looked at the same way is far off
    n = np.arange(1, 31)
    sd = np.sqrt(np.maximum((np.cumsum((b - a) ** 2, 1) - n * mean**2) / np.maximum(n - 1, 1), 1e-300))
    t_crit = stats.t.ppf(0.975, np.maximum(n - 1, 1))
    naive = (np.abs(mean) / (sd / np.sqrt(n)) > t_crit)[:, 2:].any(axis=1).mean()
    assert naive > 0.15


def test_a_clear_effect_is_decided_well_before_30_runs():
    rng = np.random.default_rng(7)
    a, b = rng.normal(0, 1, (4000, 30)), rng.normal(1.5, 1, (4000, 30))
    mean, hw = sequential.running_sequences(b - a, alpha=0.05)
    decided = (mean - hw > 0)[:, 2:]
    first = np.where(decided.any(axis=1), decided.argmax(axis=1) + 3, 999)
    assert np.median(first) <= 14
    assert (first <= 30).mean() >= 0.95
    assert (mean + hw < 0)[:, 2:].any(axis=1).mean() == 0  # never the wrong way


def _runs(groups: dict[str, np.ndarray], n: int) -> pd.DataFrame:
    rows = []
    for key, values in groups.items():
        for i in range(n):
            rows.append(
                {
                    "run_id": f"{key}{i:02d}",
                    "start_time": f"2026-01-01T00:{i:02d}:00",
                    "params.model": key,
                    "params.seed": i,
                    "metrics.acc": values[i],
                }
            )
    return pd.DataFrame(rows)


def test_compare_sequential_agrees_with_the_running_sequence_at_every_look():
    rng = np.random.default_rng(3)
    groups = {"a": rng.normal(0.80, 0.02, 30), "b": rng.normal(0.83, 0.02, 30)}  # d = 1.5
    mean, hw = sequential.running_sequences(groups["b"] - groups["a"], alpha=0.05)
    first_better = None
    for n in range(3, 31):
        cmp = compare(_runs(groups, n), metric="acc", baseline="model=a", sequential=True)
        row = cmp.pairs.iloc[0]
        assert row.test == "sequential-t" and bool(row.paired)
        assert row["diff"] == pytest.approx(mean[n - 1])
        assert row.diff_ci_high - row["diff"] == pytest.approx(hw[n - 1])
        assert bool(row.decided) == (row.verdict in ("better", "worse", "no difference"))
        assert row.verdict != "needs more runs" and not row.flag  # 3+ runs a side with variance: tested
        assert 0 <= row.p_better_ci_low <= row.p_better <= row.p_better_ci_high <= 1 and row.n_failed == 0
        if row.verdict == "better" and first_better is None:
            first_better = n
        if row.verdict == "inconclusive":  # tested, not decided (stats1's vocabulary)
            assert row.runs_more >= 1 and row.runs_needed >= 2  # runs_needed: for min_effect, not n + runs_more
    assert first_better is not None and first_better < 20
    assert any("Lai (1976)" in note for note in cmp.notes)


def test_picked_reference_spends_alpha_over_all_pairs_and_unpaired_runs_match_in_order():
    rng = np.random.default_rng(4)
    groups = {k: rng.normal(0.8, 0.02, 10) for k in "abc"}
    frame = _runs(groups, 10).drop(columns="params.seed")
    frame = frame[~((frame["params.model"] == "c") & (frame["run_id"] >= "c08"))]  # c has 8 runs
    cmp = compare(frame, metric="acc", sequential=True)
    assert any("alpha/3" in note for note in cmp.notes)
    assert not cmp.pairs["paired"].any()
    assert (cmp.pairs["verdict"].isin(["inconclusive", "no difference"])).all()
    row = cmp.pairs[cmp.pairs["n"] == 8]
    if len(row):  # c against the reference: the 8 oldest runs of each, in recorded order
        ref = cmp.pairs["reference"].iloc[0].split("=")[1]
        d = groups["c"][:8] - groups[ref][:8]
        _, lo, hi = sequential.t_confidence_sequence(d, alpha=0.05 / 3)
        assert row.diff_ci_low.iloc[0] == pytest.approx(lo) and row.diff_ci_high.iloc[0] == pytest.approx(hi)
    assert any("wait for a partner" in w for w in cmp.warnings)


def test_auto_sequential_when_the_same_runs_source_grows(tmp_path):
    sequential.forget_looks()
    store = tmp_path / ".nbtrack"
    rng = np.random.default_rng(5)

    def add(seeds: range) -> None:
        for model in ("a", "b"):
            for s in seeds:
                with nbtrack.track(
                    name="fit", experiment="seq", params={"model": model, "seed": s}, store=store, environment=False
                ) as run:
                    run.log_metric("acc", float(rng.normal(0.8, 0.02)))

    add(range(5))
    first = compare("seq", metric="acc", store=store)
    again = compare("seq", metric="acc", store=store)  # the same runs: still the fixed-n test
    assert "sequential-t" not in set(first.pairs["test"]) | set(again.pairs["test"])
    add(range(5, 7))
    grown = compare("seq", metric="acc", store=store)
    assert set(grown.pairs["test"]) == {"sequential-t"}
    assert compare("seq", metric="acc", store=store).pairs["test"].iloc[0] == "sequential-t"  # stays on
    assert compare("seq", metric="acc", store=store, sequential=False).pairs["test"].iloc[0] != "sequential-t"
    sequential.forget_looks()
    assert compare("seq", metric="acc", store=store).pairs["test"].iloc[0] != "sequential-t"


def test_runs_to_decide():
    assert sequential.runs_to_decide(5, 1.0, 1.0, 0.05) == next(
        n for n in range(6, 200) if sequential.t_half_width(n, (n - 1) * 1.0, 0.05) < 1.0
    )
    assert sequential.runs_to_decide(5, 0.0, 1.0, 0.05) is None
    assert sequential.runs_to_decide(5, 1.0, 0.0, 0.05) is None


def test_sequential_refuses_pairs_with_failures_and_uses_the_margin():
    rng = np.random.default_rng(5)
    groups = {"a": rng.normal(0.80, 0.02, 12), "b": rng.normal(0.80, 0.02, 12), "c": rng.normal(0.8, 0.02, 12)}
    frame = _runs(groups, 12)
    frame.loc[frame["run_id"] == "c00", "metrics.acc"] = float("inf")
    cmp = compare(frame, metric="acc", baseline="model=a", sequential=True, margin=1.0)
    p = cmp.pairs.set_index("group")
    assert p.loc["model=c", "verdict"] == "inconclusive" and "failed runs" in p.loc["model=c", "flag"]
    assert p.loc["model=c", "n_failed"] == 1 and not p.loc["model=c", "decided"]
    assert p.loc["model=c", "p_better"] < 0.5 + 0.2  # the failure counts as c's worst run
    assert any("pairs with failed runs get no verdict" in w for w in cmp.warnings)
    # a margin of 1.0 (metric units) holds the whole sequence: no difference, decided
    assert p.loc["model=b", "verdict"] == "no difference" and p.loc["model=b", "equivalent"]
    assert p.loc["model=b", "margin"] == 1.0 and bool(p.loc["model=b", "decided"])
