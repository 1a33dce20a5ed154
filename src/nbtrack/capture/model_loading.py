"""Reading models back: ``nbtrack.load_model``, the trust rule, and ``nbtrack.models`` (each with its run's metrics).

The trust rule: a model whose loading could run code (a pickle; a skops file building types skops does not
trust by default; a Keras file outside ``safe_mode``) loads only from a store the user wrote, unless the
caller passes ``trusted=True``. A store the user did not write is one where any of these holds:

- the run was pulled from elsewhere (``run.origin`` is set, e.g. by ``nbtrack pull`` from MLflow);
- the run was recorded on another machine (its owner's host is not this one);
- the store folder, or the model's file in it, belongs to another user (uid).

Formats that build no code (XGBoost, LightGBM, a torch state dict, skops with only default types) load
from any store. A model's bytes are checked against their digest before anything reads them.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from nbtrack.capture.model_formats import load, untrusted_types
from nbtrack.errors import ModelNotFoundError, StoreCorruptError, UntrustedModelError
from nbtrack.run import Run
from nbtrack.store.local import Store, get_store


@dataclass(frozen=True)
class ModelInfo:
    """One model of one run: its stored record and the run's metrics (what ``nbtrack.models()`` lists)."""

    run_id: str
    name: str
    record: dict[str, Any]
    metrics: dict[str, float]
    run: Run = field(repr=False, compare=False)

    @property
    def class_name(self) -> str | None:
        return self.record.get("class")

    @property
    def framework(self) -> str | None:
        return self.record.get("framework")

    @property
    def format(self) -> str | None:
        return self.record.get("format")

    @property
    def size(self) -> int | None:
        return self.record.get("size")

    @property
    def hash(self) -> str | None:
        return self.record.get("hash")

    @property
    def skipped(self) -> str | None:
        """Why the model was not saved (too large to capture automatically), or None."""
        return self.record.get("skipped")

    def load(self, *, trusted: bool = False, into: Any = None) -> Any:
        """The model itself: :func:`load_model` for this run and name."""
        return load_model(self.run, self.name, trusted=trusted, into=into)


def _run_of(run: Any, store: str | os.PathLike[str] | Store | None) -> Run:
    if isinstance(run, Run):
        if run.store is None:
            run.store = get_store(store)
        return run
    record = getattr(run, "record", None)  # an ActiveRun: its record as it stands
    if isinstance(record, Run):
        return record
    target = get_store(store)
    return Run.from_doc(target.get_doc(str(run)), target)


def models(run: Any = None, *, store: str | os.PathLike[str] | Store | None = None) -> list[ModelInfo]:
    """The models of ``run`` (a Run, an id or an id prefix), or of every run in the store, newest run first.

    Each :class:`ModelInfo` has the model's record (class, framework and version, format, size, hash, whether
    it was captured automatically) and its run's metrics; ``info.load()`` returns the model.
    """
    if run is not None:
        runs = [_run_of(run, store)]
    else:
        target = get_store(store)
        runs = [Run.from_doc(doc, target) for doc in target.run_docs().values() if doc.get("models")]
        runs.sort(key=lambda r: (r.start_time, r.id), reverse=True)
    return [
        ModelInfo(r.id, name, dict(record), dict(r.metrics), r)
        for r in runs
        for name, record in r.models.items()
        if isinstance(record, dict)
    ]


def load_model(
    run: Any,
    name: str | None = None,
    *,
    trusted: bool = False,
    into: Any = None,
    store: str | os.PathLike[str] | Store | None = None,
) -> Any:
    """The model ``name`` of ``run`` (a Run, an id or an id prefix), as it was when the run saved it.

    ``name`` may be left out when the run has one model. ``trusted=True`` loads a model whose loading could
    run code even from a store you did not write (see the module's trust rule); without it such a model
    raises :class:`~nbtrack.errors.UntrustedModelError`. ``into``: for a torch state dict, the module to
    load it into (a fresh instance of the model's class); without it the state dict is returned.
    """
    target = _run_of(run, store)
    name, record = _pick(target, name)
    owner = target.store or get_store(store)
    digest = record["blob"]
    data = owner.get_blob(digest)
    if hashlib.blake2b(data, digest_size=16).hexdigest() != digest:
        raise StoreCorruptError(f"the file of model {name!r} of run {target.id} is damaged (its content changed)")
    reason = None if trusted else foreign_reason(target, owner, digest)
    fmt = str(record.get("format"))
    if reason is not None:
        unknown = untrusted_types(data, fmt)
        if unknown:
            what = "a pickle" if unknown == ["pickle"] else f"a {fmt} file with types not trusted by default"
            raise UntrustedModelError(
                f"model {name!r} of run {target.id} is {what} from a store you did not write ({reason}); "
                "loading it could run code, so pass trusted=True to load_model if you trust where it came from."
            )
    return load(data, record, trusted=reason is None, into=into)


def _pick(run: Run, name: str | None) -> tuple[str, dict[str, Any]]:
    records = {k: v for k, v in run.models.items() if isinstance(v, dict)}
    if name is None:
        saved = [k for k, v in records.items() if not v.get("skipped")] or list(records)[:1] * (len(records) == 1)
        if len(saved) != 1:
            have = f"models {', '.join(map(repr, saved))}" if saved else "no saved model"
            raise ModelNotFoundError(f"run {run.id} has {have}; pass the name of the model to load")
        name = saved[0]
    record = records.get(name)
    if record is None:
        have = ", ".join(map(repr, records)) or "none"
        raise ModelNotFoundError(f"run {run.id} has no model {name!r} (its models: {have})")
    if record.get("skipped") or not isinstance(record.get("blob"), str):
        why = record.get("skipped") or "it has no stored file"
        raise ModelNotFoundError(f"model {name!r} of run {run.id} was not saved: {why}")
    return name, record


def foreign_reason(run: Run, store: Store, digest: str | None = None) -> str | None:
    """Why the run's store is not one the user wrote (see the module's trust rule), or None when it is."""
    if run.origin:
        where = run.origin.get("server") or run.origin.get("tracking_uri") or "a tracking server"
        return f"it was pulled from {where}"
    host = (run.owner or {}).get("host")
    if host and host != socket.gethostname():
        return f"it was recorded on another machine, {host}"
    uid = os.getuid() if hasattr(os, "getuid") else None
    if uid is None:
        return None
    paths = [store.root] + ([store.blobs.path(digest)] if digest else [])
    for path in paths:
        try:
            owner = os.stat(path).st_uid
        except OSError:
            continue
        if owner != uid:
            return f"{path} belongs to another user"
    return None
