"""nbtrack.data.formats: file formats told apart by magic bytes, then by name."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack.data import file_cache, formats
from nbtrack.data import fingerprint as fpmod


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_CACHE_DIR", str(tmp_path / "cache"))
    file_cache.clear_file_cache()
    fpmod._profile_cache.clear()
    yield
    file_cache.clear_file_cache()


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
