"""The journal's line format and the torn tail a crash leaves (see journal.py).

A line is ``<crc32 of the payload, 8 hex digits> <payload JSON>\\n``. Entries are built as
``{"op", "t", "id", ...}``, so their first bytes are a fixed prefix that readers match without decoding.

Format 2 (this version) adds blob lines, ``{"op": "blob", "id": <hash>, "ts": <time>, "s": <text>}`` (or
``"b": <base64>`` for bytes that are not UTF-8 text): a small content file a run wrote, carried in the
journal so that the run's one fsync makes it durable with the record that refers to it (see packs.py).
Compaction also writes the live documents of a large store as chunk lines,
``{"op": "chunk", "n": <count>, "z": <base64 of zlib of CHUNK_DOCS ordinary lines>}``: run records repeat
their keys and environment, so a chunk is ~5-10x smaller than its lines, and each inner line keeps its own
checksum. A store of fewer than CHUNK_DOCS documents keeps plain lines. Format 1 journals (no blob or
chunk lines) read unchanged; a format 1 reader reports these lines as unknown.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import warnings
import zlib
from pathlib import Path
from typing import Any

from nbtrack.errors import StoreCorruptionWarning
from nbtrack.store import files

FORMAT = 2
BLOB_PREFIX = b'{"op":"blob","id":"'
CHUNK_PREFIX = b'{"op":"chunk"'
CHUNK_DOCS = 256
_HEX = frozenset(b"0123456789abcdef")


def header_line(epoch: str) -> bytes:
    """A journal's first line: its format and its epoch (a random id, new at each compaction or repair)."""
    return encode_line({"op": "header", "format": FORMAT, "epoch": epoch})


def encode_line(payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(body), body)


# The fixed prefix encode_line gives entries built as {"op", "t", "id", ...}: keys are plain text.
PREFIX = re.compile(rb'^\{"op":"(put|del)","t":"([A-Za-z0-9_]+)","id":"([0-9a-z]+)"')


TOMB = b',"tomb":true}'


def blob_entry(digest: str, data: bytes, ts: float) -> dict[str, Any]:
    """The journal entry carrying a small blob: its text when it is UTF-8 (JSON escapes it cheaply), else base64."""
    entry: dict[str, Any] = {"op": "blob", "id": digest, "ts": ts}
    try:
        entry["s"] = data.decode("utf-8")
    except UnicodeDecodeError:
        entry["b"] = base64.b64encode(data).decode("ascii")
    return entry


def chunked(lines: list[bytes]) -> bytes:
    """Encoded lines as compaction writes them: full runs of CHUNK_DOCS lines as chunk lines, the rest plain."""
    whole = len(lines) - len(lines) % CHUNK_DOCS
    out = []
    for start in range(0, whole, CHUNK_DOCS):
        packed = zlib.compress(b"".join(lines[start : start + CHUNK_DOCS]))
        out.append(encode_line({"op": "chunk", "n": CHUNK_DOCS, "z": base64.b64encode(packed).decode("ascii")}))
    return b"".join(out + lines[whole:])


def chunk_lines(body: bytes) -> list[bytes] | None:
    """The lines a (checked) chunk payload holds, without their newlines; None when it does not decode."""
    try:
        payload = json.loads(body)
        raw = zlib.decompress(base64.b64decode(payload["z"], validate=True))
    except (ValueError, KeyError, TypeError, zlib.error):
        return None
    return raw.split(b"\n")[:-1]


def expand(line: bytes) -> list[bytes]:
    """``line``, or the lines inside it when it is a whole chunk line (for readers outside the journal)."""
    if line[9:22] == CHUNK_PREFIX:
        body = checked_body(line)
        inner = chunk_lines(body) if body is not None else None
        if inner is not None:
            return inner
    return [line]


def blob_of(body: bytes) -> str | None:
    """The hash a blob line's (checked) payload carries, read from its fixed prefix; None for other lines."""
    if not body.startswith(BLOB_PREFIX) or len(body) < 52 or body[51:52] != b'"':
        return None
    digest = body[19:51]
    return digest.decode() if _HEX.issuperset(digest) else None


def blob_bytes(payload: dict[str, Any]) -> bytes:
    """The bytes a decoded blob entry carries."""
    text = payload.get("s")
    if isinstance(text, str):
        return text.encode("utf-8")
    return base64.b64decode(payload["b"], validate=True)


def checked_body(line: bytes) -> bytes | None:
    """The payload bytes of a line whose checksum (8 lowercase hex digits, as written) is right, else None."""
    if len(line) < 10 or line[8:9] != b" ":
        return None
    body = line[9:]
    if line[:8] != b"%08x" % zlib.crc32(body):
        return None
    return body


def decode_line(line: bytes) -> dict[str, Any] | None:
    """The payload of one complete line, or None when it is damaged."""
    body = checked_body(line)
    if body is None:
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def named_run(line: bytes) -> str:
    """`` (run <id>)`` when a damaged line still shows whose it is."""
    found = PREFIX.match(line[9:]) if len(line) > 9 else None
    return f" (run {found.group(3).decode()})" if found is not None else ""


def read_all(fd: int, size: int) -> bytes:
    parts = []
    while size > 0:
        part = os.read(fd, size)
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def read_file(path: Path, most: int | None = None) -> bytes | None:
    """A store file's bytes (its first ``most`` only, if given), never through a symlink; None when there is
    none or it cannot be read (the checkpoint and the saved runs table are caches: missing is harmless)."""
    try:
        fd = files.open_regular(path)
    except OSError:
        return None
    try:
        return read_all(fd, os.fstat(fd).st_size if most is None else most)
    except OSError:
        return None
    finally:
        os.close(fd)


def cut_torn_tail(fd: int, size: int, path: Path) -> int:
    """Drop a last line left without its newline by a writer that died mid-write; returns the size.

    The bytes cut off are appended to ``<journal>.torn`` rather than thrown away (or to a new
    ``.torn-<random>`` file if that name holds a link or another user's file: never written through).
    """
    if os.pread(fd, 1, size - 1) == b"\n":
        return size
    start = max(0, size - (1 << 20))
    while True:
        block = os.pread(fd, size - start, start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            new_size = start + cut + 1
            break
        if start == 0:
            new_size = 0
            break
        start = max(0, start - (1 << 20))
    torn = os.pread(fd, size - new_size, new_size) + b"\n"
    keep_path = path.with_name(path.name + ".torn")
    try:
        keep = files.open_regular(keep_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600, own=True)
        try:
            files.write_all(keep, torn)
        finally:
            os.close(keep)
    except FileNotFoundError:
        pass
    except OSError:
        with contextlib.suppress(OSError):
            files.create_unique(keep_path.with_name(f"{keep_path.name}-{os.getpid()}"), torn)
    os.ftruncate(fd, new_size)
    return new_size


def warn_problems(path: Path, problems: list[str], losses: list[str], warned: set[str]) -> None:
    """One warning for the damaged lines and one for the lost data not warned about yet (``warned`` grows)."""
    new = [p for p in problems if p not in warned]
    if new:
        warned.update(new)
        warnings.warn(
            f"nbtrack skipped {len(new)} damaged line(s) in {path} ({new[0]}); all other runs were read. "
            f"Run `nbtrack doctor --repair` to set the damaged lines aside.",
            StoreCorruptionWarning,
            stacklevel=5,
        )
    lost = [p for p in losses if p not in warned]
    if lost:
        warned.update(lost)
        warnings.warn(
            f"nbtrack: {lost[0]}; every run still in the file was read. Run `nbtrack doctor` to see which "
            f"runs are affected and `nbtrack doctor --repair` to restore what the last good copy "
            f"({path.name}.prev) holds.",
            StoreCorruptionWarning,
            stacklevel=5,
        )


def last_entry_since(path: Path, since: tuple[int, int, int], table: str, key: str) -> tuple[bool, bytes | None]:
    """The checked payload of the last line about document ``key`` that was appended after byte ``since[2]`` of
    file ``since[:2]`` (dev, inode): ``(True, body)``, ``(True, None)`` when there is none. ``(False, None)``
    when that cannot tell (another file is in place since: compaction or repair; or chunk lines are there).

    Only the appended bytes are read and only the matching line is looked at (no JSON decoding): what a
    writer pays to learn what others did to its running run, however large the store (see local.py).
    """
    try:
        fd, st = files.open_regular_stat(path)
    except OSError:
        return False, None
    try:
        if (st.st_dev, st.st_ino) != since[:2] or st.st_size < since[2]:
            return False, None
        os.lseek(fd, since[2], os.SEEK_SET)
        tail = read_all(fd, st.st_size - since[2])
    finally:
        os.close(fd)
    if CHUNK_PREFIX in tail:  # only compaction writes them (a new file): never here, but then read everything
        return False, None
    needle = b'"t":"%s","id":"%s"' % (table.encode(), key.encode())  # JSON escapes quotes inside strings
    pos = tail.rfind(needle)
    while pos >= 0:
        start = tail.rfind(b"\n", 0, pos) + 1
        end = tail.find(b"\n", pos)
        body = checked_body(tail[start:end]) if end >= 0 else None  # no newline: a torn tail, not written
        found = PREFIX.match(body) if body is not None else None
        if body is not None and found is not None and found.group(2, 3) == (table.encode(), key.encode()):
            return True, body
        pos = tail.rfind(needle, 0, start) if start else -1
    return True, None
