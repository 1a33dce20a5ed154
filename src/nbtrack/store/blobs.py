"""Content-addressed blobs: notebook snapshots, histories, series, package lists, data profiles.

A blob is named by the BLAKE2b-128 hash of its bytes (``objects/ab/cdef...``) and written to a
temporary file, fsynced and renamed into place before any run record refers to it, so a record never
points at half a file. Writing the same bytes twice costs one hash and nothing on disk.

The ``objects/ab`` folders are opened without following symlinks and the blob is created and renamed
relative to that open folder, so a link planted in a shared store cannot send a blob elsewhere; a blob
is read only if it is a regular file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from nbtrack.errors import MissingBlobError, StoreWriteError
from nbtrack.store import files

_HASH_CHARS = frozenset("0123456789abcdef")
_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
GC_STAMP = "gc-stamp"  # rewritten by `nbtrack gc` after it deletes blobs (store/gc.py)


class BlobStore:
    """The ``objects/`` folder of one store."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._known: set[str] = set()  # hashes this process wrote or saw: no file system call to repeat them
        self._gc_stamp: tuple[int, int, int] | None = None

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its hash. :class:`StoreWriteError` when it cannot be saved (nothing is left)."""
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        self.forget_if_collected()
        if digest in self._known:
            return digest
        try:
            self._write(digest, data)
        except OSError as exc:
            raise StoreWriteError(
                exc.errno,
                f"nbtrack could not save a content file ({len(data):,} bytes) to {self.root} "
                f"({exc.strerror or exc}); nothing of it was kept",
            ) from exc
        self._known.add(digest)
        return digest

    def _write(self, digest: str, data: bytes) -> None:
        try:
            os.mkdir(self.root, 0o755)
        except FileExistsError:
            pass
        except FileNotFoundError:  # a BlobStore used on its own: make its parents too
            self.root.mkdir(parents=True, exist_ok=True)
        objects = os.open(self.root, _DIR)
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(digest[:2], 0o755, dir_fd=objects)
            folder = os.open(digest[:2], _DIR, dir_fd=objects)  # a symlink here fails: ELOOP / ENOTDIR
        finally:
            os.close(objects)
        try:
            try:
                st = os.stat(digest[2:], dir_fd=folder, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is None or not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
                files.replace_at(folder, digest[2:], data)  # replaces a link or a short file, never follows it
        finally:
            os.close(folder)

    def has(self, digest: str) -> bool:
        """True when this process wrote or saw the blob and no gc ran since (cheap: one ``stat``)."""
        self.forget_if_collected()
        return digest in self._known

    def remember(self, digest: str) -> None:
        """Note a blob this process stored elsewhere (in the journal): :meth:`has` is then true for it."""
        self.forget_if_collected()
        self._known.add(digest)

    def forget_if_collected(self) -> None:
        """Forget the hashes this process knows when ``nbtrack gc`` deleted blobs since it learnt them."""
        try:
            st = (self.root / GC_STAMP).stat()
            stamp: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp != self._gc_stamp:
            self._known.clear()
            self._gc_stamp = stamp

    def get(self, digest: str) -> bytes:
        """The blob's bytes; :class:`MissingBlobError` (a ``FileNotFoundError``) naming the file if it is gone."""
        path = self.path(digest)
        try:
            fd = files.open_regular(path)
        except FileNotFoundError as exc:
            raise MissingBlobError(errno.ENOENT, f"nbtrack content file {path} is missing", str(path)) from exc
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def exists(self, digest: str) -> bool:
        """True when the blob is a regular file in the store (one ``lstat``)."""
        try:
            return stat.S_ISREG(os.lstat(self.path(digest)).st_mode)
        except (OSError, ValueError):
            return False

    def put_json(self, obj: Any) -> str:
        return self.put(json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode())

    def get_json(self, digest: str) -> Any:
        return json.loads(self.get(digest))

    def path(self, digest: str) -> Path:
        """Where the blob lives; ValueError for anything that is not a hash (so names never become paths)."""
        if len(digest) != 32 or not _HASH_CHARS.issuperset(digest):
            raise ValueError(f"not a blob hash: {digest[:80]!r}")
        return self.root / digest[:2] / digest[2:]
