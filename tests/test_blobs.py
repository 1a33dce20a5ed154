"""Content-addressed blobs: named by their hash, written whole or not at all, never a path from a name."""

import pytest

from nbtrack.store.blobs import BlobStore
from nbtrack.store.local import Store


def test_blobs_are_content_addressed_and_checked(tmp_path):
    store = Store(tmp_path)
    h1 = store.put_blob(b"hello")
    assert store.put_blob(b"hello") == h1
    assert len(list((tmp_path / "objects").rglob("*"))) == 2  # one folder, one file
    assert store.get_blob(h1) == b"hello"
    with pytest.raises(ValueError):
        store.get_blob("../../../etc/passwd")


def test_blob_store_on_its_own(tmp_path):
    blobs = BlobStore(tmp_path / "objects")
    digest = blobs.put_json({"a": [1, 2]})
    assert blobs.has(digest) and not BlobStore(tmp_path / "objects").has(digest)  # has() is this process's memory
    assert BlobStore(tmp_path / "objects").get_json(digest) == {"a": [1, 2]}
    assert blobs.path(digest) == tmp_path / "objects" / digest[:2] / digest[2:]
    assert not list((tmp_path / "objects").rglob(".*.tmp"))  # the temporary file was renamed into place
    for bad in ("", "A" * 32, "0" * 31, "../" + "0" * 29):
        with pytest.raises(ValueError, match="not a blob hash"):
            blobs.path(bad)


def test_json_blobs_are_strict(tmp_path):
    with pytest.raises(ValueError):
        BlobStore(tmp_path).put_json(float("nan"))
