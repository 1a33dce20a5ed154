"""An inter-process write lock for one store.

It is an ``flock`` on a lock file: the kernel drops it when its owner dies, even by SIGKILL, so a
crashed writer can never leave the store locked. The owner's pid and host are written at the start
of the file only to tell a waiting user who holds it; the journal keeps its committed mark at byte 512
(mark.py). Neither is ever written into a lock file that belongs to another user, and the file is
opened without following a symlink (files.py).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
import time
from pathlib import Path

from nbtrack.errors import NbtrackError, StoreBusyError, StoreWriteError
from nbtrack.store.files import open_regular

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


_thread_locks: dict[str, threading.RLock] = {}
_thread_locks_guard = threading.Lock()


def _thread_lock(path: Path) -> threading.RLock:
    key = str(path)
    with _thread_locks_guard:
        lock = _thread_locks.get(key)
        if lock is None:
            lock = _thread_locks[key] = threading.RLock()
        return lock


class FileLock:
    """Exclusive lock, re-entrant within a thread, shared by threads and processes alike."""

    def __init__(self, path: Path, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._local = threading.local()

    @property
    def held(self) -> bool:
        """True when this thread holds the lock."""
        return getattr(self._local, "depth", 0) > 0

    @property
    def own_fd(self) -> int | None:
        """The lock file, open for writing, while this thread holds it and the file is this user's; else None.

        The journal keeps its committed mark in it (mark.py); nbtrack never writes into another user's file.
        """
        return getattr(self._local, "fd", None) if self.held and getattr(self._local, "own", False) else None

    def __enter__(self) -> FileLock:
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            return self
        thread_lock = _thread_lock(self.path)
        if not thread_lock.acquire(timeout=self.timeout):
            raise StoreBusyError(f"another thread held the nbtrack store lock {self.path} for {self.timeout:.0f} s")
        try:
            self._local.fd = self._acquire_file()
        except (NbtrackError, OSError) as exc:
            thread_lock.release()
            if isinstance(exc, NbtrackError):
                raise
            raise StoreWriteError(
                exc.errno, f"nbtrack could not lock {self.path} ({exc.strerror or exc}); nothing was written"
            ) from exc
        except BaseException:
            thread_lock.release()
            raise
        self._local.depth = 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._local.depth -= 1
        if self._local.depth:
            return
        fd = self._local.fd
        self._local.fd = None
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
            _thread_lock(self.path).release()

    def _acquire_file(self) -> int:
        # Never through a symlink or into a FIFO someone planted at the name (see files.py).
        fd = open_regular(self.path, os.O_RDWR | os.O_CREAT)
        if fcntl is None:  # pragma: no cover - Windows: threads only
            return fd
        deadline = time.monotonic() + self.timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(fd)
                    raise
            if time.monotonic() > deadline:
                holder = _read_holder(fd)
                os.close(fd)
                raise StoreBusyError(
                    f"the nbtrack store lock {self.path} was held by {holder} for over {self.timeout:.0f} s"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.001)  # wake within 1 ms of the release, not after a long nap
        self._local.own = not hasattr(os, "geteuid") or os.fstat(fd).st_uid == os.geteuid()
        if self._local.own:  # never into another user's file; the note is informative only; fixed width
            with contextlib.suppress(OSError):
                os.pwrite(fd, _holder_note(), 0)
        return fd


_note: bytes | None = None


def _holder_note() -> bytes:
    global _note
    pid = os.getpid()
    if _note is None or not _note.startswith(f"{pid} ".encode()):
        _note = f"{pid} {socket.gethostname()}".encode()[:255].ljust(256) + b"\n"
    return _note


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return f"process {text}" if text else "another process"
