"""nbtrack.data.encoding: the documented canonical column streams, and every value, type and name counting."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest
import xxhash

import nbtrack
from nbtrack.data import encoding, file_cache
from nbtrack.data import fingerprint as fpmod


def h(obj, **options):
    return nbtrack.fingerprint(obj, **options).hash


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_CACHE_DIR", str(tmp_path / "cache"))
    file_cache.clear_file_cache()
    fpmod._profile_cache.clear()
    yield
    file_cache.clear_file_cache()


def mixed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "f": [1.5, np.nan, -0.0, 2.25],
            "i": np.array([1, -2, 3, 4], dtype="int64"),
            "s": ["a", None, "ccc", "é"],
            "c": pd.Categorical(["x", "y", None, "x"]),
            "b": [True, False, True, True],
            "d": pd.to_datetime(["2020-01-01", None, "2021-06-30 12:00", "1999-12-31"], format="ISO8601"),
            "n": pd.array([1, None, 3, 4], dtype="Int64"),
            "o": [1, "a", None, 2.5],
        }
    )


# the documented encoding ----------------------------------------------------------------------------


def _text(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _column(ltype: str, n: int, nulls: bytes, values: bytes) -> bytes:
    return xxhash.xxh3_128(_text(ltype) + struct.pack("<Q", n) + nulls + values).digest()


def test_canonical_encoding_is_the_documented_one():
    """Rebuild the byte stream from the module docstring with struct + xxhash only."""
    df = pd.DataFrame({"x": [1.0, float("nan"), -0.0], "s": ["ab", None, "é"]}, index=pd.Index([10, 20, 30], name="k"))
    floats = struct.pack("<ddd", 1.0, float("nan"), 0.0)
    assert floats[8:16] == bytes.fromhex("000000000000f87f")
    lengths = struct.pack("<qqq", 2, 0, 2)
    mask = bytes([0b010])
    stream = b"nbtrack-table-2" + _text("dataframe") + struct.pack("<QQQ", 3, 2, 0)
    stream += b"\x01" + struct.pack("<Q", 1) + _text("s:k") + _text("int64")
    stream += _column("int64", 3, b"\x00", struct.pack("<qqq", 10, 20, 30))
    stream += _text("s:x") + _text("float64") + _column("float64", 3, b"\x00", floats)
    stream += _text("s:s") + _text("string") + _column("string", 3, b"\x01" + mask, lengths + "abé".encode())
    expected = xxhash.xxh3_128(stream).hexdigest()
    assert h(df) == expected
    assert h(df.astype({"s": object})) == expected
    assert expected == "419cf1004c8f91fe9fe3cbb76923861f"  # a known answer: the encoding must not drift

    arr = np.array([[1, 2], [3, 4]], dtype="int32")
    stream = b"nbtrack-array-2" + _text("int32") + struct.pack("<QQQ", 2, 2, 2) + b"\x00"
    stream += struct.pack("<iiii", 1, 2, 3, 4)
    assert h(arr) == xxhash.xxh3_128(stream).hexdigest()
    assert h(np.asfortranarray(arr)) == h(arr)


# exactness ------------------------------------------------------------------------------------------


def _changed(value):
    if isinstance(value, (bool, np.bool_)):
        return not value
    if isinstance(value, pd.Timestamp):
        return value + pd.Timedelta(microseconds=1)
    if isinstance(value, str):
        return value + "!"
    if isinstance(value, (int, np.integer)):
        return int(value) + 1
    if isinstance(value, (float, np.floating)):
        return 7.75 if value != value or value == 0 else float(value) * 3
    return "changed"


def test_every_single_value_change_changes_the_hash():
    base = mixed_frame()
    seen = {h(base)}
    for col in base.columns:
        for row in range(len(base)):
            df = base.copy()
            value = df.at[row, col]
            if col == "c":
                df[col] = df[col].cat.add_categories(["z"])
                df.at[row, col] = "z"
            elif value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
                df.at[row, col] = {"f": 9.5, "s": "new", "d": pd.Timestamp("2000-01-01"), "n": 7, "o": "x"}[col]
            else:
                df.at[row, col] = _changed(value)
            got = h(df)
            assert got not in seen, (col, row)
            seen.add(got)
            if col not in ("i", "b") and not pd.isna(value):  # int64/bool columns cannot hold a missing value
                missing = base.copy()
                missing.loc[row, col] = None
                got = h(missing)
                assert got not in seen, (col, row, "missing")
                seen.add(got)


def test_every_value_of_a_large_numeric_and_string_column_counts():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.standard_normal(300_000), "s": pd.Series(rng.integers(0, 1000, 300_000)).astype(str)})
    base = h(df)
    for position in (0, 12_345, 150_000, 299_999):  # beyond MLflow's first 10,000 rows too
        changed = df.copy()
        changed.loc[position, "x"] = np.nextafter(changed.loc[position, "x"], np.inf)
        assert h(changed) != base
        changed = df.copy()
        changed.loc[position, "s"] = changed.loc[position, "s"] + "x"
        assert h(changed) != base


def test_without_pyarrow_strings_hash_alike(monkeypatch):
    df = pd.DataFrame({"s": pd.Series(["a", None, "ccc", "é", "\ud800x"], dtype=object)})
    with_arrow = h(df.iloc[:4])
    monkeypatch.setattr(encoding, "optional_pyarrow", lambda: None)
    assert h(df.iloc[:4]) == with_arrow
    assert len(h(df)) == 32  # a lone surrogate still hashes (as surrogatepass UTF-8)
