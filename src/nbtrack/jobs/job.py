"""A job's state: its groups, its tasks and how each ended, persisted in ``.nbtrack/jobs/<id>.json``.

The state file is rewritten atomically (store/files.py) after every change, so a job interrupted at any
point (KeyboardInterrupt, a killed kernel) can be resumed with ``nbtrack.run_more(job_id)``: tasks not done
are submitted again, and ingest's idempotence (one record per job and task id) keeps a task that was
recorded just before the interruption from being recorded twice. A task id names the group, the seed and
the attempt (``g0-s7-a1``): a crashed attempt stays recorded as a failed run, its retry is a new task.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbtrack import ids
from nbtrack.errors import JobError
from nbtrack.jobs.plan import GroupState
from nbtrack.store import files
from nbtrack.store.local import Store

JOBS = "jobs"  # folder of the store holding job states and exported scripts
FORMAT = 1
PENDING = ("planned", "submitted", "cancelled")  # task states a resume submits again
STATES = ("planned", "running", "done", "cancelled", "interrupted", "failed")


def jobs_dir(store: Store) -> Path:
    return store.root / JOBS


def task_id(group: str, seed: Any, attempt: int) -> str:
    return f"{group}-s{seed}-a{attempt}"


@dataclass
class Job:
    """One run_more or sweep job. ``tasks``: task id -> ``{"group", "seed", "attempt", "state", "run",
    "error"}`` with state planned, submitted, done (a finished run), failed (a failed run), cancelled."""

    id: str
    kind: str
    store_root: str
    options: dict[str, Any] = field(default_factory=dict)
    compare: dict[str, Any] = field(default_factory=dict)  # the compare() arguments the job decides with
    groups: list[GroupState] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    state: str = "planned"
    stop_reason: str | None = None
    created: float = field(default_factory=time.time)
    elapsed: float = 0.0  # seconds spent running, over every session
    decided: tuple[int, int] = (0, 0)  # (decided pairs, pairs) at the last look
    comparison: Any = field(default=None, compare=False, repr=False)  # the last comparison (not persisted)
    _cancel: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)
    _engine: Any = field(default=None, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @classmethod
    def new(cls, store: Store, kind: str, **fields: Any) -> Job:
        return cls(id=ids.new_run_id(), kind=kind, store_root=str(store.root), **fields)

    # where it lives ---------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        from nbtrack.store.local import get_store

        return get_store(self.store_root)

    @property
    def path(self) -> Path:
        return Path(self.store_root) / JOBS / f"{self.id}.json"

    @property
    def folder(self) -> Path:
        """Where the job's exported scripts are written."""
        return Path(self.store_root) / JOBS / self.id

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "id": self.id,
            "kind": self.kind,
            "options": self.options,
            "compare": self.compare,
            "groups": [dataclasses.asdict(g) for g in self.groups],
            "tasks": self.tasks,
            "state": self.state,
            "stop_reason": self.stop_reason,
            "created": self.created,
            "elapsed": self.elapsed,
            "decided": list(self.decided),
        }

    def save(self) -> None:
        """Write the state file atomically (a crash leaves the previous state or this one)."""
        with self._lock:
            data = json.dumps(self.to_json(), indent=1, default=repr).encode()
            self.store.ensure()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            files.replace_durably(self.path, data)

    @classmethod
    def load(cls, store: Store, job_id: str) -> Job:
        """The job ``job_id`` (or an unambiguous prefix) of ``store``; JobError when there is none."""
        folder = jobs_dir(store)
        ok = ids.is_id_prefix(str(job_id).lower())
        matches = sorted(folder.glob(f"{str(job_id).lower()}*.json")) if ok and folder.is_dir() else []
        if len(matches) != 1:
            what = "no job" if not matches else f"{len(matches)} jobs"
            raise JobError(f"{what} {job_id!r} in {folder}; `nbtrack.jobs.job.list_jobs()` lists them")
        raw = json.loads(matches[0].read_text(encoding="utf-8"))
        return cls(
            id=raw["id"],
            kind=raw["kind"],
            store_root=str(store.root),
            options=raw.get("options") or {},
            compare=raw.get("compare") or {},
            groups=[GroupState(**g) for g in raw.get("groups") or []],
            tasks=raw.get("tasks") or {},
            state=raw.get("state", "planned"),
            stop_reason=raw.get("stop_reason"),
            created=raw.get("created", 0.0),
            elapsed=raw.get("elapsed", 0.0),
            decided=tuple(raw.get("decided") or (0, 0)),
        )

    # reading it -------------------------------------------------------------------------------------

    def group(self, key: str) -> GroupState:
        return next(g for g in self.groups if g.key == key)

    def count(self, *states: str) -> int:
        return sum(1 for t in self.tasks.values() if t["state"] in states)

    @property
    def run_ids(self) -> list[str]:
        """The runs this job recorded (finished and failed), in the order they were recorded."""
        return [t["run"] for t in self.tasks.values() if t.get("run")]

    def runs(self) -> Any:
        """The job's runs as ``nbtrack.runs()`` rows."""
        from nbtrack.query.search import runs

        frame = runs(store=self.store)
        return frame[frame["run_id"].isin(self.run_ids)]

    def superseded(self) -> set[str]:
        """Failed runs of attempts whose retry finished: the failure was the attempt's, not the config's."""
        finished = {(t["group"], t["seed"]) for t in self.tasks.values() if t["state"] == "done"}
        return {
            t["run"]
            for t in self.tasks.values()
            if t["state"] == "failed" and t.get("run") and (t["group"], t["seed"]) in finished
        }

    def __repr__(self) -> str:
        done, failed, pending = self.count("done"), self.count("failed"), self.count(*PENDING)
        d, n = self.decided
        why = f", {self.stop_reason}" if self.stop_reason else ""
        return (
            f"Job({self.id} {self.kind}: {self.state}{why}; {done} runs finished, {failed} failed, {pending} pending; "
            f"{d}/{n} pairs decided; {self.elapsed:.1f} s)"
        )

    # changing it ------------------------------------------------------------------------------------

    def add_task(self, group: str, seed: Any, attempt: int = 1) -> str:
        key = task_id(group, seed, attempt)
        self.tasks[key] = {"group": group, "seed": seed, "attempt": attempt, "state": "planned", "run": None}
        return key

    def mark(self, key: str, state: str, **extra: Any) -> None:
        self.tasks[key].update(state=state, **extra)

    def cancel(self) -> None:
        """Stop the job: pending tasks are dropped, running ones killed; finished runs stay recorded.
        Safe from another thread; ``run_more(job.id)`` resumes it."""
        self._cancel.set()
        engine = self._engine
        if engine is not None:
            engine.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()


def is_job(store: Store, target: Any) -> bool:
    """True when ``target`` is the id (or a prefix of 6+ characters) of a job of ``store``."""
    if not isinstance(target, str) or len(target) < 6 or not ids.is_id_prefix(target.lower()):
        return False
    folder = jobs_dir(store)
    return folder.is_dir() and any(folder.glob(f"{target.lower()}*.json"))


def list_jobs(store: Store | None = None) -> list[dict[str, Any]]:
    """Every job of a store (default: the current one), newest first: id, kind, state, runs, decided."""
    from nbtrack.store.local import get_store

    st = get_store(store)
    folder = jobs_dir(st)
    out = []
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        tasks: Mapping[str, Any] = raw.get("tasks") or {}
        out.append(
            {
                "id": raw.get("id"),
                "kind": raw.get("kind"),
                "state": raw.get("state"),
                "stop_reason": raw.get("stop_reason"),
                "runs": sum(1 for t in tasks.values() if t.get("run")),
                "decided": raw.get("decided"),
                "created": raw.get("created", 0.0),
            }
        )
    return sorted(out, key=lambda j: -float(j["created"] or 0.0))
