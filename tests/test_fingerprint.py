"""Fingerprints: the documented canonical encoding, stability, exactness, equal content, files, profiles."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import xxhash

import nbtrack
from nbtrack.data import encoding, file_cache, formats, profiling
from nbtrack.data import fingerprint as fpmod
from nbtrack.data.fingerprint import Fingerprint, fingerprint_data

HEX = set("0123456789abcdef")


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


# the record ---------------------------------------------------------------------------------------


def test_record_shape_and_json():
    fp = nbtrack.fingerprint(mixed_frame())
    assert isinstance(fp, Fingerprint)
    assert len(fp.hash) == 32 and set(fp.hash) <= HEX
    assert fp.algorithm == "xxh3-128/nbtrack-2" and fp.kind == "dataframe" and fp.shape == [4, 8]
    assert [c["type"] for c in fp.columns] == [
        "float64",
        "int64",
        "string",
        "category[string]",
        "bool",
        "datetime",
        "int64",
        "object",
    ]
    assert fp["hash"] == fp.hash and dict(fp) == fp.to_dict() and fp.profile is None
    json.dumps(fp.to_dict(), allow_nan=False)
    with_profile = nbtrack.fingerprint(mixed_frame(), profile=True)
    assert with_profile.hash == fp.hash and with_profile.profile["rows"] == 4
    json.dumps(with_profile.to_dict(), allow_nan=False)
    assert "dataframe 4x8" in repr(fp)


def test_function_is_not_shadowed_by_its_module():
    import nbtrack.data.fingerprint as module

    assert nbtrack.fingerprint is module.fingerprint
    assert nbtrack.fingerprint(np.arange(3)).hash == module.fingerprint(np.arange(3)).hash


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


def test_stable_across_processes_and_hash_seeds(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n1,x\n2,y\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "one.txt").write_text("one")
    script = (
        "import sys, json, numpy as np, pandas as pd, nbtrack\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_fingerprint import mixed_frame\n"
        "df = mixed_frame()\n"
        "objs = [df, df['s'], df.index, np.arange(12.0).reshape(3, 4), np.array(['a', 'bb']),\n"
        "        sys.argv[2] + '/data.csv', sys.argv[2] + '/dir']\n"
        "print(json.dumps([nbtrack.fingerprint(o).hash for o in objs]"
        " + [nbtrack.fingerprint(df, order_insensitive=True).hash]))\n"
    )
    df = mixed_frame()
    here = [
        h(o)
        for o in (
            df,
            df["s"],
            df.index,
            np.arange(12.0).reshape(3, 4),
            np.array(["a", "bb"]),
            str(tmp_path / "data.csv"),
            str(tmp_path / "dir"),
        )
    ]
    here.append(h(df, order_insensitive=True))
    tests_dir = os.path.dirname(__file__)
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "NBTRACK_CACHE_DIR": str(tmp_path / f"cache{seed}")}
        out = subprocess.run(
            [sys.executable, "-c", script, tests_dir, str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        assert json.loads(out.stdout) == here
    assert len(set(here)) == len(here)


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


def test_without_pyarrow_strings_hash_alike(monkeypatch):
    df = pd.DataFrame({"s": pd.Series(["a", None, "ccc", "é", "\ud800x"], dtype=object)})
    with_arrow = h(df.iloc[:4])
    monkeypatch.setattr(encoding, "optional_pyarrow", lambda: None)
    assert h(df.iloc[:4]) == with_arrow
    assert len(h(df)) == 32  # a lone surrogate still hashes (as surrogatepass UTF-8)


# files and directories ----------------------------------------------------------------------------


def _age(path, seconds=60):
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_file_hash_is_xxh3_of_the_bytes_and_cached(tmp_path, monkeypatch):
    path = tmp_path / "data.bin"
    data = os.urandom(300_000)
    path.write_bytes(data)
    _age(path)
    reads = []
    real = file_cache._read_hash
    monkeypatch.setattr(file_cache, "_read_hash", lambda *a, **k: reads.append(a[0]) or real(*a, **k))
    fp = nbtrack.fingerprint(path)
    assert fp.hash == xxhash.xxh3_128(data).hexdigest() and fp.kind == "file" and fp["size"] == len(data)
    assert nbtrack.fingerprint(str(path)).hash == fp.hash
    assert len(reads) == 1  # the second call was a cache hit
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, new mtime
    _age(path, 30)
    assert nbtrack.fingerprint(path).hash != fp.hash and len(reads) == 2
    path.write_bytes(data)
    assert nbtrack.fingerprint(path).hash == fp.hash and len(reads) == 3
    assert nbtrack.fingerprint(path).hash == fp.hash and len(reads) == 4  # just written: not cached (racy)


def test_large_file_cache_survives_the_process(tmp_path, monkeypatch):
    monkeypatch.setattr(file_cache, "PERSIST_MIN_SIZE", 1000)
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(5000))
    _age(path)
    first = nbtrack.fingerprint(path).hash
    file_cache.clear_file_cache()
    monkeypatch.setattr(file_cache, "_read_hash", lambda *a, **k: pytest.fail("rehashed despite the disk cache"))
    start = time.perf_counter()
    assert nbtrack.fingerprint(path).hash == first
    assert time.perf_counter() - start < 0.5


def test_progress_bar_past_the_delay(tmp_path, monkeypatch, capsys):
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(3 * 1024 * 1024))
    monkeypatch.setattr(file_cache, "FILE_CHUNK", 1024 * 1024)
    monkeypatch.setattr(file_cache, "PROGRESS_AFTER", 0.0)
    nbtrack.fingerprint(path)
    err = capsys.readouterr().err
    assert "nbtrack: hashing data.bin" in err and "100%" in err and err.endswith("\n")
    monkeypatch.setattr(file_cache, "PROGRESS_AFTER", 2.0)
    file_cache.clear_file_cache()
    nbtrack.fingerprint(path)
    assert capsys.readouterr().err == ""


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


def test_detect_format(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    df = pd.DataFrame({"a": [1, 2], "s": ["x", "y"]})
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_csv(tmp_path / "t.data", index=False)
    df.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    df.to_parquet(tmp_path / "t.parquet")
    df.to_parquet(tmp_path / "t.bin")
    np.save(tmp_path / "t.npy", np.zeros((2, 3)))
    (tmp_path / "t.json").write_text('{"a": 1}')
    (tmp_path / "t.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
    with gzip.open(tmp_path / "t.csv.gz", "wt") as f:
        f.write("a,b\n1,2\n")
    (tmp_path / "blob").write_bytes(bytes(range(256)) * 4)
    expected = {
        "t.csv": ("csv", None),
        "t.data": ("csv", None),
        "t.tsv": ("tsv", None),
        "t.parquet": ("parquet", None),
        "t.bin": ("parquet", None),
        "t.npy": ("npy", None),
        "t.json": ("json", None),
        "t.jsonl": ("jsonl", None),
        "t.csv.gz": ("csv", "gzip"),
        "blob": ("binary", None),
    }
    for name, want in expected.items():
        assert formats.detect_format(tmp_path / name) == want, name
    assert nbtrack.fingerprint(tmp_path / "t.csv.gz").to_dict()["compression"] == "gzip"
    assert pq is not None


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


# runs -----------------------------------------------------------------------------------------------


def test_log_data_records_hash_and_profile(store_dir, tmp_path):
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    (tmp_path / "in.csv").write_text("a\n1\n")
    with nbtrack.track(name="t", environment=False) as run:
        result = nbtrack.log_data("train", df)
        nbtrack.log_data("raw", tmp_path / "in.csv")
    assert result.hash == fingerprint_data(df)["hash"]
    got = nbtrack.get_run(run.id)
    assert got.data["train"]["profile"]["columns"][0]["mean"] == 2.0
    assert got.data["raw"]["profile"]["schema"]["columns"] == [{"name": "a", "type": "int64"}]
    assert nbtrack.runs().loc[0, "data.train"] == result.hash
    with pytest.raises(nbtrack.NoActiveRunError):
        nbtrack.log_data("x", df)


def test_set_fingerprinter_is_used_and_restored(store_dir):
    fpmod.set_fingerprinter(lambda obj: {"hash": "0" * 32, "kind": "custom"})
    try:
        assert nbtrack.fingerprint(np.arange(3), profile=True).hash == "0" * 32
        with nbtrack.track(environment=False) as run:
            nbtrack.log_data("x", np.arange(3))
        assert nbtrack.get_run(run.id).data["x"]["kind"] == "custom"
    finally:
        fpmod.set_fingerprinter(None)
    assert nbtrack.fingerprint(np.arange(3)).kind == "ndarray"


def test_summary_line_names_what_changed(ip, capsys):
    rng = np.random.default_rng(0)
    ip.user_ns["df"] = pd.DataFrame({"a": rng.normal(size=500), "b": rng.integers(0, 3, 500)})
    body = "%%track -n fit\ntotal = df.sum().sum()\n"
    ip.run_cell(body)
    capsys.readouterr()
    ip.user_ns["df"] = ip.user_ns["df"].assign(a=lambda d: d["a"] + 0.8).drop(columns="b")
    ip.run_cell(body)
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("nbtrack "))
    assert "data changed df (-b, a mean +0.8 sd)" in line
    run = nbtrack.get_run(nbtrack.runs().loc[0, "run_id"])
    assert run.doc["data_notes"] == {"df": "-b, a mean +0.8 sd"}
    assert run.data["df"]["profile"]["rows"] == 500
