"""Reading checkpoints of format 1 (nbtrack before the lazily decoded format 2 of checkpoint.py).

A store written by the previous version has a ``runs.ckpt`` of this format until its next compaction, which
writes format 2. Format 1 is one zlib-compressed JSON body: ``{"shared": [values], "tables": {table:
{"shapes": [[keys]], "rows": [[shape, id, *values]]}}, "refs": {table: [[row, key, shared index], ...]},
"tombstones": {table: [ids]}}``; every document is decoded at once.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson

MAGIC = b"nbtrack-checkpoint 1\n"


def load_body(body: memoryview) -> tuple[dict[str, dict[str, Any]], dict[str, set[str]]] | None:
    """The documents and tombstones of a format-1 body (its hash checked), None when it is not well formed."""
    try:
        payload = orjson.loads(zlib.decompress(body))
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
    return state, tombstones
