"""The journal's line format and the torn tail a crash leaves (see journal.py).

A line is ``<crc32 of the payload, 8 hex digits> <payload JSON>\\n``. Entries are built as
``{"op", "t", "id", ...}``, so their first bytes are a fixed prefix that readers match without decoding.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import zlib
from pathlib import Path
from typing import Any

from nbtrack.store import files

FORMAT = 1


def header_line(epoch: str) -> bytes:
    """A journal's first line: its format and its epoch (a random id, new at each compaction or repair)."""
    return encode_line({"op": "header", "format": FORMAT, "epoch": epoch})


def encode_line(payload: dict[str, Any]) -> bytes:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(body), body)


# The fixed prefix encode_line gives entries built as {"op", "t", "id", ...}: keys are plain text.
PREFIX = re.compile(rb'^\{"op":"(put|del)","t":"([A-Za-z0-9_]+)","id":"([0-9a-z]+)"')


TOMB = b',"tomb":true}'


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
