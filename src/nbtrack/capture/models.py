"""Models kept with their run: ``nbtrack.log_model`` and the models a ``%%track`` cell fitted, stored by content.

Each model becomes one record in ``run.models[name]``::

    {"blob": <digest of the stored bytes>, "format": "skops", "pickle": False,
     "class": "sklearn.linear_model._logistic.LogisticRegression", "framework": "sklearn",
     "framework_version": "1.5.2", "size": 1234, "hash": <digest of the model's content>, "auto": True}

``hash`` identifies the model itself: XXH3-128 of its pickle stream (the hash data fingerprints use),
taken while counting its size (NumPy arrays are hashed in place, not copied). A model whose hash an
earlier run of the store already holds is not serialised or written again: its record points at the
same blob, so rerunning a cell that fits the same model costs one hashing pass. (A format's own bytes
need not repeat: skops names its files after memory addresses.) The bytes are in the framework's format
(:mod:`nbtrack.capture.model_formats`), pickle only as the fallback (``"pickle": true``).

Automatic capture (:func:`capture_cell_models`, called by ``%%track`` after the cell, also when it raised):
every fitted model the cell assigned or called ``fit`` on. Off for one cell with ``%%track --no-models``,
everywhere with ``NBTRACK_MODELS=off``. A model larger than ``NBTRACK_MODEL_MAX_BYTES`` (default 500 MB) is
not captured automatically (its size is counted as it would be pickled, stopping at the limit); its record
says so: ``{"skipped": "...", "size": <bytes counted>, ...}``. ``log_model`` has no limit: asking is deciding.
"""

from __future__ import annotations

import os
import pickle
import sys
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import xxhash

from nbtrack.capture.frameworks import framework_of, framework_version, is_fitted, models_in_cell
from nbtrack.capture.guard import clean_key, warn
from nbtrack.capture.model_formats import dump, qualified_name
from nbtrack.errors import ModelTooLargeError, UnpicklableModelError

MODELS_ENV = "NBTRACK_MODELS"
MAX_BYTES_ENV = "NBTRACK_MODEL_MAX_BYTES"
DEFAULT_MAX_BYTES = 500_000_000
_PACKAGE = str(Path(__file__).resolve().parent.parent) + os.sep
# store root -> model hash -> the stored part of its record (blob, format, pickle, size, note)
_stored: dict[Path, dict[str, dict[str, Any]]] = {}
# objects each run logged explicitly, so the automatic capture does not save them again under another name
_logged: weakref.WeakKeyDictionary[Any, set[int]] = weakref.WeakKeyDictionary()


def models_mode() -> str:
    """``NBTRACK_MODELS``: ``on`` (default: ``%%track`` captures the models a cell fits) or ``off``."""
    mode = os.environ.get(MODELS_ENV, "on").strip().lower()
    return "off" if mode in ("off", "0", "false", "no") else "on"


def max_model_bytes() -> int:
    """``NBTRACK_MODEL_MAX_BYTES``: the largest model captured automatically (default 500,000,000 bytes)."""
    text = os.environ.get(MAX_BYTES_ENV, "").strip().replace("_", "")
    try:
        limit = int(text)
    except ValueError:
        return DEFAULT_MAX_BYTES
    return limit if limit >= 0 else DEFAULT_MAX_BYTES


# hashing while counting ---------------------------------------------------------------------------


class _HashingSink:
    """A file-like object pickle writes to: hashes and counts, keeps nothing, stops at ``limit``."""

    def __init__(self, limit: int | None) -> None:
        self.hasher = xxhash.xxh3_128()
        self.size = 0
        self.limit = limit

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.size += view.nbytes
        if self.limit is not None and self.size > self.limit:
            raise ModelTooLargeError(f"the model is larger than {self.limit:,} bytes", self.size)
        self.hasher.update(view)
        return view.nbytes

    def buffer(self, buffer: pickle.PickleBuffer) -> bool:
        """Out-of-band buffers (NumPy arrays): hashed where they lie; pickle copies nothing."""
        try:
            raw = buffer.raw()
        except BufferError:  # not contiguous: let pickle copy it into the stream
            return True
        self.write(raw)
        return False


def content_hash(obj: Any, limit: int | None = None) -> tuple[str | None, int]:
    """(hash, size) of the model's pickle stream; hash None when it cannot be pickled. :class:`ModelTooLargeError`
    as soon as the stream passes ``limit`` bytes (nothing is held in memory meanwhile)."""
    sink = _HashingSink(limit)
    for pickler in _picklers():  # pickle first, cloudpickle for what pickle cannot name (lambdas, local classes)
        sink = _HashingSink(limit)
        try:
            pickler(sink, protocol=5, buffer_callback=sink.buffer).dump(obj)
        except ModelTooLargeError:
            raise
        except Exception:
            continue
        return sink.hasher.hexdigest(), sink.size
    return None, sink.size


def _picklers() -> Iterator[Any]:
    yield pickle.Pickler
    try:
        import cloudpickle
    except ImportError:
        return
    yield cloudpickle.CloudPickler


# saving -------------------------------------------------------------------------------------------


def default_name(obj: Any) -> str:
    """The name the caller's code gives the object (``clf`` for ``log_model(clf)``), else its class's name."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is not None:
        for scope in (frame.f_locals, frame.f_globals):
            for key, value in list(scope.items()):
                if value is obj and isinstance(key, str) and not key.startswith("_"):
                    return key
    return type(obj).__name__


def log_model(run: Any, obj: Any, name: str | None = None, *, auto: bool = False) -> dict[str, Any] | None:
    """Save ``obj`` with the :class:`~nbtrack.capture.lifecycle.ActiveRun` ``run`` as ``run.models[name]``.

    Returns the record, or None when the model could not be saved: never raises, the reason is one warning
    (or, when the store cannot be written, part of the run's one warning at the end).
    """
    key = clean_key(name if name is not None else default_name(obj), "model")
    if key is None:
        return None
    try:
        record = save_model(run.store, obj, auto=auto, limit=max_model_bytes() if auto else None)
    except OSError as exc:  # the store cannot be written
        run.note_unsaved(f"the model {key!r}", exc)
        return None
    except UnpicklableModelError as exc:
        warn(f"model {key!r} of run {run.id} not saved: {exc}")
        return None
    except Exception as exc:
        warn(f"model {key!r} of run {run.id} not saved: {type(exc).__name__}: {exc}")
        return None
    with run._lock:
        run.record.models[key] = record
    if not auto:
        _logged.setdefault(run, set()).add(id(obj))
    return record


def save_model(store: Any, obj: Any, *, auto: bool = False, limit: int | None = None) -> dict[str, Any]:
    """Store the model's bytes (once per content) and return its record; ``limit``: skip larger models."""
    framework = framework_of(obj)
    record: dict[str, Any] = {
        "class": qualified_name(obj),
        "framework": framework,
        "framework_version": framework_version(framework) if framework else None,
        "auto": auto,
    }
    try:
        digest, _ = content_hash(obj, limit)
    except ModelTooLargeError as big:
        return {**record, "skipped": f"larger than the {limit:,}-byte limit ({MAX_BYTES_ENV})", "size": big.size}
    known = _stored.setdefault(store.root, {})
    if digest is not None:
        stored = known.get(digest) or _find_stored(store, digest)
        if stored is not None and store.blob_exists(stored["blob"]):
            known[digest] = stored
            return {**record, **stored, "hash": digest}
    dumped = dump(obj, framework)
    if limit is not None and len(dumped.data) > limit:
        note = f"larger than the {limit:,}-byte limit ({MAX_BYTES_ENV})"
        return {**record, "skipped": note, "size": len(dumped.data)}
    # a file of its own even when small (not a journal line): its owner is who wrote it, which the trust rule
    # of load_model reads, and a model is loaded far more often than the run around it is listed
    blob = store.blobs.put(dumped.data)
    stored = {"blob": blob, "format": dumped.format, "pickle": dumped.pickle, "size": len(dumped.data)}
    if dumped.note:
        stored["note"] = dumped.note
    digest = digest or blob
    known[digest] = stored
    return {**record, **stored, "hash": digest}


def _find_stored(store: Any, digest: str) -> dict[str, Any] | None:
    """The stored part of an earlier record of the same model in the store, if a run holds one."""
    try:
        docs = store.run_docs()
    except Exception:
        return None
    for doc in docs.values():
        for model in (doc.get("models") or {}).values():
            if isinstance(model, dict) and model.get("hash") == digest and isinstance(model.get("blob"), str):
                return {k: model[k] for k in ("blob", "format", "pickle", "size", "note") if k in model}
    return None


# the %%track hook ---------------------------------------------------------------------------------


def capture_cell_models(run: Any, tree: Any, namespace: Mapping[str, Any], *, enabled: bool = True) -> None:
    """Log, with ``auto: true``, every fitted model the cell assigned or fitted (names as in the cell);
    models the cell logged itself are not saved twice. Never raises."""
    if not enabled or models_mode() == "off":
        return
    try:
        found = models_in_cell(tree, namespace)
        logged = _logged.get(run, set())
        todo = [(n, m) for n, m in found.items() if n not in run.record.models and id(m) not in logged]
        todo = [(n, m) for n, m in todo if is_fitted(m)]
    except Exception as exc:
        warn(f"models of run {run.id} not captured: {type(exc).__name__}: {exc}")
        return
    for name, model in todo:
        log_model(run, model, name, auto=True)


def summary_text(models: Mapping[str, Any]) -> str | None:
    """The models part of the summary line (``2 models``, and which were too large to capture); None for none."""
    if not models:
        return None
    skipped = [name for name, record in models.items() if isinstance(record, dict) and record.get("skipped")]
    saved = len(models) - len(skipped)
    text = f"{saved} model{'s' * (saved != 1)}"
    if skipped:
        shown = ", ".join(skipped[:3]) + (" ..." if len(skipped) > 3 else "")
        text += f" ({shown} not captured: larger than {MAX_BYTES_ENV})"
    return text
