"""nbtrack.analysis.power against R's power.t.test."""

from __future__ import annotations

import math

import pytest

from nbtrack.analysis import power


def test_power_matches_r_power_t_test():
    # R's ?power.t.test examples: power.t.test(n = 20, delta = 1) -> power = 0.8689528;
    # power.t.test(power = .90, delta = 1) -> n = 22.02110
    assert power.t_power(1.0, 20) == pytest.approx(0.8689528, abs=5e-7)
    assert power.sample_size(1.0, power=0.9) == pytest.approx(22.02110, abs=5e-5)
    assert power.runs_needed(1.0, power=0.9) == 23
    for effect in (0.05, 0.3, 0.8, 2.0):
        for design in ("two-sample", "paired"):
            assert power.runs_needed(effect, design=design) == math.ceil(power.sample_size(effect, design=design))
    assert power.runs_needed(0.0) == math.inf
    # Nadeau-Bengio: more folds cannot beat the overlap term; dz = 0.8 with n_test/n_train = 1/4 never gets 80%
    assert power.runs_needed(0.8, design="nadeau-bengio", rho=0.25) == math.inf
    assert math.isfinite(power.runs_needed(2.0, design="nadeau-bengio", rho=0.25))


def test_power_matches_statsmodels():
    sm_power = pytest.importorskip("statsmodels.stats.power")
    for effect in (0.3, 0.5, 1.0):
        for alpha in (0.05, 0.01):
            two = sm_power.TTestIndPower().solve_power(effect_size=effect, alpha=alpha, power=0.8)
            one = sm_power.TTestPower().solve_power(effect_size=effect, alpha=alpha, power=0.8)
            assert power.sample_size(effect, 0.8, alpha) == pytest.approx(two, rel=1e-4)
            assert power.sample_size(effect, 0.8, alpha, "paired") == pytest.approx(one, rel=1e-4)
            assert power.runs_needed(effect, 0.8, alpha) == math.ceil(two)
            assert power.t_power(effect, 20, alpha) == pytest.approx(
                sm_power.TTestIndPower().power(effect_size=effect, nobs1=20, alpha=alpha), rel=1e-6
            )


def test_an_effect_beyond_the_noncentral_t_needs_two_runs_not_a_crash():
    # zero spread in the paired differences makes the standardized effect ~1e10 and more: scipy's noncentral t
    # is NaN there, and brentq used to raise ValueError out of compare()
    from nbtrack.analysis.power import sample_size

    for effect in (1e10, 1e15, 1e300):
        for design in ("two-sample", "paired"):
            assert sample_size(effect, design=design) == 2.0
