"""The checkpoint writer of the previous nbtrack version (format 1), kept to make stores as it left them.

Copied from nbtrack's store/checkpoint.py before format 2; tests use it to check that a store whose
``runs.ckpt`` is of format 1 still opens from it (store/checkpoint_v1.py reads it).
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import xxhash

MAGIC = b"nbtrack-checkpoint 1\n"


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
