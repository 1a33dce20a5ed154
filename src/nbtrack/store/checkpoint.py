"""The journal's checkpoint, ``runs.ckpt``: the live documents as of a compaction, quick to load.

A fresh process used to read and decode the whole journal (checksum, unzip and parse every chunk line)
before its first query. Compaction (compaction.py) now also writes, beside the journal, the documents
the compacted file holds, in one zlib-compressed JSON body whose repeated values (a run's environment,
its owner: the same dict in thousands of records) are stored once. A fresh process loads it when it
matches the journal and replays only the lines appended after it.

The journal stays the truth. The checkpoint records how many bytes of the journal it covers and a hash
(xxh3-128) of exactly those bytes; it is used only when the journal is at least that long and its first
``covers`` bytes hash the same, so a journal rewritten since (compaction or ``gc`` by another process,
``doctor --repair``, a copy edited by hand) is noticed however it was rewritten. A checkpoint that is
damaged, cut short, of another format or for another journal is ignored and the journal is read as before.
It holds no pickle and nothing executable: a shared store's checkpoint may come from another user.

Layout: ``nbtrack-checkpoint 1\\n``, one JSON header line ``{"covers", "lines", "journal", "body", "hash"}``
(``journal``: the hash of the covered bytes; ``hash``: of the body, ``body`` bytes long), then the body:
zlib of ``{"shared": [values], "tables": {table: {"shapes": [[keys]], "rows": [[shape, id, *values]]}},
"refs": {table: [[row, key, shared index], ...]}, "tombstones": {table: [ids]}}``. Documents that share a
value share one object, as nested values of the state are shared anyway (tinydb_table.py: read-only,
writes copy).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import xxhash

from nbtrack.store import files
from nbtrack.store.index import RunIndex
from nbtrack.store.lines import read_all

MAGIC = b"nbtrack-checkpoint 1\n"
SUFFIX = ".ckpt"
_HEADER_MAX = 4096


def path_of(journal: Path) -> Path:
    """Where the checkpoint of ``journal`` lives (``runs.jsonl`` -> ``runs.ckpt``)."""
    return journal.with_suffix(SUFFIX)


def digest(data: bytes | memoryview) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def encode(state: dict[str, dict[str, Any]], tombstones: dict[str, list[str]], covered: bytes) -> bytes:
    """The checkpoint of ``covered`` (a whole journal file's bytes) whose live documents are ``state``."""
    last: dict[str, tuple[Any, str | None, int]] = {}  # field -> the value the previous document had, its text, index
    counts: list[int] = []
    first: list[Any] = []
    tables: dict[str, list[list[Any]]] = {}
    refs: dict[str, list[list[Any]]] = {}
    for table, docs in state.items():
        rows = tables[table] = []
        found = refs[table] = []
        for row, (key, doc) in enumerate(docs.items()):
            if isinstance(doc, dict):
                out = dict(doc)
                for field, value in doc.items():
                    if isinstance(value, dict) and value:
                        at = _same_as_last(last, field, value)
                        if at < 0:
                            at = len(counts)
                            counts.append(0)
                            first.append(value)
                            last[field] = (value, None, at)
                        counts[at] += 1
                        found.append([row, field, at])
                        out[field] = None
                doc = out
            rows.append([key, doc])
    shared_at = {at: n for n, at in enumerate(at for at, count in enumerate(counts) if count > 1)}
    for table, found in refs.items():
        rows = tables[table]
        for ref in found:  # a value seen once goes back in its document
            row, field, at = ref
            if at not in shared_at:
                rows[row][1][field] = first[at]
        refs[table] = [[row, field, shared_at[at]] for row, field, at in found if at in shared_at]
        _release([found])
    shared = [first[at] for at in shared_at]
    packed = {table: _by_shape(rows) for table, rows in tables.items()}
    packer = zlib.compressobj(1)  # the body is compressed as it is encoded, slice by slice (see _pieces)
    body = b"".join([packer.compress(piece) for piece in _pieces(shared, packed, refs, tombstones)] + [packer.flush()])
    header = {
        "covers": len(covered),
        "lines": covered.count(b"\n"),
        "journal": digest(covered),
        "body": len(body),
        "hash": digest(body),
    }
    _release([*tables.values(), *(rows["rows"] for rows in packed.values()), *refs.values()])
    return MAGIC + json.dumps(header, separators=(",", ":")).encode() + b"\n" + body


def _release(lists: list[list[Any]]) -> None:
    """Empty ``lists`` a slice at a time: freeing ~a million small objects in one go held the GIL ~0.2 s."""
    for items in lists:
        while items:
            del items[-SLICE:]


_TEXT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
SLICE = 256  # rows encoded per call: one json.dumps of all of them held the GIL for seconds at 100,000 runs


def _pieces(shared: list[Any], packed: dict[str, Any], refs: dict[str, Any], tombstones: dict[str, Any]) -> Any:
    """The JSON text of ``{"shared", "tables", "refs", "tombstones"}`` (as one ``json.dumps`` writes it), as
    bytes in slices of :data:`SLICE` list items: a compacting thread lets the writing thread in between."""
    yield b'{"shared":'
    yield from _list(shared)
    yield b',"tables":{'
    for n, (table, rows) in enumerate(packed.items()):
        yield b"," * (n > 0) + _text(table) + b':{"shapes":' + _text(rows["shapes"]) + b',"rows":'
        yield from _list(rows["rows"])
        yield b"}"
    for name, parts in ((b'},"refs":{', refs), (b'},"tombstones":{', tombstones)):
        yield name
        for n, (table, items) in enumerate(parts.items()):
            yield b"," * (n > 0) + _text(table) + b":"
            yield from _list(items)
    yield b"}}"


def _list(items: list[Any]) -> Any:
    if not items:
        yield b"[]"
    for start in range(0, len(items), SLICE):
        yield b"," if start else b"["
        yield _text(items[start : start + SLICE])[1:-1]
    if items:
        yield b"]"


def _text(value: Any) -> bytes:
    return _TEXT(value).encode("utf-8")


def _same_as_last(last: dict[str, tuple[Any, str | None, int]], field: str, value: Any) -> int:
    """The index of the previous document's ``field`` value when ``value`` is the same JSON, else -1.

    Consecutive records share their environment and owner; ``==`` rules out most other values cheaply,
    and the JSON texts must then match too (``1 == 1.0`` and key order do not count as the same)."""
    seen = last.get(field)
    if seen is None:
        return -1
    previous, text, at = seen
    if value is previous:
        return at
    if value != previous:
        return -1
    if text is None:
        text = _TEXT(previous)
        last[field] = (previous, text, at)
    return at if _TEXT(value) == text else -1


def _by_shape(rows: list[list[Any]]) -> dict[str, Any]:
    """Rows as ``[shape, id, *values]`` with each key list (shape) once: lists parse ~2x faster than objects."""
    shapes: dict[tuple[str, ...], int] = {}
    out: list[list[Any]] = []
    for key, doc in rows:
        if isinstance(doc, dict):
            out.append([shapes.setdefault(tuple(doc), len(shapes)), key, *doc.values()])
        else:
            out.append([-1, key, doc])
    return {"shapes": [list(shape) for shape in shapes], "rows": out}


@dataclass
class Snapshot:
    """What a checkpoint that matches its journal holds."""

    covers: int  # bytes of the journal it stands for
    lines: int  # lines in those bytes
    state: dict[str, dict[str, Any]]
    tombstones: dict[str, set[str]]

    def index(self, table: str) -> RunIndex:
        """The index of ``table``'s documents (index.py), as a replay of the covered lines builds it."""
        index = RunIndex()
        for key, doc in self.state.get(table, {}).items():
            index.put(key, doc)
        return index


def header(raw: bytes) -> dict[str, Any] | None:
    if not raw.startswith(MAGIC):
        return None
    end = raw.find(b"\n", len(MAGIC), len(MAGIC) + _HEADER_MAX)
    if end < 0:
        return None
    try:
        header = json.loads(raw[len(MAGIC) : end])
    except ValueError:
        return None
    keys = ("covers", "lines", "body")
    if not isinstance(header, dict) or not all(type(header.get(k)) is int and header[k] >= 0 for k in keys):
        return None
    if not isinstance(header.get("journal"), str) or not isinstance(header.get("hash"), str):
        return None
    header["start"] = end + 1
    return header


def read_raw(journal: Path) -> bytes | None:
    """The checkpoint file's bytes (never through a symlink), None when there is none or it cannot be read."""
    try:
        fd = files.open_regular(path_of(journal))
    except OSError:
        return None
    try:
        return read_all(fd, os.fstat(fd).st_size)
    except OSError:
        return None
    finally:
        os.close(fd)


def check(raw: bytes, journal_fd: int, journal_size: int) -> tuple[dict[str, Any] | None, str]:
    """The header of checkpoint ``raw`` if it matches the open journal, else None; and why, in a few words."""
    found = header(raw)
    if found is None:
        return None, "not a checkpoint of this format"
    covers, start = found["covers"], found["start"]
    if covers == 0 or covers > journal_size:
        return None, "covers more than the journal holds (the journal was rewritten)"
    body = memoryview(raw)[start:]
    if len(body) != found["body"] or digest(body) != found["hash"]:
        return None, "damaged or cut short"
    try:
        covered = os.pread(journal_fd, covers, 0)
        while len(covered) < covers:
            more = os.pread(journal_fd, covers - len(covered), len(covered))
            if not more:
                break
            covered += more
    except OSError:
        return None, "the journal could not be read"
    if digest(covered) != found["journal"]:
        return None, "for another version of the journal (it was rewritten)"
    return found, f"matches the first {covers:,} bytes of the journal"


def load(journal: Path, journal_fd: int, journal_size: int) -> Snapshot | None:
    """The documents of ``journal``'s checkpoint when it matches the open journal file; None otherwise."""
    raw = read_raw(journal)
    if raw is None:
        return None
    header, _ = check(raw, journal_fd, journal_size)
    if header is None:
        return None
    collecting = gc.isenabled()
    gc.disable()  # ~100,000 new containers, none cyclic: collections during the parse would only rescan them
    try:
        payload = orjson.loads(zlib.decompress(memoryview(raw)[header["start"] :]))  # ~2.5x json.loads
        shared = payload["shared"]
        state: dict[str, dict[str, Any]] = {}
        for table, packed in payload["tables"].items():
            shapes = packed["shapes"]
            docs = state[table] = {}
            order: list[Any] = []
            for shape, key, *values in packed["rows"]:
                if not isinstance(key, str) or type(shape) is not int:
                    return None
                doc = dict(zip(shapes[shape], values, strict=True)) if shape >= 0 else values[0]
                docs[key] = doc
                order.append(doc)
            if len(docs) != len(order):
                return None
            for row, field, at in payload["refs"].get(table, ()):
                order[row][field] = shared[at]
        tombstones = {str(table): {str(key) for key in keys} for table, keys in payload["tombstones"].items()}
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, zlib.error):
        return None  # well hashed but not well formed: ignored like any other bad checkpoint
    finally:
        if collecting:
            gc.enable()
    return Snapshot(header["covers"], header["lines"], state, tombstones)


def describe(journal: Path) -> str | None:
    """One sentence on ``journal``'s checkpoint for ``nbtrack doctor``; None when there is none."""
    raw = read_raw(journal)
    if raw is None:
        return None
    name = path_of(journal).name
    try:
        fd, st = files.open_regular_stat(journal)
    except OSError:
        return f"{name}: there is no journal to match it; it is ignored (harmless)"
    try:
        header, why = check(raw, fd, st.st_size)
    finally:
        os.close(fd)
    if header is None:
        return f"{name}: {why}; ignored (harmless: the journal is read instead), rewritten at the next compaction"
    return f"{name}: {why}; a fresh process reads only the {st.st_size - header['covers']:,} bytes after it"


def write_temp(journal: Path, data: bytes) -> Path | None:
    """``data`` in a new fsynced temporary file beside the checkpoint; None when it cannot be written."""
    try:
        return files.write_temp(path_of(journal), data)
    except OSError:
        return None


def install(journal: Path, tmp: Path | None) -> None:
    """Put the checkpoint written to ``tmp`` in place (after its journal, under the lock), or remove a stale one."""
    target = path_of(journal)
    try:
        if tmp is not None:
            os.replace(tmp, target)
            return
        os.unlink(target)
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def discard(tmp: Path | None) -> None:
    if tmp is not None:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
