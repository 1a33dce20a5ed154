"""Fingerprints: the documented canonical encoding, stability, exactness, equal content, files, profiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack.data import file_cache
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
