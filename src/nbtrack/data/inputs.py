"""The two sides of a data check: whatever the user gives (a DataFrame, a fingerprint, a path, or
``"RUN_ID:name"`` for a recorded run's input) resolved to a fingerprint record with its profile, and the raw
data when it is at hand."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbtrack.data.fingerprint import Fingerprint, fingerprint


@dataclass
class Side:
    label: str
    record: dict[str, Any]
    frame: Any = None  # raw data, when given as a DataFrame

    @property
    def profile(self) -> dict[str, Any] | None:
        return self.record.get("profile")

    def schema(self) -> dict[str, str] | None:
        """{column name: logical type}, or None when unknown."""
        record = self.record
        columns = record.get("columns")
        if columns is None and record.get("kind") == "file":
            columns = ((self.profile or {}).get("schema") or {}).get("columns")
        if columns is None:
            return None
        schema: dict[str, str] = {}
        for column in columns:
            schema.setdefault(str(column.get("name")), column.get("type"))
        return schema

    def column_profiles(self) -> dict[str, dict[str, Any]]:
        profile = self.profile or {}
        rows = profile.get("rows")
        out: dict[str, dict[str, Any]] = {}
        for column in profile.get("columns") or []:
            entry = dict(column)
            if rows is not None:
                entry["_rows"] = rows
                entry["_nonnull"] = rows - int(column.get("nulls") or 0)
            out.setdefault(str(column.get("name")), entry)
        return out

    def raw(self, name: str) -> Any:
        if self.frame is None:
            return None
        for i, column in enumerate(self.frame.columns):
            if str(column) == name:
                return self.frame.iloc[:, i]
        return None


def run_input(text: str, store: Any) -> dict[str, Any]:
    from nbtrack.query.search import get_run

    run_id, _, name = text.partition(":")
    run = get_run(run_id.strip(), store=store)
    data = run.data or {}
    if not name:
        if len(data) != 1:
            raise KeyError(
                f"run {run.id} has {len(data)} data inputs ({', '.join(sorted(data)) or 'none'}): "
                f"name one as '{run.id}:NAME'"
            )
        name = next(iter(data))
    if name not in data:
        raise KeyError(f"run {run.id} has no data input {name!r}; it has: {', '.join(sorted(data)) or 'none'}")
    return dict(data[name])


def resolve_input(obj: Any, store: Any, what: str) -> Side:
    if isinstance(obj, Fingerprint):
        return Side(f"{what} fingerprint", obj.to_dict())
    if isinstance(obj, Mapping):
        if "hash" not in obj:
            raise ValueError(f"the {what} mapping is not a fingerprint record (no 'hash')")
        return Side(f"{what} fingerprint", dict(obj))
    module = type(obj).__module__
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(obj, (pd.DataFrame, pd.Series)):
            frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
            return Side(f"{what} DataFrame", fingerprint(obj, profile=True).to_dict(), frame)
    if module == "numpy":
        return Side(f"{what} array", fingerprint(obj, profile=True).to_dict())
    if isinstance(obj, os.PathLike) or (isinstance(obj, str) and Path(obj).expanduser().exists()):
        return Side(str(obj), fingerprint(obj, profile=True).to_dict())
    if isinstance(obj, str):
        return Side(obj, run_input(obj, store))
    raise TypeError(f"cannot check {type(obj).__name__}: give a DataFrame, a fingerprint, a path or 'RUN_ID:name'")
