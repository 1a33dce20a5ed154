"""``nbtrack doctor``: check a store's journal, blobs and references; with ``repair``, mend what can be mended.

Repair keeps every record whose line is intact: damaged lines are set aside in a
``runs.jsonl.damaged-<time>`` file (never deleted), and runs present in the last good copy
(``runs.jsonl.prev``, kept by each compaction) but missing from the journal, and not deleted since, are
restored from it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbtrack.store.files import replace_durably
from nbtrack.store.journal import RUNS_TABLE, decode_line, encode_line
from nbtrack.store.local import Store


@dataclass
class Report:
    ok: bool = True
    lines: list[str] = field(default_factory=list)
    runs_kept: int = 0
    runs_restored: int = 0


def _referenced_blobs(doc: dict[str, Any]) -> list[str]:
    refs = [doc.get("history"), doc.get("series"), doc.get("code_blob")]
    refs.append((doc.get("snapshot") or {}).get("blob"))
    refs.append((doc.get("env") or {}).get("packages"))
    refs.extend(r.get("profile_blob") for r in (doc.get("data") or {}).values() if isinstance(r, dict))
    return [r for r in refs if isinstance(r, str)]


def _scan(path: Path) -> tuple[list[bytes], list[int], bytes, dict[str, dict[str, Any]], set[str]]:
    """Lines, numbers of damaged lines, torn tail, live runs and deleted ids of one journal file."""
    raw = path.read_bytes() if path.exists() else b""
    lines = raw.split(b"\n")
    tail = lines.pop()
    damaged, live, deleted = [], {}, set()
    for number, line in enumerate(lines, 1):
        payload = decode_line(line)
        if payload is None:
            damaged.append(number)
            continue
        if payload.get("t") != RUNS_TABLE:
            continue
        if payload.get("op") == "put":
            live[payload["id"]] = payload["doc"]
            deleted.discard(payload["id"])
        elif payload.get("op") == "del":
            live.pop(payload["id"], None)
            deleted.add(payload["id"])
    return lines, damaged, tail, live, deleted


def check(store: Store, repair: bool = False) -> Report:
    report = Report()
    path = store.journal.path
    previous_path = path.with_name(path.name + ".prev")
    if not path.exists() and not previous_path.exists():
        report.lines.append(f"no store at {store.root} (nothing to check)")
        return report
    with store.lock:
        lines, damaged, tail, live, deleted = _scan(path)
        _, _, _, previous_live, _ = _scan(previous_path)
        missing = {k: v for k, v in previous_live.items() if k not in live and k not in deleted}
        if tail:
            report.lines.append(f"{path}: the last line is incomplete (a write was interrupted); it is ignored")
        for number in damaged:
            report.lines.append(f"{path}, line {number}: damaged (bad checksum or JSON)")
        if missing:
            report.lines.append(
                f"{len(missing)} run(s) in the last good copy {previous_path.name} are missing from {path.name}"
            )
        report.ok = not damaged and not missing
        if repair and (damaged or missing or tail):
            stamp = time.strftime("%Y%m%d-%H%M%S")
            if damaged or tail:
                aside = path.with_name(f"{path.name}.damaged-{stamp}")
                bad = [lines[n - 1] for n in damaged] + ([tail] if tail else [])
                aside.write_bytes(b"\n".join(bad) + b"\n")
                report.lines.append(f"set {len(bad)} damaged line(s) aside in {aside.name}")
            good = [line + b"\n" for n, line in enumerate(lines, 1) if n not in set(damaged)]
            good += [encode_line({"op": "put", "t": RUNS_TABLE, "id": k, "doc": v}) for k, v in missing.items()]
            if missing:
                report.lines.append(f"restored {len(missing)} run(s) from {previous_path.name}")
            replace_durably(path, b"".join(good))
            report.runs_restored = len(missing)
            report.ok = True
    docs = store.run_docs()
    report.runs_kept = len(docs)
    missing_blobs = 0
    for doc in docs.values():
        for ref in _referenced_blobs(doc):
            try:
                exists = store.blobs.path(ref).exists()
            except ValueError:
                exists = False
            if not exists:
                missing_blobs += 1
                report.lines.append(f"run {doc.get('id')}: content file {ref} is missing (the record itself is intact)")
    if missing_blobs:
        report.ok = False
    verdict = "OK" if report.ok else "problems found" + ("" if repair else "; run `nbtrack doctor --repair`")
    report.lines.append(f"{len(docs)} run(s) readable in {store.root}; {verdict}")
    return report
