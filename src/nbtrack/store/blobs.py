"""Content-addressed blobs: notebook snapshots, histories, series, package lists, data profiles.

A blob is named by the BLAKE2b-128 hash of its bytes (``objects/ab/cdef...``) and written to a
temporary file, fsynced and renamed into place before any run record refers to it, so a record never
points at half a file. Writing the same bytes twice costs one hash and nothing on disk.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from nbtrack.store.files import replace_durably

_HASH_CHARS = frozenset("0123456789abcdef")
GC_STAMP = "gc-stamp"  # rewritten by `nbtrack gc` after it deletes blobs (store/gc.py)


class BlobStore:
    """The ``objects/`` folder of one store."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._known: set[str] = set()  # hashes this process wrote or saw: no file system call to repeat them
        self._gc_stamp: tuple[int, int, int] | None = None

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its hash."""
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        self.forget_if_collected()
        if digest in self._known:
            return digest
        path = self.path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            replace_durably(path, data)
        self._known.add(digest)
        return digest

    def has(self, digest: str) -> bool:
        """True when this process wrote or saw the blob and no gc ran since (cheap: one ``stat``)."""
        self.forget_if_collected()
        return digest in self._known

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
        return self.path(digest).read_bytes()

    def put_json(self, obj: Any) -> str:
        return self.put(json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode())

    def get_json(self, digest: str) -> Any:
        return json.loads(self.get(digest))

    def path(self, digest: str) -> Path:
        """Where the blob lives; ValueError for anything that is not a hash (so names never become paths)."""
        if len(digest) != 32 or not _HASH_CHARS.issuperset(digest):
            raise ValueError(f"not a blob hash: {digest[:80]!r}")
        return self.root / digest[:2] / digest[2:]
