"""nbtrack.data.profiling: column profiles against pandas, their size, sampling and file schemas."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack.data import file_cache, profiling
from nbtrack.data import fingerprint as fpmod


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_CACHE_DIR", str(tmp_path / "cache"))
    file_cache.clear_file_cache()
    fpmod._profile_cache.clear()
    yield
    file_cache.clear_file_cache()


# profiles -------------------------------------------------------------------------------------------


def test_numeric_and_categorical_profiles_match_pandas():
    rng = np.random.default_rng(3)
    x = rng.normal(5, 2, 10_000)
    x[:100] = np.nan
    x[100] = np.inf
    df = pd.DataFrame(
        {
            "x": x,
            "k": rng.integers(0, 10, 10_000),
            "s": rng.choice(["a", "b", "c"], 10_000, p=[0.5, 0.3, 0.2]),
            "c": pd.Categorical(rng.choice(["u", "v"], 10_000)),
            "b": rng.random(10_000) < 0.25,
            "t": pd.date_range("2020-01-01", periods=10_000, freq="min"),
        }
    )
    prof = {c["name"]: c for c in nbtrack.fingerprint(df, profile=True).profile["columns"]}
    finite = df["x"][np.isfinite(df["x"])]
    px = prof["x"]
    assert px["nulls"] == 100 and px["infinite"] == 1
    assert px["mean"] == pytest.approx(finite.mean()) and px["std"] == pytest.approx(finite.std())
    assert px["min"] == finite.min() and px["max"] == finite.max()
    assert np.allclose(px["q"], np.quantile(finite, np.linspace(0, 1, 101)), rtol=1e-6)
    assert prof["k"]["min"] == 0 and prof["k"]["max"] == 9 and isinstance(prof["k"]["min"], int)
    counts = df["s"].value_counts()
    assert prof["s"]["distinct"] == 3 and prof["s"]["top"] == [[k, int(v)] for k, v in counts.items()]
    assert prof["c"]["distinct"] == 2 and sum(v for _, v in prof["c"]["top"]) == 10_000
    assert prof["b"]["top"] == [["False", int((~df["b"]).sum())], ["True", int(df["b"].sum())]]
    assert prof["t"]["min"].startswith("2020-01-01") and prof["t"]["nulls"] == 0


def test_profile_size_and_wide_tables():
    rng = np.random.default_rng(4)
    n = 50_000
    df = pd.DataFrame({"x": rng.normal(size=n), "s": [f"value-{i:06d}-{'x' * 60}" for i in rng.integers(0, 10**6, n)]})
    for column in nbtrack.fingerprint(df, profile=True).profile["columns"]:
        assert len(json.dumps(column)) <= 2048
    wide = pd.DataFrame(rng.normal(size=(20, 600)))
    fp = nbtrack.fingerprint(wide, profile=True)
    assert len(fp.profile["columns"]) == profiling.MAX_COLUMNS and fp.profile["truncated"] == 100
    assert len(fp.profile["columns"][0]["q"]) == profiling.COMPACT_QUANTILES
    assert len(json.dumps(fp.profile)) <= 2048 * 600


def test_large_column_quantiles_come_from_a_fixed_sample():
    x = np.random.default_rng(5).exponential(size=1_200_000)
    first = nbtrack.fingerprint(x, profile=True).profile["columns"][0]
    assert first["sample"] == profiling.SAMPLE and first["min"] == x.min() and first["max"] == x.max()
    assert np.allclose(first["q"][1:-1], np.quantile(x, np.linspace(0, 1, 101))[1:-1], rtol=0.02, atol=0.01)
    fpmod._profile_cache.clear()
    assert nbtrack.fingerprint(x, profile=True).profile["columns"][0] == first


def test_file_profiles_hold_format_and_schema(tmp_path):
    pytest.importorskip("pyarrow.parquet")
    df = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, None], "s": ["x", "y", "z"]})
    df.to_parquet(tmp_path / "t.parquet")
    df.to_csv(tmp_path / "t.csv", index=False)
    np.save(tmp_path / "t.npy", np.zeros((4, 2), dtype="float32"))
    parquet = nbtrack.fingerprint(tmp_path / "t.parquet", profile=True).profile
    assert parquet["format"] == "parquet" and parquet["schema"]["rows"] == 3
    assert parquet["schema"]["columns"] == [
        {"name": "a", "type": "int64"},
        {"name": "b", "type": "float64"},
        {"name": "s", "type": "string"},
    ]
    csv = nbtrack.fingerprint(tmp_path / "t.csv", profile=True).profile
    assert csv["format"] == "csv" and [c["type"] for c in csv["schema"]["columns"]] == ["int64", "float64", "string"]
    npy = nbtrack.fingerprint(tmp_path / "t.npy", profile=True).profile
    assert npy["schema"]["shape"] == [4, 2] and npy["schema"]["dtype"] == "float32"
    directory = nbtrack.fingerprint(tmp_path, profile=True).profile
    assert directory["formats"] == {"csv": 1, "npy": 1, "parquet": 1}
