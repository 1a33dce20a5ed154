"""Pack files: many small blobs in one file, so a store of 10,000 runs is not 10,000 files.

A run's small blobs (its series, history, package list, cell sources) are first written as lines of the
journal (lines.py, "blob" lines), in the append that the run's one fsync makes durable. Compaction moves
them here before it drops them from the journal: it writes ``objects/packs/pack-<random>.pack``, fsyncs
it and renames it into place, and only then replaces the journal, so a blob is always in the old journal,
in a pack, or both (a crash in between leaves a duplicate, never a loss). Large blobs (models, data
files) stay one file each under ``objects/ab/...`` (blobs.py).

A pack is immutable::

    b"nbtrack-pack 1\\n" <blob bytes, back to back> <index JSON> <trailer>

where the index is ``{hash: [offset, length, time written]}`` and the trailer is 26 bytes,
``<index offset, 16 hex> <crc32 of the index, 8 hex>\\n``. Every blob read is checked against its hash.
``nbtrack gc`` rewrites packs without the blobs no run refers to (the old pack is removed after the new
one is in place). Packs are opened relative to the open ``objects/packs`` folder without following links.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import stat
import zlib
from collections.abc import Iterable
from pathlib import Path

from nbtrack.store import files
from nbtrack.store.lines import blob_bytes, decode_line

__all__ = ["MAGIC", "PackSet", "digest_of", "move_to_pack", "read_line_blob"]

MAGIC = b"nbtrack-pack 1\n"
_TRAILER = 26
_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
Entry = tuple[str, int, int, float]  # pack name, offset, length, time the blob was written


def digest_of(data: bytes) -> str:
    """A blob's name: the BLAKE2b-128 hash of its bytes (as blobs.py names loose blobs)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class PackSet:
    """The packs in ``objects/packs`` and their indexes (read once per pack, when first needed)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)  # objects/packs
        self._index: dict[str, Entry] = {}
        self._packs: dict[str, tuple[int, int, list[str]]] = {}  # name -> (inode, size, its hashes)
        self.problems: list[str] = []  # packs whose index cannot be read (for `nbtrack doctor`)

    def _open_dir(self) -> int | None:
        try:
            objects = os.open(self.root.parent, _DIR)
        except OSError:
            return None
        try:
            return os.open(self.root.name, _DIR, dir_fd=objects)
        except OSError:
            return None
        finally:
            os.close(objects)

    def refresh(self) -> None:
        """Read the indexes of packs new since last time; forget the packs that are gone (``nbtrack gc``)."""
        folder = self._open_dir()
        seen: dict[str, tuple[int, int]] = {}
        if folder is not None:
            try:
                for name in os.listdir(folder):
                    if name.startswith("pack-") and name.endswith(".pack"):
                        with contextlib.suppress(OSError):
                            st = os.stat(name, dir_fd=folder, follow_symlinks=False)
                            if stat.S_ISREG(st.st_mode):
                                seen[name] = (st.st_ino, st.st_size)
                for name, identity in seen.items():
                    known = self._packs.get(name)
                    if known is None or known[:2] != identity:
                        self._forget(name)
                        self._load(folder, name, identity)
            finally:
                os.close(folder)
        for name in [n for n in self._packs if n not in seen]:
            self._forget(name)

    def _forget(self, name: str) -> None:
        known = self._packs.pop(name, None)
        for digest in known[2] if known else ():
            if self._index.get(digest, ("",))[0] == name:
                del self._index[digest]

    def _load(self, folder: int, name: str, identity: tuple[int, int]) -> None:
        try:
            fd = os.open(name, os.O_RDONLY | files.NOFOLLOW, dir_fd=folder)
        except OSError:
            return
        try:
            size = os.fstat(fd).st_size
            trailer = os.pread(fd, _TRAILER, size - _TRAILER) if size >= len(MAGIC) + _TRAILER else b""
            at, crc = int(trailer[:16], 16), trailer[17:25]
            raw = os.pread(fd, size - _TRAILER - at, at)
            if os.pread(fd, len(MAGIC), 0) != MAGIC or b"%08x" % zlib.crc32(raw) != crc:
                raise ValueError("bad index checksum")
            index = json.loads(raw)
        except (OSError, ValueError, IndexError):
            self.problems.append(f"{self.root / name}: not a readable nbtrack pack (its blobs are not read)")
            return
        finally:
            os.close(fd)
        for digest, (offset, length, written) in index.items():
            self._index.setdefault(digest, (name, int(offset), int(length), float(written)))
        self._packs[name] = (*identity, list(index))

    def entries(self) -> dict[str, Entry]:
        """Every packed blob: ``{hash: (pack, offset, length, time written)}``, current as of now."""
        self.refresh()
        return dict(self._index)

    def names(self) -> list[str]:
        self.refresh()
        return sorted(self._packs)

    def has(self, digest: str) -> bool:
        """True when a pack holds the blob, as of now (packs written or removed since are seen)."""
        self.refresh()
        return digest in self._index

    def get(self, digest: str) -> bytes | None:
        """The blob's bytes if a pack holds it (checked against its hash), else None."""
        for attempt in range(2):
            if digest not in self._index or attempt:
                self.refresh()
            entry = self._index.get(digest)
            if entry is None:
                return None
            folder = self._open_dir()
            if folder is None:
                continue
            try:
                fd = os.open(entry[0], os.O_RDONLY | files.NOFOLLOW, dir_fd=folder)
                try:
                    if not stat.S_ISREG(os.fstat(fd).st_mode):
                        return None
                    data = os.pread(fd, entry[2], entry[1])
                finally:
                    os.close(fd)
            except FileNotFoundError:
                continue  # removed by gc between the listing and the read: look again
            finally:
                os.close(folder)
            return data if digest_of(data) == digest else None
        return None

    def write(self, blobs: Iterable[tuple[str, bytes, float]]) -> str | None:
        """Write a new pack of ``(hash, bytes, time written)`` durably; returns its name (None: nothing to write)."""
        body = [MAGIC]
        index: dict[str, list[float | int]] = {}
        at = len(MAGIC)
        for digest, data, written in blobs:
            if digest in index:
                continue
            index[digest] = [at, len(data), written]
            body.append(data)
            at += len(data)
        if not index:
            return None
        raw = json.dumps(index, separators=(",", ":")).encode()
        body += [raw, b"%016x %08x\n" % (at, zlib.crc32(raw))]
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.root, 0o755)
        name = f"pack-{secrets.token_hex(8)}.pack"
        folder = self._open_dir()
        if folder is None:
            raise FileNotFoundError(2, "the packs folder cannot be opened", str(self.root))
        try:
            files.replace_at(folder, name, b"".join(body))  # fsynced, renamed into place, folder fsynced
        finally:
            os.close(folder)
        return name

    def remove(self, name: str) -> None:
        """Delete one pack (``nbtrack gc``, after a pack holding what is kept of it is in place)."""
        folder = self._open_dir()
        if folder is None:
            return
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=folder)
            with contextlib.suppress(OSError):
                files.fsync(folder)
        finally:
            os.close(folder)
        self._forget(name)

    def size(self, name: str) -> int:
        return sum(entry[2] for entry in self._index.values() if entry[0] == name)


def move_to_pack(journal: Path, inline: dict[str, tuple[int, int]], packs: PackSet | None) -> bytes:
    """Write the blobs of the journal's blob lines (``inline``: hash -> offset, length) that no pack holds
    yet into a new pack, durably; without packs, return the lines for the compacted journal to carry."""
    fd = files.open_regular(journal)
    try:
        raw = [os.pread(fd, length, at) for at, length in inline.values()]
    finally:
        os.close(fd)
    if packs is None:
        return b"".join(line + b"\n" for line in raw)
    moved, packed = [], packs.entries()
    for line in raw:
        payload = decode_line(line)
        if payload is not None and payload.get("op") == "blob" and payload["id"] not in packed:
            moved.append((payload["id"], blob_bytes(payload), float(payload.get("ts") or 0)))
    packs.write(moved)
    return b""


def read_line_blob(
    journal: Path, identity: tuple[int, int] | None, found: tuple[int, int], digest: str
) -> bytes | None:
    """The blob a journal line at ``found`` (offset, length) carries, if the journal is still the file
    ``identity`` and the line is that blob's; else None."""
    try:
        fd, st = files.open_regular_stat(journal)
    except OSError:
        return None
    try:
        line = os.pread(fd, found[1], found[0]) if (st.st_dev, st.st_ino) == identity else b""
    finally:
        os.close(fd)
    payload = decode_line(line)
    if payload is None or payload.get("op") != "blob" or payload.get("id") != digest:
        return None
    data = blob_bytes(payload)
    return data if digest_of(data) == digest else None
