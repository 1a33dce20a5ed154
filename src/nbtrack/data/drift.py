"""What changed in a run's data since the previous run: one implementation for the summary line under a
tracked cell and for the sidebar's drift against the previous input.

:func:`data_change` takes the data records of two runs (``{name: fingerprint record}``) and says which inputs
changed, were added or removed, with a few words per changed input ("rows 100 -> 120, x mean +0.4 sd") and,
when asked, the findings of :func:`~nbtrack.data.checks.check_data` between the two versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nbtrack import format as fmt

MAX_NOTE_CHARS = 60


def describe_change(current: Mapping[str, Any], previous: Mapping[str, Any]) -> str:
    """A few words on what changed between two fingerprint records of one input ("" when unknown)."""
    if current.get("algorithm") != previous.get("algorithm"):
        return "fingerprint scheme changed"
    if current.get("kind") != previous.get("kind"):
        return f"{previous.get('kind')} -> {current.get('kind')}"
    parts: list[str] = []
    if current.get("kind") == "file":
        if current.get("format") != previous.get("format"):
            parts.append(f"format {previous.get('format')} -> {current.get('format')}")
        if current.get("size") != previous.get("size"):
            parts.append(f"size {_bytes(previous.get('size'))} -> {_bytes(current.get('size'))}")
    if current.get("kind") == "directory":
        parts += _directory_notes(current, previous)
    cols_c = {str(c.get("name")): c for c in current.get("columns") or []}
    cols_p = {str(c.get("name")): c for c in previous.get("columns") or []}
    parts += [f"-{name}" for name in cols_p if name not in cols_c]
    parts += [f"+{name}" for name in cols_c if name not in cols_p]
    parts += [
        f"{name} {cols_p[name].get('type')} -> {c.get('type')}"
        for name, c in cols_c.items()
        if name in cols_p and cols_p[name].get("type") != c.get("type")
    ]
    shape_c, shape_p = current.get("shape") or [], previous.get("shape") or []
    if shape_c[:1] != shape_p[:1] and shape_c and shape_p:
        parts.append(f"rows {shape_p[0]} -> {shape_c[0]}")
    parts += _stat_notes(current.get("profile") or {}, previous.get("profile") or {})
    if not parts:
        changed = [
            name
            for name, c in cols_c.items()
            if name in cols_p and c.get("hash") and c.get("hash") != cols_p[name].get("hash")
        ]
        if changed:
            more = f" +{len(changed) - 2}" if len(changed) > 2 else ""
            parts.append(f"values of {', '.join(changed[:2])}{more}")
        elif cols_c and cols_c.keys() == cols_p.keys():
            parts.append("order or index")
    text = ""
    for part in parts:
        candidate = f"{text}, {part}" if text else part
        if len(candidate) > MAX_NOTE_CHARS:
            if not text:
                text = part[: MAX_NOTE_CHARS - 3] + "..."
            break
        text = candidate
    return text


def _directory_notes(current: Mapping[str, Any], previous: Mapping[str, Any]) -> list[str]:
    """Files added (+), removed (-) and changed (~) among the listed entries of two directory records."""
    now = {e.get("path"): e.get("hash") for e in current.get("entries") or []}
    before = {e.get("path"): e.get("hash") for e in previous.get("entries") or []}
    notes = [f"+{path}" for path in now if path not in before]
    notes += [f"-{path}" for path in before if path not in now]
    notes += [f"~{path}" for path, digest in now.items() if path in before and before[path] != digest]
    if not notes and current.get("files") != previous.get("files"):
        notes.append(f"files {previous.get('files')} -> {current.get('files')}")
    return notes


def _bytes(size: Any) -> str:
    return fmt.size(size) if isinstance(size, int) else "?"


def _stat_notes(current: Mapping[str, Any], previous: Mapping[str, Any]) -> list[str]:
    """The largest mean shift (in reference std) and null-share change among the shared columns."""
    cols_c = {str(c.get("name")): c for c in current.get("columns") or []}
    best: tuple[float, str] | None = None
    nulls: tuple[float, str] | None = None
    rows_c, rows_p = current.get("rows"), previous.get("rows")
    for column in previous.get("columns") or []:
        name = str(column.get("name"))
        other = cols_c.get(name)
        if other is None or other.get("type") != column.get("type"):
            continue
        mean_p, mean_c, std_p = column.get("mean"), other.get("mean"), column.get("std")
        if None not in (mean_p, mean_c, std_p) and std_p > 0:
            shift = (mean_c - mean_p) / std_p
            if abs(shift) >= 0.1 and (best is None or abs(shift) > abs(best[0])):
                best = (shift, name)
        if rows_c and rows_p:
            delta = (other.get("nulls") or 0) / rows_c - (column.get("nulls") or 0) / rows_p
            if abs(delta) >= 0.01 and (nulls is None or abs(delta) > abs(nulls[0])):
                nulls = (delta, name)
    notes = []
    if best is not None:
        notes.append(f"{best[1]} mean {best[0]:+.1f} sd")
    if nulls is not None:
        notes.append(f"{nulls[1]} nulls {nulls[0]:+.0%}")
    return notes


def change_notes(current: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[str, str]:
    """{input name: what changed} for the inputs whose hash differs from the previous run's."""
    notes: dict[str, str] = {}
    if not previous:
        return notes
    for name, record in current.items():
        before = previous.get(name)
        if not isinstance(record, Mapping) or not isinstance(before, Mapping):
            continue
        if record.get("hash") == before.get("hash"):
            continue
        try:
            text = describe_change(record, before)
        except Exception:  # a note is a nicety: never let it break the summary
            text = ""
        if text:
            notes[name] = text
    return notes


@dataclass
class DataChange:
    """How a run's data differs from the previous run's.

    ``state`` is ``none`` (no inputs on either side), ``first`` (nothing to compare with), ``unchanged`` or
    ``changed``; ``notes`` says in a few words what changed per changed input; ``findings`` (when asked for)
    lists the data-check findings per changed input, as plain dicts."""

    state: str
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    findings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The record a run keeps as ``data_change``: state and the changed, added and removed inputs."""
        return {"state": self.state, "changed": self.changed, "added": self.added, "removed": self.removed}


def data_change(
    current: Mapping[str, Mapping[str, Any]],
    previous: Mapping[str, Mapping[str, Any]] | None,
    *,
    findings: bool = False,
) -> DataChange:
    """What changed between two runs' data records (``{name: fingerprint record}``, profiles inline for the
    notes); ``previous`` None when there is no previous run. With ``findings=True`` every changed input is
    also checked (:func:`~nbtrack.data.checks.check_data`, which raises what it raises)."""
    if previous is None:
        return DataChange("first" if current else "none")
    changed = sorted(k for k in current.keys() & previous.keys() if current[k].get("hash") != previous[k].get("hash"))
    added = sorted(current.keys() - previous.keys())
    removed = sorted(previous.keys() - current.keys())
    state = "none" if not current and not previous else "changed" if changed or added or removed else "unchanged"
    change = DataChange(state, changed, added, removed, change_notes(current, previous))
    if findings and changed:
        from nbtrack.data.checks import check_data

        for name in changed:
            report = check_data(dict(current[name]), dict(previous[name]))
            change.findings[name] = [
                {"severity": f.severity, "column": f.column, "statistic": f.statistic, "message": f.message}
                for f in report.findings
            ]
    return change
