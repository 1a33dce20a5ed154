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


def test_a_missing_blob_names_the_file_and_the_runs_that_refer_to_it(tmp_path):
    from nbtrack import ids
    from nbtrack.errors import MissingBlobError

    store = Store(tmp_path)
    digest = store.put_json(["cell"])
    run_id = ids.new_run_id()
    store.put_run({"id": run_id, "history": digest})
    store.blobs.path(digest).unlink()
    with pytest.raises(MissingBlobError, match=rf"{digest[2:]} is missing \(run\(s\) {run_id} refer to it\)"):
        Store(tmp_path).get_json(digest)
    with pytest.raises(FileNotFoundError):  # what callers catching OSError expect
        Store(tmp_path).get_blob(digest)


@pytest.mark.parametrize("code", ["ENOSPC", "EDQUOT"])
def test_a_blob_that_cannot_be_written_leaves_nothing_and_says_so(tmp_path, monkeypatch, code):
    import errno
    import os

    from nbtrack.errors import StoreWriteError
    from nbtrack.store import files

    store = Store(tmp_path)
    store.put_blob(b"first")
    real = files.write_all

    def half_then_full(fd, data):
        real(fd, data[: len(data) // 2])
        raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)))

    monkeypatch.setattr(files, "write_all", half_then_full)
    with pytest.raises(
        StoreWriteError, match=r"could not save a content file \(10,000 bytes\).*nothing of it was kept"
    ):
        store.put_blob(b"x" * 10_000)
    monkeypatch.setattr(files, "write_all", real)
    assert sorted(p.name for p in (tmp_path / "objects").rglob("*") if p.is_file()) == [
        p.name for p in (tmp_path / "objects").rglob("*") if p.is_file() and not p.name.startswith(".")
    ]  # no temporary file left
    assert len([p for p in (tmp_path / "objects").rglob("*") if p.is_file()]) == 1


def test_a_link_planted_at_a_blob_name_is_replaced_not_followed(tmp_path):
    import hashlib
    import os

    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    blobs = BlobStore(tmp_path / "objects")
    digest = hashlib.blake2b(b"data", digest_size=16).hexdigest()
    blobs.path(digest).parent.mkdir(parents=True)
    os.symlink(victim, blobs.path(digest))
    assert blobs.put(b"data") == digest
    assert victim.read_bytes() == b"precious" and not blobs.path(digest).is_symlink()
    assert BlobStore(tmp_path / "objects").get(digest) == b"data"
