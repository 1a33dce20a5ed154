"""``nbtrack doctor``: check a store's journal and blobs; with ``repair``, set damaged lines aside."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from .journal import decode_line


@dataclass
class Report:
    ok: bool = True
    lines: list[str] = field(default_factory=list)


def _referenced_blobs(doc: dict[str, Any]) -> list[str]:
    refs = [doc.get("history"), doc.get("series")]
    refs.append((doc.get("snapshot") or {}).get("blob"))
    refs.append((doc.get("env") or {}).get("packages"))
    return [r for r in refs if isinstance(r, str)]


def check(store: Any, repair: bool = False) -> Report:
    report = Report()
    path = store.journal.path
    if not path.exists():
        report.lines.append(f"no store at {store.root} (nothing to check)")
        return report
    with store.lock:
        raw = path.read_bytes()
        lines = raw.split(b"\n")
        tail = lines.pop()  # after the last newline: empty, or a torn write
        damaged = [(n, line) for n, line in enumerate(lines, 1) if decode_line(line) is None]
        if tail:
            report.lines.append(f"{path}: last line was cut short by an interrupted write (ignored)")
        for n, _ in damaged:
            report.lines.append(f"{path}, line {n}: damaged")
        report.ok = not damaged
        if damaged and repair:
            aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            aside.write_bytes(b"\n".join(line for _, line in damaged) + b"\n")
            good = [line for line in lines if decode_line(line) is not None]
            tmp = path.with_name(f".{path.name}.repair.tmp")
            tmp.write_bytes(b"".join(line + b"\n" for line in good))
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
            report.lines.append(f"set {len(damaged)} damaged line(s) aside in {aside}")
    docs = store.run_docs()
    missing = 0
    for doc in docs.values():
        for ref in _referenced_blobs(doc):
            try:
                exists = store._blob_path(ref).exists()
            except ValueError:
                exists = False
            if not exists:
                missing += 1
                report.lines.append(f"run {doc.get('id')}: blob {ref} is missing")
    if missing:
        report.ok = False
    report.lines.append(f"{len(docs)} run(s) readable in {store.root}; {'OK' if report.ok else 'problems found'}")
    return report
