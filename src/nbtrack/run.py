"""``Run``: the read-only view of one recorded run, loading its large parts from the store on demand."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from nbtrack import values

STATUSES = ("running", "finished", "failed", "interrupted", "abandoned")


def _process_start(pid: int) -> str | None:
    """Start time of a process (Linux), to tell a live owner from a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data.rsplit(b")", 1)[-1].split()[19].decode()


def owner_record() -> dict[str, Any]:
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "started": _process_start(pid)}


def owner_alive(owner: dict[str, Any] | None) -> bool:
    """False only when the process that owned a running run is known to be gone."""
    if not owner or owner.get("host") != socket.gethostname():
        return True  # another machine: we cannot tell
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    started = owner.get("started")
    return started is None or _process_start(pid) in (None, started)


def effective_status(doc: dict[str, Any]) -> str:
    status = doc.get("status", "running")
    if status == "running" and not owner_alive(doc.get("owner")):
        return "abandoned"
    return status


def doc_code(store: Any, doc: dict[str, Any]) -> str | None:
    """A record's code: inline for cells, a shared blob for scripts (one copy however many runs it opens)."""
    digest = doc.get("code_blob")
    if isinstance(digest, str):
        try:
            return store.get_blob(digest).decode("utf-8", "replace")
        except (OSError, ValueError):
            return None
    return doc.get("code")


def inflate_data(store: Any, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Fingerprint records with their profiles read back from the blobs they were moved to."""
    inflated = {}
    for name, record in data.items():
        digest = record.get("profile_blob") if isinstance(record, dict) else None
        if isinstance(digest, str):
            record = {k: v for k, v in record.items() if k != "profile_blob"}
            try:
                record["profile"] = store.get_json(digest)
            except (OSError, ValueError):
                record["profile"] = None  # the blob is gone: `nbtrack doctor` reports it
        inflated[name] = record
    return inflated


@dataclass(frozen=True)
class Run:
    """One run as recorded. Dict fields hold decoded values (NaN, tuples, numpy arrays come back as such)."""

    doc: dict[str, Any] = field(repr=False)
    store: Any = field(repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.doc["id"]

    @property
    def name(self) -> str | None:
        return self.doc.get("name")

    @property
    def experiment(self) -> str:
        return self.doc.get("experiment", "default")

    @property
    def status(self) -> str:
        return effective_status(self.doc)

    @property
    def start_time(self) -> float:
        return self.doc.get("start_time")

    @property
    def end_time(self) -> float | None:
        return self.doc.get("end_time")

    @property
    def duration(self) -> float | None:
        return self.doc.get("duration")

    @cached_property
    def params(self) -> dict[str, Any]:
        return values.decode(self.doc.get("params", {}))

    @cached_property
    def metrics(self) -> dict[str, float]:
        return values.decode(self.doc.get("metrics", {}))

    @cached_property
    def tags(self) -> dict[str, Any]:
        return values.decode(self.doc.get("tags", {}))

    @cached_property
    def data(self) -> dict[str, dict[str, Any]]:
        """Fingerprint record of each input, with its profile."""
        return inflate_data(self.store, self.doc.get("data") or {})

    @cached_property
    def code(self) -> str | None:
        """The tracked cell's body, or the text of the script that opened the run."""
        return doc_code(self.store, self.doc)

    @property
    def execution_count(self) -> int | None:
        return self.doc.get("execution_count")

    @property
    def cell_id(self) -> str | None:
        return self.doc.get("cell_id")

    @property
    def parent(self) -> str | None:
        """The previous run of the same cell, if any."""
        return self.doc.get("parent")

    @property
    def error(self) -> dict[str, Any] | None:
        return self.doc.get("error")

    @cached_property
    def history(self) -> list[str]:
        """Sources of every cell the kernel executed up to and including this run's cell, in order."""
        from nbtrack.capture.notebook import load_history

        digest = self.doc.get("history")
        return load_history(self.store, digest) if digest else []

    @cached_property
    def snapshot(self) -> Any:
        """The notebook file as saved when the run ended (an nbformat node), or None."""
        info = self.doc.get("snapshot")
        if not info:
            return None
        import nbformat

        return nbformat.reads(self.store.get_blob(info["blob"]).decode("utf-8"), as_version=4)

    @property
    def snapshot_info(self) -> dict[str, Any] | None:
        return self.doc.get("snapshot")

    @cached_property
    def env(self) -> dict[str, Any]:
        env = dict(self.doc.get("env") or {})
        digest = env.get("packages")
        if isinstance(digest, str):
            try:
                env["packages"] = self.store.get_json(digest)
            except FileNotFoundError:
                env["packages"] = None
        return env

    @cached_property
    def series(self) -> Any:
        """Every logged metric value: a DataFrame with columns name, step, value, time."""
        import pandas as pd

        digest = self.doc.get("series")
        rows: dict[str, list[Any]] = {"name": [], "step": [], "value": [], "time": []}
        if digest:
            for name, points in self.store.get_json(digest).items():
                n = len(points["step"])
                rows["name"].extend([name] * n)
                rows["step"].extend(points["step"])
                rows["value"].extend(float(v) for v in points["value"])
                rows["time"].extend(points["time"])
        frame = pd.DataFrame(rows)
        frame["step"] = frame["step"].astype("int64")
        frame["value"] = frame["value"].astype("float64")
        return frame

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, experiment={self.experiment!r}, name={self.name!r}, status={self.status!r})"
