"""nbtrack.data.hashing: table, array and directory hashes (names, types, order, index, row order)."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest
import xxhash

import nbtrack
from nbtrack.data import file_cache
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


# the documented encoding ----------------------------------------------------------------------------


def _text(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def test_names_types_order_and_index_count():
    df = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]})
    variants = {
        "base": df,
        "renamed": df.rename(columns={"a": "A"}),
        "int32": df.astype({"a": "int32"}),
        "float": df.astype({"a": "float64"}),
        "string": df.astype({"a": "str"}),
        "reordered": df[["b", "a"]],
        "rows swapped": df.iloc[[1, 0, 2]].reset_index(drop=True),
        "index": df.set_index(pd.Index([5, 6, 7])),
        "named index": df.rename_axis("row"),
        "int name": df.rename(columns={"a": 1}),
        "str digit name": df.rename(columns={"a": "1"}),
        "series": df["a"],
        "series renamed": df["a"].rename("z"),
    }
    hashes = {name: h(obj) for name, obj in variants.items()}
    assert len(set(hashes.values())) == len(hashes), hashes
    assert h(df.set_index(pd.Index([0, 1, 2]))) == hashes["base"]  # integers equal to the default index


def test_order_insensitive():
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {
            "x": rng.normal(size=50),
            "s": rng.choice(["a", "b", "c"], 50),
            "c": pd.Categorical(rng.choice(["u", "v"], 50)),
            "k": rng.integers(0, 3, 50),
        }
    )
    df.loc[3, "x"] = np.nan
    shuffled = df.sample(frac=1, random_state=0)
    base = h(df, order_insensitive=True)
    assert h(shuffled) != h(df)
    assert h(shuffled, order_insensitive=True) == base  # an unnamed index is ignored
    assert h(shuffled.reset_index(drop=True), order_insensitive=True) == base
    recat = shuffled.assign(c=shuffled["c"].cat.reorder_categories(["v", "u"]))
    assert h(recat, order_insensitive=True) == base
    assert h(df, order_insensitive=True) != h(df)
    changed = shuffled.copy()
    changed.iloc[7, 0] += 1
    assert h(changed, order_insensitive=True) != base
    named = df.rename_axis("id")
    assert h(named.sample(frac=1, random_state=2), order_insensitive=True) == h(named, order_insensitive=True)
    assert h(named, order_insensitive=True) != base
    arr = rng.normal(size=(20, 3))
    assert h(arr[::-1], order_insensitive=True) == h(arr, order_insensitive=True) != h(arr)


# equal content, different objects ----------------------------------------------------------------------


def test_equal_content_in_different_objects_hashes_equal():
    pa = pytest.importorskip("pyarrow")
    values = ["a", None, "ccc", "é", ""]
    frames = [
        pd.DataFrame({"s": pd.Series(values, dtype=object)}),
        pd.DataFrame({"s": pd.Series(values, dtype="str")}),
        pd.DataFrame({"s": pd.Series(values, dtype=pd.StringDtype("python"))}),
        pd.DataFrame({"s": pd.Series(values, dtype=pd.StringDtype("pyarrow"))}),
        pd.DataFrame(
            {
                "s": pd.Series(
                    pd.arrays.ArrowStringArray(
                        pa.chunked_array(
                            [pa.array(values[:2], type=pa.large_string()), pa.array(values[2:], type=pa.large_string())]
                        )
                    )
                )
            }
        ),
        pd.DataFrame({"s": pd.Series(values, dtype=pd.ArrowDtype(pa.string()))}),
    ]
    assert len({h(f) for f in frames}) == 1
    assert h(np.array(["a", "bb"])) == h(np.array(["a", "bb"], dtype=object))

    block = np.arange(12.0).reshape(4, 3)
    strided = pd.DataFrame(block, columns=list("abc"))  # columns are strided views of one block
    contiguous = pd.DataFrame({c: np.ascontiguousarray(block[:, i]) for i, c in enumerate("abc")})
    assert h(strided) == h(contiguous) == h(contiguous.copy())
    assert h(block[:, 1]) == h(np.ascontiguousarray(block[:, 1]))
    assert h(block.astype(">f8")) == h(block)

    assert h(pd.Series([1.0, float("nan")])) == h(pd.Series([1.0, np.float64(np.nan) * -1]))
    payload = np.array([0x7FF8000000000001], dtype="<u8").view("<f8")
    assert h(np.array([1.0, payload[0]])) == h(np.array([1.0, np.nan]))
    assert h(np.array([-0.0, 1.0], dtype="float32")) == h(np.array([0.0, 1.0], dtype="float32"))
    assert h(pd.Series([1.0, None], dtype="Float64")) == h(pd.Series([1.0, np.nan]))
    assert h(pd.Series([1, 2], dtype="Int64")) == h(pd.Series([1, 2], dtype="int64"))

    cat = pd.Series(pd.Categorical(["b", "a", None], categories=["a", "b"]))
    assert h(cat) == h(pd.Series(pd.Categorical(["b", "a", None], categories=["b", "a", "unused"])))
    assert h(cat) != h(cat.astype(object))

    for unit in ("s", "ms", "us"):
        stamps = pd.Series(np.array(["2020-01-01T00:00:01", "NaT"], dtype=f"M8[{unit}]"))
        assert h(stamps) == h(stamps.astype("M8[ns]"))
    tz = pd.Series(pd.date_range("2020-01-01", periods=3, freq="h", tz="Europe/Paris"))
    assert h(tz) == h(tz.dt.tz_convert("Europe/Paris").astype("datetime64[us, Europe/Paris]"))
    assert h(tz) != h(tz.dt.tz_convert("UTC"))


def test_directory_hash_is_built_from_file_hashes(tmp_path):
    root = tmp_path / "ds"
    (root / "sub").mkdir(parents=True)
    files = {"b.csv": b"x,y\n1,2\n", "a.txt": b"hello", "sub/c.bin": b"\x00\x01"}
    for rel, content in files.items():
        (root / rel).write_bytes(content)
    stream = b"nbtrack-dir-2" + struct.pack("<Q", 3)
    for rel in sorted(files):
        stream += _text(rel) + struct.pack("<Q", len(files[rel])) + xxhash.xxh3_128(files[rel]).digest()
    fp = nbtrack.fingerprint(root)
    assert fp.hash == xxhash.xxh3_128(stream).hexdigest()
    assert fp.kind == "directory" and fp["files"] == 3 and fp["size"] == sum(map(len, files.values()))
    (root / "a.txt").rename(root / "d.txt")
    assert nbtrack.fingerprint(root).hash != fp.hash
