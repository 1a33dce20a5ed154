"""``Run``: one recorded run as typed fields, and the only translation to and from the stored JSON document.

The lifecycle (:mod:`nbtrack.capture.lifecycle`) fills a ``Run`` and saves ``run.to_doc()``; readers get
``Run.from_doc(doc, store)``, which migrates records written by earlier releases first
(:mod:`nbtrack.run_migrations`). Keys a release does not know are kept in ``extra`` and written back.

Large parts live in the store's blobs and the record holds their digests; they load on first access:
``history`` (field ``history_blob``), ``snapshot`` (``snapshot_info``), ``series`` (``series_blob``),
``env`` with its package list (``env_record``), ``data`` with its profiles (``data_records``) and a
script's ``code`` (``code_blob``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any

from nbtrack import values
from nbtrack.run_migrations import SCHEMA, migrate


class Status(str, Enum):
    """Where a run is. A ``str`` so it compares, hashes and serialises as its value."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    ABANDONED = "abandoned"  # recorded as running, but the process that ran it is gone

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


STATUSES = tuple(s.value for s in Status)


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


def effective_status(doc: Mapping[str, Any]) -> str:
    """The stored status, except that a ``running`` run whose process is gone is ``abandoned``."""
    status = doc.get("status", "running")
    if status == "running" and not owner_alive(doc.get("owner")):
        return Status.ABANDONED.value
    return status


def doc_code(store: Any, doc: Mapping[str, Any]) -> str | None:
    """A record's code: inline for cells, a shared blob for scripts (one copy however many runs it opens)."""
    digest = doc.get("code_blob")
    if isinstance(digest, str):
        try:
            return store.get_blob(digest).decode("utf-8", "replace")
        except (OSError, ValueError):
            return None
    return doc.get("code")


def inflate_data(store: Any, data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
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


# field name -> document key, for the fields whose document holds a reference that a property loads
_RENAMED = {
    "data_records": "data",
    "code_text": "code",
    "history_blob": "history",
    "snapshot_info": "snapshot",
    "env_record": "env",
    "series_blob": "series",
}
# always written (null when unset); the other fields are written only when they hold something
_ALWAYS = frozenset(
    {"id", "experiment", "name", "status", "start_time", "end_time", "duration", "params", "metrics", "tags"}
    | {"data_records", "error", "source", "schema"}
)
# written only when they hold something, so records without them stay as small as before
_OPTIONAL_MAPPINGS = frozenset(
    {"links", "param_sources", "models", "artifacts", "outputs", "upstream", "files_read", "history_failed"}
)
_DECODED = ("params", "metrics", "tags")  # the document holds their values.encode() form
# Set in a document whose text fields went through values.escape_text (lone surrogates, say in a file name
# read with os.listdir, or text starting with values.TAG): readers unescape them; other documents cost nothing.
TEXT_ESCAPED = "text_escaped"


@dataclass(init=False, repr=False)
class Run:
    """One run as recorded. ``params``, ``metrics`` and ``tags`` hold decoded values (NaN, tuples, numpy
    arrays come back as such); large parts load from the store on first access."""

    id: str
    experiment: str = "default"
    name: str | None = None
    status: Status = Status.RUNNING  # as read: a running run whose process is gone reads as ABANDONED
    start_time: float = 0.0
    end_time: float | None = None
    duration: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    data_records: dict[str, dict[str, Any]] = field(default_factory=dict)  # profiles moved to blobs
    code_text: str | None = None  # a cell's code, inline
    code_blob: str | None = None  # a script's code, one blob shared by every run it opens
    code_location: str | None = None  # "file:line" of a track() block, or the script's path
    execution_count: int | None = None
    cell_id: str | None = None
    cell_key: str | None = None  # what makes runs "the same cell" (see capture.cell_run.cell_key_of)
    history_blob: str | None = None  # blob of the list of digests of every cell executed up to this one
    history_len: int | None = None
    # the history's cells that raised: {"index", "error", "line"} each (see nbtrack.capture.notebook.cell_failure)
    history_failed: list[dict[str, Any]] = field(default_factory=list)
    snapshot_info: dict[str, Any] | None = None  # the notebook file as saved: blob, path, staleness
    env_record: dict[str, Any] | None = None  # package list in a blob
    error: dict[str, Any] | None = None  # type, message, traceback
    parent: str | None = None  # the previous run of the same cell
    links: dict[str, str] = field(default_factory=dict)  # other related runs, by relation
    origin: dict[str, Any] | None = None  # where a pulled run came from (MLflow server, run id)
    source: str | None = None  # what recorded it: "api", "magic", "export", "mlflow"
    owner: dict[str, Any] | None = None  # the process recording it: pid, host, start
    data_change: dict[str, Any] | None = None  # inputs changed/added/removed against the parent
    data_notes: dict[str, str] | None = None  # per changed input, what changed
    series_blob: str | None = None  # every logged metric value
    # where a `with nbtrack.track()` block sits in its cell: {"line", "loop": {var: encoded value}, "index": [int]}
    cell_block: dict[str, Any] | None = None  # see nbtrack.capture.kernel_context; a sweep's run exports from it
    notebook_source: str | None = None  # how the notebook (the experiment's name) was found: see capture.notebook
    notebook_id: str | None = None  # the notebook's own id (metadata.nbtrack.id): survives renames and moves
    # where each param came from: "explicit" (log_param, -p, track(params=)), "assigned" (a literal assignment),
    # "call" (a literal argument of a call), "config" (a dict of literals, flattened), "input" (a plain value
    # an earlier cell assigned), "framework" (an estimator's own parameters); see nbtrack.capture.hyperparams
    param_sources: dict[str, str] = field(default_factory=dict)
    # name -> model record: blob, format, class, framework, version, size, hash, auto (see nbtrack.capture.models)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    # name -> artifact record: blob, size, media type, kind ("figure", "file", "bytes")
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    # path relative to the working directory -> output file record: hash, size, kept (blob digest or None)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # input path or name -> id of the earlier run whose output it is (a pipeline's stage graph)
    upstream: dict[str, str] = field(default_factory=dict)
    # path relative to the working directory -> xxh3-128 of the bytes of each file the tracked cell opened for
    # reading (see nbtrack.capture.file_reads): what an export checks first when the code computes the path
    files_read: dict[str, str] = field(default_factory=dict)
    schema: int = SCHEMA
    extra: dict[str, Any] = field(default_factory=dict)  # keys this release does not know, kept as they are
    store: Any = field(default=None, compare=False)

    def __init__(self, doc: Mapping[str, Any] | None = None, store: Any = None, /, **fields: Any) -> None:
        """``Run(id=..., ...)`` builds a record; ``Run(doc, store)`` is :meth:`from_doc`, kept for callers of 0.1."""
        if doc is not None:
            fields = {**_fields_of(doc), **fields}
        fields.setdefault("store", store)
        for f in _FIELDS:
            if f.name in fields:
                value = fields.pop(f.name)
            elif f.default is not dataclasses.MISSING:
                value = f.default
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                raise TypeError(f"Run() needs {f.name}=")
            setattr(self, f.name, value)
        if fields:
            raise TypeError(f"Run() got unknown fields: {', '.join(sorted(fields))}")

    # the JSON document ------------------------------------------------------------------------------

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], store: Any = None) -> Run:
        """The run a stored document records, in any schema this or an earlier release wrote."""
        return cls(None, store, **_fields_of(doc))

    def to_doc(self) -> dict[str, Any]:
        """The JSON document the store keeps (schema :data:`~nbtrack.run_migrations.SCHEMA`)."""
        doc: dict[str, Any] = {}
        for f in _FIELDS:
            name = f.name
            if name in ("extra", "store"):
                continue
            value = getattr(self, name)
            if name in _DECODED:
                value = _encode_metrics(value) if name == "metrics" else _encode_values(value)
            elif name == "status":
                value = Status(value).value
            if name in _ALWAYS or not (value is None or (name in _OPTIONAL_MAPPINGS and not value)):
                doc[_RENAMED.get(name, name)] = value
        doc.update(self.extra)  # unknown keys, and known ones this release could not read, as they were
        return escape_text_fields(doc)

    @property
    def doc(self) -> dict[str, Any]:
        """The record as stored: ``to_doc()``."""
        return self.to_doc()

    # large parts, loaded from the store on first access ---------------------------------------------

    @cached_property
    def data(self) -> dict[str, dict[str, Any]]:
        """Fingerprint record of each input, with its profile."""
        return inflate_data(self.store, self.data_records)

    @cached_property
    def code(self) -> str | None:
        """The tracked cell's body, or the text of the script that opened the run."""
        return doc_code(self.store, {"code": self.code_text, "code_blob": self.code_blob})

    @cached_property
    def history(self) -> list[str]:
        """Sources of every cell the kernel executed up to and including this run's cell, in order."""
        from nbtrack.capture.notebook import load_history

        return load_history(self.store, self.history_blob) if self.history_blob else []

    @cached_property
    def snapshot(self) -> Any:
        """The notebook file as saved when the run ended (an nbformat node), or None."""
        info = self.snapshot_info
        if not info:
            return None
        import nbformat

        return nbformat.reads(self.store.get_blob(info["blob"]).decode("utf-8"), as_version=4)

    @cached_property
    def env(self) -> dict[str, Any]:
        """Python, platform, git state and the installed packages (read from their blob)."""
        env = dict(self.env_record or {})
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

        rows: dict[str, list[Any]] = {"name": [], "step": [], "value": [], "time": []}
        if self.series_blob:
            from nbtrack.store.series import load

            for name, points in load(self.store, self.series_blob).items():
                n = len(points["step"])
                rows["name"].extend([values.printable(values.unescape_text(name))] * n)
                rows["step"].extend(points["step"])
                rows["value"].extend(float(v) for v in points["value"])
                rows["time"].extend(points["time"])
        frame = pd.DataFrame(rows)
        frame["step"] = frame["step"].astype("int64")
        frame["value"] = frame["value"].astype("float64")
        return frame

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, experiment={self.experiment!r}, name={self.name!r}, status={str(self.status)!r})"


_FIELDS = dataclasses.fields(Run)
_DOC_KEYS = {_RENAMED.get(f.name, f.name): f.name for f in _FIELDS if f.name not in ("extra", "store")}


def escape_text_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with its text made safe for strict UTF-8 JSON (see :data:`TEXT_ESCAPED`); params,
    metrics and tags hold encoded values already (their names are escaped where they are encoded)."""
    escaped = False
    for key, value in doc.items():
        if key not in _DECODED:
            safe = values.escape_tree(value)
            if safe is not value:
                doc[key] = safe
                escaped = True
    if escaped:
        doc[TEXT_ESCAPED] = True
    return doc


def unescaped(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """A stored document with its text as it was logged: the same object unless it was escaped."""
    if not doc.get(TEXT_ESCAPED):
        return doc
    return {key: value if key in _DECODED else values.unescape_tree(value) for key, value in doc.items()}


def _fields_of(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor arguments for a stored document, after migrating it to the current schema."""
    doc = migrate(unescaped(stored))
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in doc.items():
        name = _DOC_KEYS.get(key)
        if key == TEXT_ESCAPED:
            continue
        if name is None:
            extra[key] = value
        elif name in _DECODED:
            if isinstance(value, dict):  # name by name: a param named like values.TAG is a param
                fields[name] = {values.unescape_text(k): values.decode(v) for k, v in value.items()}
            else:
                extra[key] = value
        elif name == "status":
            continue  # below: the status as read depends on the owner too
        elif (name == "data_records" or name in _OPTIONAL_MAPPINGS) and value is None:
            continue  # an absent mapping
        else:
            fields[name] = value
    try:
        fields["status"] = Status(effective_status(doc))
    except ValueError:  # a status this release does not know: read as finished, written back as it was
        fields["status"] = Status.FINISHED
        extra["status"] = doc["status"]
    fields["extra"] = extra
    return fields


def _encode_values(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {values.escape_text(key): values.encode(value)[0] for key, value in mapping.items()}


def _encode_metrics(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {
        values.escape_text(key): value if type(value) is float and math.isfinite(value) else values.encode(value)[0]
        for key, value in mapping.items()
    }
