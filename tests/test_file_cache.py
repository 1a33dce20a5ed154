"""nbtrack.data.file_cache: file hashes are xxh3 of the bytes, cached in memory and on disk, with a progress bar."""

from __future__ import annotations

import os
import time

import pytest
import xxhash

import nbtrack
from nbtrack.data import file_cache
from nbtrack.data import fingerprint as fpmod


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_CACHE_DIR", str(tmp_path / "cache"))
    file_cache.clear_file_cache()
    fpmod._profile_cache.clear()
    yield
    file_cache.clear_file_cache()


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
    assert nbtrack.fingerprint(path).hash == first


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
