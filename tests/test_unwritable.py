"""Reproduction 8 of issue 18 (capture side): a read-only, permission-denied or full store never breaks a cell.

Tests run as root, which can write any folder, so real permissions cannot stand in: :class:`StoreFaults`
makes the system calls the store uses (``os.open`` for writing, ``os.mkdir``, ``os.replace``, ``os.write``,
``os.fsync``) fail under the store's folder exactly as a read-only folder (EACCES, EROFS) or a full disk
or quota (ENOSPC, EDQUOT) makes them fail. It is independent of how the store writes its files: calls
relative to an open directory (``dir_fd=``, as the blob store makes them) are resolved like the kernel does.
"""

from __future__ import annotations

import errno
import os
import sys
import warnings
from pathlib import Path

import pytest

import nbtrack
from nbtrack import NbtrackWarning
from nbtrack.store import files
from nbtrack.store.local import Store

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
SPACE = (errno.ENOSPC, errno.EDQUOT)
BLOBS = ("objects", "runs.jsonl")  # a run's small blobs are lines of runs.jsonl (packed later), large ones files
BLOB_LINE = b'{"op":"blob"'


class StoreFaults:
    """Writes under ``root`` (only to the entries named in ``parts``) fail with ``code`` while ``armed``."""

    def __init__(
        self,
        root: str | Path,
        code: int,
        parts: tuple[str, ...] = ("runs.jsonl", "lock", "objects"),
        only: bytes | None = None,
    ):
        self.root = os.path.abspath(root)
        self.code = code
        self.parts = parts
        self.only = only  # fail only the writes holding these bytes (e.g. the journal lines carrying blobs)
        self.armed = True
        self.failures = 0
        self._fds: set[int] = set()
        self._real = {name: getattr(os, name) for name in ("open", "mkdir", "replace", "rename", "write", "fsync")}

    @staticmethod
    def _full(path: object, dir_fd: int | None = None) -> str | None:
        """The absolute path a call names; relative to ``dir_fd`` when one is given (Linux: via /proc)."""
        try:
            text = os.fsdecode(os.fspath(path))  # type: ignore[arg-type]
        except TypeError:
            return None
        if dir_fd is not None and not os.path.isabs(text):
            text = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), text)
        return os.path.abspath(text)

    def _hit(self, path: object, dir_fd: int | None = None) -> bool:
        full = self._full(path, dir_fd)
        if full is None or not self.armed:
            return False
        for root in {self.root, os.path.realpath(self.root)}:
            if full.startswith(root + os.sep):
                first = full[len(root) + 1 :].split(os.sep)[0]
                return any(part in first for part in self.parts)
        return False

    def _fail(self, path: object = None) -> OSError:
        self.failures += 1
        return OSError(self.code, os.strerror(self.code), None if path is None else os.fspath(path))  # type: ignore[arg-type]

    def install(self) -> StoreFaults:
        real = self._real
        space = self.code in SPACE

        def open_(path, flags, *args, **kwargs):
            hit = self._hit(path, kwargs.get("dir_fd"))
            if not space and self.only is None and flags & WRITE_FLAGS and hit:
                raise self._fail(path)
            fd = real["open"](path, flags, *args, **kwargs)
            if (space or self.only is not None) and hit:
                self._fds.add(fd)
            return fd

        def mkdir(path, *args, **kwargs):
            dir_fd = kwargs.get("dir_fd")
            if self._hit(path, dir_fd) and not os.path.exists(self._full(path, dir_fd) or path):
                raise self._fail(path)
            return real["mkdir"](path, *args, **kwargs)

        def moved(src, dst, kwargs) -> bool:
            return self._hit(src, kwargs.get("src_dir_fd")) or self._hit(dst, kwargs.get("dst_dir_fd"))

        def replace(src, dst, *args, **kwargs):
            if not space and moved(src, dst, kwargs):
                raise self._fail(dst)
            return real["replace"](src, dst, *args, **kwargs)

        def rename(src, dst, *args, **kwargs):
            if not space and moved(src, dst, kwargs):
                raise self._fail(dst)
            return real["rename"](src, dst, *args, **kwargs)

        def write(fd, data):
            if self.armed and fd in self._fds and (self.only is None or self.only in bytes(data)):
                raise self._fail()
            return real["write"](fd, data)

        def fsync(fd):
            if self.armed and fd in self._fds and self.only is None:
                raise self._fail()
            return real["fsync"](fd)

        for name, fake in (("open", open_), ("mkdir", mkdir), ("replace", replace), ("rename", rename)):
            setattr(os, name, fake)
        os.write, os.fsync = write, fsync
        return self

    def remove(self) -> None:
        for name, fn in self._real.items():
            setattr(os, name, fn)

    def __enter__(self) -> StoreFaults:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.remove()


def nbtrack_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, NbtrackWarning)]


@pytest.fixture
def existing_store(store_dir):
    """A store that already holds one run (so its folders exist, as on a shared read-only mount)."""
    with nbtrack.track(name="before"):
        pass
    return store_dir


# track(): from the start, mid-run, and a store that comes back ------------------------------------------------


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS, errno.ENOSPC, errno.EDQUOT])
def test_an_unwritable_store_from_the_start_keeps_the_run_in_memory(existing_store, code):
    before = set(Store(existing_store).run_docs())
    ran = []
    with StoreFaults(existing_store, code), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with nbtrack.track(name="blocked", params={"lr": 0.1}) as run:
            nbtrack.log_metric("loss", 0.5, step=1)  # the run is active although nothing could be written
            nbtrack.log_metric("loss", 0.25, step=2)
            ran.append(sum(range(10)))
    assert ran == [45]
    (message,) = nbtrack_warnings(caught)  # exactly one warning, at the end
    assert f"run {run.id} could not be saved to {existing_store}" in message
    assert os.strerror(code) in message and "nothing of it is in the store" in message
    assert "params, metrics and tags were kept in memory" in message and "Your code ran normally" in message
    assert ("free some disk space" if code in SPACE else "set NBTRACK_DIR to a writable folder") in message
    assert run.params == {"lr": 0.1} and run.metrics == {"loss": 0.25} and not run.saved
    assert set(Store(existing_store).run_docs()) == before


def test_a_store_writable_again_by_the_end_loses_nothing_and_says_nothing(existing_store):
    faults = StoreFaults(existing_store, errno.ENOSPC).install()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with nbtrack.track(name="retried") as run:
                nbtrack.log_metric("acc", 0.9, step=3)
                faults.armed = False  # space was freed while the run ran
    finally:
        faults.remove()
    assert faults.failures and nbtrack_warnings(caught) == []
    got = nbtrack.get_run(run.id)
    assert got.status == "finished" and got.metrics == {"acc": 0.9} and list(got.series.step) == [3]
    assert got.code is not None  # the script's code blob, retried too


def test_a_store_full_mid_run_keeps_the_start_record_and_says_so(existing_store):
    faults = StoreFaults(existing_store, errno.ENOSPC)
    faults.armed = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with faults, nbtrack.track(name="midway") as run:
            nbtrack.log_metric("acc", 0.9)
            faults.armed = True
    (message,) = nbtrack_warnings(caught)
    assert "could not be saved" in message and "only its start record (status running)" in message
    assert "No space left on device" in message
    assert Store(existing_store).get_doc(run.id)["status"] == "running"


def test_only_the_series_blob_failing_saves_the_record_without_it(existing_store):
    faults = StoreFaults(existing_store, errno.EACCES, parts=BLOBS, only=BLOB_LINE)
    faults.armed = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with faults, nbtrack.track(name="no series", environment=False) as run:
            nbtrack.log_metric("acc", 0.9)
            faults.armed = True
    (message,) = nbtrack_warnings(caught)
    assert message.startswith(f"nbtrack: run {run.id} was saved to {existing_store}, but the metric series could")
    got = nbtrack.get_run(run.id)
    assert got.status == "finished" and got.metrics == {"acc": 0.9} and got.series_blob is None


def test_enospc_from_write_all_and_edquot_from_fsync_each_give_one_warning(existing_store, monkeypatch):
    def no_space(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    real_fsync = os.fsync

    def over_quota(fd):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    for target, name, fake in ((files, "write_all", no_space), (os, "fsync", over_quota)):
        original = getattr(target, name)
        monkeypatch.setattr(target, name, fake)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with nbtrack.track(name=name):
                nbtrack.log_metric("m", 1.0)
        monkeypatch.setattr(target, name, original)
        assert len(nbtrack_warnings(caught)) == 1, nbtrack_warnings(caught)
    assert os.fsync is real_fsync


# %%track in this process: the history blob when the cell starts --------------------------------------------


def test_a_tracked_cell_in_a_read_only_store_completes_and_logs(ip, existing_store):
    with StoreFaults(existing_store, errno.EACCES), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ip.run_cell("%%track -q\nimport nbtrack\nz = 41 + 1\nnbtrack.log_metric('z', z)\n")
    assert result.success and ip.user_ns["z"] == 42  # log_metric found the run: no NoActiveRunError
    (message,) = nbtrack_warnings(caught)
    assert "could not be saved" in message and "the notebook history" in message and "Your cell ran normally" in message


def test_a_history_blob_that_fails_when_the_cell_starts_is_written_when_it_ends(ip, existing_store):
    faults = StoreFaults(existing_store, errno.ENOSPC, parts=BLOBS, only=BLOB_LINE)
    ip.user_ns["faults"] = faults
    with faults, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ip.run_cell(
            "%%track -q\nimport nbtrack\nnbtrack.log_metric('m', 2.0)\nfaults.armed = False\n", store_history=True
        )
    assert result.success and faults.failures and nbtrack_warnings(caught) == []
    run = nbtrack.get_run(max(Store(existing_store).run_docs()))
    assert run.metrics == {"m": 2.0} and run.history[-1].startswith("%%track -q")


def test_only_blobs_failing_in_a_cell_keeps_the_record_and_names_each_blob(ip, existing_store):
    with (
        StoreFaults(existing_store, errno.EACCES, parts=BLOBS, only=BLOB_LINE),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        result = ip.run_cell("%%track -q\nimport nbtrack\nnbtrack.log_metric('z', 3.0)\n")
    assert result.success
    (message,) = nbtrack_warnings(caught)
    assert "was saved to" in message and "the notebook history" in message and "the metric series" in message
    assert "could not be saved (PermissionError: Permission denied [EACCES])" in message
    assert "kept without them" in message and "Your cell ran normally" in message
    run = nbtrack.get_run(max(Store(existing_store).run_docs()))
    assert run.status == "finished" and run.metrics == {"z": 3.0}  # the record, without the blobs' references
    assert run.history_blob is None and run.series_blob is None


def test_a_run_deleted_while_it_ran_warns_once_in_the_stores_words(existing_store):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with nbtrack.track(name="gone") as run:
            nbtrack.delete_run(run.id)
            nbtrack.log_metric("m", 1.0)
    assert nbtrack_warnings(caught) == [
        f"nbtrack: run {run.id} was deleted while it ran; its final record was not saved"
    ]
    assert run.id not in Store(existing_store).run_docs()


# %%track in a real kernel -----------------------------------------------------------------------------------


@pytest.mark.kernel
def test_a_tracked_cell_in_a_kernel_with_an_unwritable_store(tmp_path):
    pytest.importorskip("ipykernel")
    import kernel_helpers as k

    tests = str(Path(__file__).parent)
    cells = [
        k.code("%load_ext nbtrack\nimport nbtrack"),
        k.code("%%track -q\nx = 1"),  # the store exists, as a shared one would
        k.code(
            f"import errno, sys\nsys.path.insert(0, {tests!r})\nfrom test_unwritable import StoreFaults\n"
            "faults = StoreFaults(nbtrack.get_store().root, errno.EACCES).install()"
        ),
        k.code("%%track --name blocked\nlr = 0.5\nnbtrack.log_metric('acc', 0.75)\nprint('cell body ran')"),
        k.code("faults.remove()"),
        k.code("%%track --name fine\nnbtrack.log_metric('acc', 0.8)"),
    ]
    session = k.new_session(tmp_path, cells)
    try:
        nb = session.execute_all()
        blocked = nb.cells[3]
        assert not k.outputs(blocked, "error")
        assert "cell body ran" in k.stream_text(blocked)
        warned = k.stream_text(blocked, "stderr")
        assert warned.count("could not be saved") == 1 and "PermissionError" in warned, warned
        assert "Your cell ran normally" in warned
        names = [run.name for run in session.all_runs()]
        assert names == [None, "fine"]
        assert session.run_named("fine")[0].metrics == {"acc": 0.8}
    finally:
        session.close()


def test_the_injector_fails_like_a_read_only_folder(tmp_path):
    """The fault model itself: writes fail, reads do not, and everything is restored."""
    (tmp_path / "objects").mkdir()
    (tmp_path / "runs.jsonl").write_bytes(b"x")
    with StoreFaults(tmp_path, errno.EACCES):
        with pytest.raises(PermissionError):
            os.open(tmp_path / "runs.jsonl", os.O_WRONLY | os.O_APPEND)
        with pytest.raises(PermissionError):
            (tmp_path / "objects" / "ab").mkdir()
        objects = os.open(tmp_path / "objects", os.O_RDONLY)  # calls relative to an open folder fail too
        try:
            with pytest.raises(PermissionError):
                os.mkdir("cd", dir_fd=objects)
            with pytest.raises(PermissionError):
                os.open("new", os.O_WRONLY | os.O_CREAT, dir_fd=objects)
        finally:
            os.close(objects)
        assert (tmp_path / "runs.jsonl").read_bytes() == b"x"
    assert os.open.__module__ == "posix" or sys.platform != "linux"
