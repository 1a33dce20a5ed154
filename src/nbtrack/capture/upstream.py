"""Upstream links: a run whose input file is an earlier run's output names that run in ``run.upstream``.

A file input (``-d clean.csv``, ``log_data("clean", "clean.csv")``, ``track(data=...)``) is fingerprinted
with the content hash :mod:`nbtrack.capture.outputs` gives output files, so matching the two is a hash
lookup: ``run.upstream[input name] = id`` of the latest earlier run that wrote a file with that content
(for a directory input, any of the files its record lists). That is the edge of a pipeline's stage graph
("train" reads what "prepare" wrote).

Files a run only read (``extra_files``, e.g. from an ``open`` audit) link the same way, keyed by path.
The lookup scans the store's records once and only when the run has file inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["file_inputs", "find_producers", "link_upstream"]


def file_inputs(data_records: Mapping[str, Any]) -> dict[str, set[str]]:
    """{input name: content hashes of its files} of the inputs that are files or directories."""
    found: dict[str, set[str]] = {}
    for name, record in data_records.items():
        if not isinstance(record, Mapping):
            continue
        if record.get("kind") == "file" and isinstance(record.get("hash"), str):
            found[name] = {record["hash"]}
        elif record.get("kind") == "directory":
            hashes = {e["hash"] for e in record.get("entries") or () if isinstance(e, Mapping) and e.get("hash")}
            if hashes:
                found[name] = hashes
    return found


def find_producers(docs: Mapping[str, Mapping[str, Any]], hashes: set[str], before: str) -> dict[str, str]:
    """{content hash: id of the latest run before ``before`` (ids sort by time) with an output of that hash}."""
    producers: dict[str, str] = {}
    for doc in docs.values():
        run_id = doc.get("id")
        outputs = doc.get("outputs")
        if not isinstance(run_id, str) or run_id >= before or not isinstance(outputs, Mapping):
            continue
        for record in outputs.values():
            digest = record.get("hash") if isinstance(record, Mapping) else None
            if digest in hashes and run_id > producers.get(digest, ""):
                producers[digest] = run_id
    return producers


def link_upstream(run: Any, extra_files: Mapping[str, str] | None = None) -> None:
    """Fill ``run.record.upstream`` (``run``: an ActiveRun) for its file inputs and ``extra_files``
    ({path: content hash}); nothing is read when there are neither."""
    wanted = {name: {digest} for name, digest in (extra_files or {}).items()}
    wanted.update(file_inputs(run.record.data_records))
    if not wanted:
        return
    producers = find_producers(run.store.run_docs(), set().union(*wanted.values()), run.id)
    links = {}
    for name, hashes in wanted.items():
        found = [producers[digest] for digest in hashes if digest in producers]
        if found:
            links[name] = max(found)  # the latest run that wrote any of them
    if links:
        with run._lock:
            run.record.upstream.update(links)
