"""What an engine runs and what it hands back: :class:`Task`, :class:`TaskResult`, the :class:`Engine` protocol.

A task is self-contained (the script's bytes, its command line, its inputs named by content digest), so an
engine on another machine needs nothing of the owner's file system; the result carries the run record the
script wrote and every blob it references, so only the owner ever writes the user's store (jobs/ingest.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


def content_digest(data: bytes) -> str:
    """The digest a store names a blob by (BLAKE2b-128, as store/blobs.py), so an input is fetched by it."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def file_digest(path: Path) -> str:
    """:func:`content_digest` of a file's bytes, read in chunks."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Task:
    """One execution of an exported script: ``python script_name *args`` with a temporary store."""

    task_id: str
    script: bytes
    script_name: str
    args: list[str]
    cwd: str | None  # where the run ran; used when it exists here and its inputs match
    inputs: dict[str, str] = field(default_factory=dict)  # path relative to cwd -> content digest
    timeout: float = 600.0
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class TaskResult:
    """How a task ended: the process's exit, the tails of its output, and the run it recorded."""

    task_id: str
    returncode: int  # negative: killed by that signal (a timeout or a cancel is -9); 127: could not start
    stdout_tail: str
    stderr_tail: str
    seconds: float
    host: str
    doc: dict[str, Any] | None = None  # the run record the script wrote (None: it wrote none)
    blobs: dict[str, bytes] = field(default_factory=dict)  # every blob that record references
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """The script exited 0 and recorded a finished run."""
        return self.returncode == 0 and self.doc is not None and self.doc.get("status") == "finished"


@runtime_checkable
class Engine(Protocol):
    """Where tasks run. ``results`` yields each result as its task completes (in completion order).

    An engine whose workers may lack the owner's files has an attribute ``fetch_input``: the job sets it to
    the owner's ``store.get_blob`` before submitting (inputs are blobs there, by digest), for the engine to ship
    each input once per worker and pass to :func:`~nbtrack.jobs.worker.execute_task`."""

    workers: int

    def submit(self, task: Task) -> None: ...

    def results(self, timeout: float | None = None) -> Iterator[TaskResult]:
        """Results of submitted tasks as they complete; stops when none is pending or ``timeout`` passes idle."""
        ...

    def cancel(self) -> None:
        """Drop pending tasks and kill running ones (their results are not yielded)."""
        ...

    def close(self) -> None: ...
