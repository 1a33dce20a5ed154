"""Bring a stored run document written by an earlier nbtrack up to the current record schema.

Each step takes a document of one schema version and returns one of the next, keeping every key it does
not know about, so a store written by any release opens with nothing lost. Records carry their version in
``schema``; release 0.1.0 wrote ``"format": 1`` (or nothing at all, in records pulled from MLflow by early
builds), which is schema 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

SCHEMA = 2  # the version ``Run.to_doc`` writes


def schema_of(doc: Mapping[str, Any]) -> int:
    """The schema version a stored document was written with."""
    version = doc.get("schema")
    if isinstance(version, int) and not isinstance(version, bool):
        return version
    version = doc.get("format", 1)
    return version if isinstance(version, int) and not isinstance(version, bool) else 1


def _from_1(doc: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 (0.1.0) kept the same keys under a ``format`` version: only the version key changes."""
    doc.pop("format", None)
    doc["schema"] = 2
    return doc


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _from_1}


def migrate(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``doc`` in the current schema (documents from a newer nbtrack are returned as they are)."""
    out = dict(doc)
    version = schema_of(out)
    while version < SCHEMA:
        out = MIGRATIONS[version](out)
        version += 1
    return out
