"""nbtrack.data.expect: declared expectations raise DataExpectationError listing every problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack.data import fingerprint as fpmod


@pytest.fixture(autouse=True)
def _fresh_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_CACHE_DIR", str(tmp_path / "cache"))
    fpmod._profile_cache.clear()


# expectations -----------------------------------------------------------------------------------------


def test_expect_passes_and_returns_the_data():
    df = pd.DataFrame({"age": [30, 40], "score": [0.5, 0.7], "city": ["a", "b"], "ok": [True, False]})
    schema = {
        "age": {"type": "int", "min": 0, "max": 120, "nullable": False},
        "score": float,
        "city": str,
        "ok": "bool",
    }
    assert nbtrack.expect(df, schema) is df
    assert nbtrack.expect(df, {"age": "int64", "score": np.float64, "city": "string"}) is df
    assert nbtrack.expect(df, ["age", "city"]) is df
    assert nbtrack.expect(df, {"age": "number", "score": "number"}, allow_extra_columns=True) is df


def test_expect_lists_every_problem():
    df = pd.DataFrame({"age": [30.0, None, 150.0], "city": ["a", "b", "zz"], "extra": 1})
    schema = {
        "age": {"type": "number", "nullable": False, "max": 120},
        "city": {"type": str, "values": ["a", "b"]},
        "income": float,
        "score": "int",
    }
    with pytest.raises(nbtrack.DataExpectationError) as info:
        nbtrack.expect(df.assign(score=[0.5, 0.6, 0.7]), schema, name="train_df", allow_extra_columns=False)
    message = str(info.value)
    assert message.startswith("train_df does not meet its expectation (6 problems):")
    for part in (
        "column 'age' has 1 missing value, expected none",
        "column 'age' has 1 value above 120",
        "column 'city' has 1 value outside the allowed ones: 'zz'",
        "column 'income' is missing (expected float)",
        "column 'score' has type float64, expected int",
        "unexpected column: 'extra'",
    ):
        assert part in message
    assert len(info.value.problems) == 6


def test_expect_schema_from_a_reference_run(store_dir):
    ref = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    with nbtrack.track(environment=False) as run:
        nbtrack.log_data("train", ref)
    assert nbtrack.expect(ref.assign(c=1), reference=f"{run.id}:train") is not None
    with pytest.raises(nbtrack.DataExpectationError, match=r"column 'a' has type float64, expected int64"):
        nbtrack.expect(ref.astype({"a": float}), reference=f"{run.id}:train")
    with pytest.raises(nbtrack.DataExpectationError, match=r"column 'b' is missing \(expected string\)"):
        nbtrack.expect(ref.drop(columns="b"), reference=nbtrack.fingerprint(ref))
