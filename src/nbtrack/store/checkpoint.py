"""The journal's checkpoint, ``runs.ckpt``: the live documents as of a compaction, quick to load.

A fresh process used to read and decode the whole journal (checksum, unzip and parse every chunk line)
before its first query. Compaction (compaction.py) now also writes, beside the journal, the documents
the compacted file holds, with repeated values (a run's environment, its owner: the same dict in thousands
of records) stored once. A fresh process loads it when it matches the journal and replays only the lines
appended after it. The documents stay compressed in blocks of :data:`BLOCK_ROWS` until one of them is read
(docs.py): opening a 100,000-run store to show one run, or to find a cell's previous run, decodes one block.

The journal stays the truth. The checkpoint records how many bytes of the journal it covers and a hash
(xxh3-128) of exactly those bytes; it is used only when the journal is at least that long and its first
``covers`` bytes hash the same, so a journal rewritten since (compaction or ``gc`` by another process,
``doctor --repair``, a copy edited by hand) is noticed however it was rewritten. A checkpoint that is
damaged, cut short, of another format or for another journal is ignored and the journal is read as before.
It holds no pickle and nothing executable: a shared store's checkpoint may come from another user.

Layout (format 2): ``nbtrack-checkpoint 2\\n``, one JSON header line ``{"covers", "lines", "journal", "body",
"hash", "meta", "codec"}`` (``journal``: the hash of the covered bytes; ``hash``: of the body, ``body`` bytes
long; ``codec``: ``json`` when the meta holds an integer orjson cannot read exactly), then the body: first
``meta`` bytes of zlib of ``{"shared": [values], "shapes": [[keys]], "tables": {table: {"ids": [ids],
"blocks": [[start, length, rows, codec]]}}, "cells": {cell_key: newest run id}, "tombstones": {table: [ids]}}``,
then the blocks, each zlib of a JSON array of rows ``[shape, [position, shared index, ...], *values]``
(``start``: from the end of meta). Format 1 (checkpoint_v1.py) is still read.
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import xxhash

from nbtrack.errors import StoreCorruptError
from nbtrack.store import checkpoint_v1, files
from nbtrack.store.docs import Block, Docs
from nbtrack.store.index import RunIndex
from nbtrack.store.lines import read_file

MAGIC = b"nbtrack-checkpoint 2\n"
SUFFIX = ".ckpt"
BLOCK_ROWS = 256  # records decoded together when one of them is read (~2 ms)
_HEADER_MAX = 4096
_RUNS = "runs"


def path_of(journal: Path) -> Path:
    """Where the checkpoint of ``journal`` lives (``runs.jsonl`` -> ``runs.ckpt``)."""
    return journal.with_suffix(SUFFIX)


def frame_path_of(journal: Path) -> Path:
    """Where the runs table of ``journal``'s checkpoint is saved (query/table_cache.py): removed with it."""
    return journal.with_suffix(".frame")


def current_hash(journal: Path) -> str | None:
    """The body hash of the checkpoint in place (its header only is read), None when there is none."""
    raw = read_file(path_of(journal), len(MAGIC) + _HEADER_MAX)
    found = header(raw) if raw is not None else None
    return found["hash"] if found is not None else None


def digest(data: bytes | memoryview) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def encode(state: dict[str, Any], tombstones: dict[str, list[str]], covered: bytes) -> bytes:
    """The checkpoint of ``covered`` (a whole journal file's bytes) whose live documents are ``state``."""
    last: dict[str, tuple[Any, str | None, int]] = {}  # field -> the value the previous document had, its text, index
    counts: list[int] = []
    first: list[Any] = []
    found: dict[str, list[list[tuple[int, int]] | None]] = {}  # per table, per document: (position, value index)
    for table, docs in state.items():
        marks = found[table] = []
        for doc in docs.values():
            mine = None
            if isinstance(doc, dict):
                for position, (field, value) in enumerate(doc.items()):
                    if isinstance(value, dict) and value:
                        at = _same_as_last(last, field, value)
                        if at < 0:
                            at = len(counts)
                            counts.append(0)
                            first.append(value)
                            last[field] = (value, None, at)
                        counts[at] += 1
                        mine = mine or []
                        mine.append((position, at))
            marks.append(mine)
    shared_at = {at: n for n, at in enumerate(at for at, count in enumerate(counts) if count > 1)}
    shapes: dict[tuple[str, ...], int] = {}
    tables: dict[str, dict[str, Any]] = {}
    blocks: list[bytes] = []
    offset = 0
    for table, docs in state.items():
        keys = list(docs.keys())
        spans: list[list[Any]] = []
        marks = found[table]
        for begin in range(0, len(keys), BLOCK_ROWS):
            rows = []
            for n in range(begin, min(begin + BLOCK_ROWS, len(keys))):
                doc = docs[keys[n]]
                if not isinstance(doc, dict):
                    rows.append([-1, [], doc])
                    continue
                shape = shapes.setdefault(tuple(doc), len(shapes))
                values = list(doc.values())
                refs: list[int] = []
                for position, at in marks[n] or ():
                    if at in shared_at:
                        values[position] = None
                        refs += (position, shared_at[at])
                rows.append([shape, refs, *values])
            text, codec = _rows_text(rows)
            packed = zlib.compress(text, 1)
            spans.append([offset, len(packed), len(rows), codec])
            blocks.append(packed)
            offset += len(packed)
        tables[table] = {"ids": keys, "blocks": spans}
    meta = {
        "shared": [first[at] for at in shared_at],
        "shapes": [list(shape) for shape in shapes],
        "tables": tables,
        "cells": _cells(state.get(_RUNS) or {}),
        "tombstones": tombstones,
    }
    meta_text, meta_codec = _rows_text(meta)  # one json.dumps of 100,000 ids held the GIL ~40 ms
    packed_meta = zlib.compress(meta_text, 1)
    body = packed_meta + b"".join(blocks)
    header = {
        "covers": len(covered),
        "lines": covered.count(b"\n"),
        "journal": digest(covered),
        "body": len(body),
        "hash": digest(body),
        "meta": len(packed_meta),
        "codec": meta_codec,
    }
    return MAGIC + json.dumps(header, separators=(",", ":")).encode() + b"\n" + body


def _rows_text(rows: Any) -> tuple[bytes, str]:
    """One block's rows (or the meta) as JSON; ``json`` for the rare one orjson cannot write (big ints)."""
    try:
        return orjson.dumps(rows), "orjson"
    except TypeError:
        return _text(rows), "json"


def _cells(docs: Any) -> dict[str, str]:
    """Each stored ``cell_key`` and the newest run recorded for it (what index.py keeps)."""
    cells: dict[str, str] = {}
    for run_id, doc in docs.items():
        cell = doc.get("cell_key") if isinstance(doc, dict) else None
        if isinstance(cell, str) and (cells.get(cell) or "") < run_id:
            cells[cell] = run_id
    return cells


_TEXT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


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


@dataclass
class Snapshot:
    """What a checkpoint that matches its journal holds."""

    covers: int  # bytes of the journal it stands for
    lines: int  # lines in those bytes
    state: dict[str, Any]  # table -> Docs (format 2: decoded when read) or a dict (format 1)
    tombstones: dict[str, set[str]]
    index: RunIndex  # of the runs table, as a replay of the covered lines builds it (index.py)


def header(raw: bytes) -> dict[str, Any] | None:
    magic = MAGIC if raw.startswith(MAGIC) else checkpoint_v1.MAGIC if raw.startswith(checkpoint_v1.MAGIC) else None
    if magic is None:
        return None
    end = raw.find(b"\n", len(magic), len(magic) + _HEADER_MAX)
    if end < 0:
        return None
    try:
        header = json.loads(raw[len(magic) : end])
    except ValueError:
        return None
    keys = ("covers", "lines", "body")
    if not isinstance(header, dict) or not all(type(header.get(k)) is int and header[k] >= 0 for k in keys):
        return None
    if not isinstance(header.get("journal"), str) or not isinstance(header.get("hash"), str):
        return None
    if magic == MAGIC and not (type(header.get("meta")) is int and 0 < header["meta"] <= header["body"]):
        return None
    header["start"], header["format"] = end + 1, 2 if magic == MAGIC else 1
    return header


def read_raw(journal: Path) -> bytes | None:
    """The checkpoint file's bytes (never through a symlink), None when there is none or it cannot be read."""
    return read_file(path_of(journal))


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
    body = memoryview(raw)[header["start"] :]
    if header["format"] == 1:
        old = checkpoint_v1.load_body(body)
        if old is None:
            return None
        index = RunIndex()
        for key, doc in old[0].get(_RUNS, {}).items():
            index.put(key, doc)
        return Snapshot(header["covers"], header["lines"], {t: Docs(d) for t, d in old[0].items()}, old[1], index)
    try:
        meta_text = zlib.decompress(body[: header["meta"]])
        meta = json.loads(meta_text) if header.get("codec") == "json" else orjson.loads(meta_text)
        shared, shapes = meta["shared"], [tuple(shape) for shape in meta["shapes"]]
        if not isinstance(shared, list) or not all(all(type(k) is str for k in shape) for shape in shapes):
            return None
        blocks = body[header["meta"] :]
        state = {
            str(table): _lazy(packed, blocks, shared, shapes, header["hash"])
            for table, packed in meta["tables"].items()
        }
        if any(docs is None for docs in state.values()):
            return None
        runs = state.get(_RUNS)
        ids = meta["tables"][_RUNS]["ids"] if runs is not None else []  # checked by _lazy: each a str, once
        index = RunIndex.restored(ids, meta["cells"], runs if runs is not None else ())
        tombstones = {str(table): {str(key) for key in keys} for table, keys in meta["tombstones"].items()}
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, zlib.error):
        return None  # well hashed but not well formed: ignored like any other bad checkpoint
    return Snapshot(header["covers"], header["lines"], state, tombstones, index)


def _lazy(packed: Any, blocks: memoryview, shared: list[Any], shapes: list[tuple[str, ...]], base: str) -> Docs | None:
    """One table's documents, each block decoded when first read; None when the block list does not add up."""
    keys, spans = packed["ids"], packed["blocks"]
    if not isinstance(keys, list) or (keys and set(map(type, keys)) != {str}):
        return None
    made, at = [], 0
    for start, length, rows, codec in spans:
        if not (type(start) is type(length) is type(rows) is int and rows > 0 and codec in ("orjson", "json")):
            return None
        if start < 0 or length <= 0 or start + length > len(blocks):
            return None
        data = blocks[start : start + length]
        made.append(Block(keys[at : at + rows], _decoder(data, rows, codec, shared, shapes)))
        at += rows
    docs = Docs.lazy(made, base)
    return docs if at == len(keys) == len(docs) else None  # len(docs): no id twice


def _decoder(
    data: memoryview, rows: int, codec: str, shared: list[Any], shapes: list[tuple[str, ...]]
) -> Callable[[], list[Any]]:
    def decode() -> list[Any]:
        try:
            text = zlib.decompress(data)
            found = orjson.loads(text) if codec == "orjson" else json.loads(text)
            docs = []
            for row in found:
                shape, refs = row[0], row[1]
                if shape < 0:
                    docs.append(row[2])
                    continue
                keys = shapes[shape]
                doc = dict(zip(keys, row[2:], strict=True))
                for n in range(0, len(refs), 2):
                    doc[keys[refs[n]]] = shared[refs[n + 1]]
                docs.append(doc)
        except (ValueError, KeyError, TypeError, IndexError, zlib.error) as exc:
            raise StoreCorruptError(_BAD_BLOCK) from exc
        if len(docs) != rows:
            raise StoreCorruptError(_BAD_BLOCK)
        return docs

    return decode


_BAD_BLOCK = (
    "a block of the store's checkpoint (runs.ckpt) cannot be decoded although its hash matched; delete runs.ckpt "
    "(the journal holds every record) and run `nbtrack doctor`"
)


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
    with contextlib.suppress(OSError):
        os.unlink(frame_path_of(journal))  # the runs table of the checkpoint it replaces
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
