"""nbtrack.data.distances against scipy: Wasserstein-1, Jensen-Shannon, category distributions from stored top
values."""

from __future__ import annotations

import numpy as np
import pytest

import nbtrack
from nbtrack.data.distances import (
    category_distributions,
    jensen_shannon,
    wasserstein_distance,
    wasserstein_from_quantiles,
)

stats = pytest.importorskip("scipy.stats")
distance = pytest.importorskip("scipy.spatial.distance")


def normal(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


# distances against scipy -----------------------------------------------------------------------------


def test_wasserstein_matches_scipy():
    rng = np.random.default_rng(11)
    cases = [
        (rng.normal(size=50), rng.normal(0.3, 2, size=80)),
        (rng.integers(0, 5, 40), rng.integers(1, 7, 33)),
        (np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 2.0])),
        (rng.exponential(size=200), rng.exponential(size=200)),
    ]
    for u, v in cases:
        assert wasserstein_distance(u, v) == pytest.approx(stats.wasserstein_distance(u, v), rel=1e-12, abs=1e-15)
    assert wasserstein_distance([1.0, 2.0], [1.0, 2.0]) == 0.0


def test_wasserstein_from_stored_quantiles_approximates_scipy():
    rng = np.random.default_rng(12)
    pairs = [
        (rng.normal(size=20_000), rng.normal(0.3, 1.0, size=20_000)),
        (rng.normal(size=20_000), rng.normal(0.0, 1.5, size=20_000)),
        (rng.exponential(size=20_000), rng.lognormal(0, 0.5, size=20_000)),
    ]
    for u, v in pairs:
        qu = nbtrack.fingerprint(u, profile=True).profile["columns"][0]["q"]
        qv = nbtrack.fingerprint(v, profile=True).profile["columns"][0]["q"]
        assert wasserstein_from_quantiles(qu, qv) == pytest.approx(stats.wasserstein_distance(u, v), rel=0.03)
    q = np.quantile(rng.normal(size=1000), np.linspace(0, 1, 101))
    assert wasserstein_from_quantiles(q, q + 0.25) == pytest.approx(0.25)
    assert wasserstein_from_quantiles(q, q) == 0.0
    assert wasserstein_from_quantiles(q, q[::5]) == pytest.approx(0.0, abs=1e-12)  # 101 vs 21 points


def test_jensen_shannon_matches_scipy():
    rng = np.random.default_rng(13)
    for _ in range(5):
        p, q = rng.random(6), rng.random(6)
        p[2] = 0.0
        assert jensen_shannon(p, q) == pytest.approx(distance.jensenshannon(p, q), rel=1e-12)
        assert jensen_shannon(p, q, base=2) == pytest.approx(distance.jensenshannon(p, q, base=2), rel=1e-12)
    assert jensen_shannon([1, 0], [0, 1], base=2) == pytest.approx(1.0)


def test_category_distributions_from_top_values():
    complete = {"top": [["a", 60], ["b", 40]], "_nonnull": 100}
    other_complete = {"top": [["a", 50], ["c", 50]], "_nonnull": 100}
    keys, p, q = category_distributions(complete, other_complete)
    assert keys == ["a", "b", "c"] and p.tolist() == [60, 40, 0] and q.tolist() == [50, 0, 50]
    partial = {"top": [["a", 50], ["b", 30]], "_nonnull": 100}  # 20 rows in values not listed
    keys, p, q = category_distributions(partial, {"top": [["a", 50], ["d", 25]], "_nonnull": 100})
    assert keys == ["a", "\x00other"] and p.tolist() == [50, 50] and q.tolist() == [50, 50]
