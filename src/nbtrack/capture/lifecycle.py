"""Recording runs: the live ``ActiveRun``, the ``track()`` context manager and the module-level ``log_*`` calls.

Every way of recording a run (the ``%%track`` magic, ``with nbtrack.track()``) goes through
``ActiveRun``: start writes a ``running`` record, ``finish`` writes the final one. Calls like
``nbtrack.log_metric`` attach to the innermost active run of the calling thread.

A failure inside nbtrack (store not writable, a value that cannot be stored) never changes the
result of the user's code: it becomes one clear warning and the run keeps what it can.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nbtrack import ids, values
from nbtrack.errors import NbtrackWarning, NoActiveRunError
from nbtrack.run import Run, owner_record
from nbtrack.store.local import Store, get_store

MAX_NAME_LENGTH = 250
MAX_CODE_CHARS = 1_000_000


def warn(message: str) -> None:
    warnings.warn(f"nbtrack: {message}", NbtrackWarning, stacklevel=3)


def clean_key(key: Any, kind: str) -> str | None:
    """A param/metric/tag name as text; None (with a warning) when it cannot be one."""
    if not isinstance(key, str):
        key = values.safe_repr(key, MAX_NAME_LENGTH) if not isinstance(key, (int, float, bool)) else str(key)
    key = key.replace("\x00", "")
    if not key.strip():
        warn(f"a {kind} name must not be empty: value not recorded")
        return None
    if len(key) > MAX_NAME_LENGTH:
        warn(f"{kind} name {key[:40]!r}... is longer than {MAX_NAME_LENGTH} characters: truncated")
        key = key[:MAX_NAME_LENGTH]
    return key


_local = threading.local()


def _stack() -> list[ActiveRun]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def active_run() -> ActiveRun | None:
    """The innermost run being recorded in this thread, or None."""
    stack = _stack()
    return stack[-1] if stack else None


def _require_run(call: str) -> ActiveRun:
    run = active_run()
    if run is None:
        raise NoActiveRunError(
            f"nbtrack.{call}() needs an active run: call it inside a %%track cell or a `with nbtrack.track():` block"
        )
    return run


class ActiveRun:
    """A run being recorded. ``id`` is known from the start; ``finish`` writes the final record."""

    def __init__(
        self,
        store: Store,
        *,
        name: str | None = None,
        experiment: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        source: str = "api",
    ) -> None:
        self.store = store
        self.id = ids.new_run_id()
        self.name = None if name is None else str(name)
        self.experiment = str(experiment) if experiment else "default"
        self.source = source
        self.params: dict[str, Any] = {}
        self.metrics: dict[str, float] = {}
        self.tags: dict[str, Any] = {}
        self.data: dict[str, dict[str, Any]] = {}  # fingerprint records as stored (profiles in blobs)
        self.profiles: dict[str, dict[str, Any]] = {}  # the same records with their profiles inline
        self.series: dict[str, dict[str, list[Any]]] = {}
        self.extra: dict[str, Any] = {}  # code, cell id, history, snapshot, env, parent...
        self.status = "running"
        self.start_time = time.time()
        self.end_time: float | None = None
        self.error: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._stored = False
        self.doc: dict[str, Any] | None = None  # the last record written
        self.log_params(params or {})
        self.set_tags(tags or {})

    def __repr__(self) -> str:
        return f"ActiveRun(id={self.id!r}, name={self.name!r}, status={self.status!r})"

    # logging -------------------------------------------------------------------------------------

    def log_param(self, name: Any, value: Any) -> None:
        key = clean_key(name, "param")
        if key is not None:
            encoded = _encode_now(value, f"param {key!r}")  # warn at the call that passed the value
            with self._lock:
                self.params[key] = encoded

    def log_params(self, params: Mapping[str, Any]) -> None:
        for name, value in _items(params, "log_params"):
            self.log_param(name, value)

    def log_metric(self, name: Any, value: Any, step: int | None = None) -> None:
        # Training loops call this thousands of times: plain names and numbers take the short path.
        if type(name) is str and 0 < len(name) <= MAX_NAME_LENGTH and "\x00" not in name and name.strip():
            key = name
        else:
            key = clean_key(name, "metric")
            if key is None:
                return
        if type(value) is float or type(value) is int:
            number = float(value)
        else:
            try:
                number = values.to_float(value)
            except (TypeError, ValueError, OverflowError) as exc:
                warn(f"metric {key!r} not recorded: {exc}")
                return
        if step is not None and type(step) is not int:
            try:
                step = int(step)
            except (TypeError, ValueError, OverflowError):
                warn(f"metric {key!r}: step {values.safe_repr(step, 40)} is not an integer; logged without step")
                step = None
        with self._lock:
            points = self.series.setdefault(key, {"step": [], "value": [], "time": []})
            if step is None:
                step = points["step"][-1] + 1 if points["step"] else 0
            points["step"].append(step)
            points["value"].append(number if math.isfinite(number) else repr(number))
            points["time"].append(time.time())
            self.metrics[key] = number

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        for name, value in _items(metrics, "log_metrics"):
            self.log_metric(name, value, step)

    def set_tag(self, key: Any, value: Any) -> None:
        name = clean_key(key, "tag")
        if name is not None:
            encoded = _encode_now(value, f"tag {name!r}")
            with self._lock:
                self.tags[name] = encoded

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in _items(tags, "set_tags"):
            self.set_tag(key, value)

    def log_data(self, name: str, obj: Any) -> Mapping[str, Any] | None:
        """Fingerprint and profile an input of this run (DataFrame, Series, array, file or directory path).

        Returns the :class:`~nbtrack.data.fingerprint.Fingerprint`; ``run.data[name]`` stores its record.
        """
        from nbtrack.data.fingerprint import fingerprint

        key = clean_key(name, "data")
        if key is None:
            return None
        try:
            result = fingerprint(obj, profile=True)
            record = result.to_dict()
        except Exception as exc:
            warn(f"data {key!r} not fingerprinted: {exc}")
            return None
        try:
            stored = store_profile(self.store, record)
        except Exception as exc:
            warn(f"profile of data {key!r} not stored: {exc}")
            stored = {k: v for k, v in record.items() if k != "profile"}
        with self._lock:
            self.data[key] = stored
            self.profiles[key] = record
        return result

    # lifecycle -----------------------------------------------------------------------------------

    def start(self) -> ActiveRun:
        """Write the ``running`` record so a crash mid-run still leaves a trace."""
        _stack().append(self)
        self._save(final=False)
        return self

    def finish(self, status: str = "finished", error: BaseException | None = None) -> None:
        if self.end_time is not None:
            return
        self.end_time = time.time()
        self.status = status
        if error is not None:
            self.error = error_record(error)
        stack = _stack()
        if self in stack:
            stack.remove(self)
        self._save(final=True)

    def to_doc(self) -> dict[str, Any]:
        with self._lock:
            params = dict(self.params)
            tags = dict(self.tags)
            metrics = {k: v if math.isfinite(v) else values.encode(v)[0] for k, v in self.metrics.items()}
            data = dict(self.data)
        doc: dict[str, Any] = {
            "id": self.id,
            "experiment": self.experiment,
            "name": self.name,
            "status": self.status,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "duration": None if self.end_time is None else round(self.end_time - self.start_time, 6),
            "params": params,
            "metrics": metrics,
            "tags": tags,
            "data": data,
            "error": self.error,
            "source": self.source,
            "owner": owner_record(),
            "format": 1,
        }
        for key, value in self.extra.items():
            doc.setdefault(key, value)
        return doc

    def _save(self, final: bool) -> None:
        try:
            doc = self.to_doc()
            if final and self.series:
                doc["series"] = self.store.put_json(self.series)
            self.doc = doc
            # The `running` record is a breadcrumb the final record supersedes: no need to wait for the disk.
            self.store.put_run(doc, durable=final)
            self._stored = True
        except Exception as exc:  # never let the tracker break the user's code
            what = "final record" if final else "start record"
            warn(f"the {what} of run {self.id} could not be saved to {self.store.root}: {exc}")
        else:
            import os

            if os.environ.get("NBTRACK_TRACKING_URI"):  # direct logging to a server (remote.py); never raises
                from nbtrack.remote.live import live_log

                live_log(self.store, doc, final)

    @property
    def saved(self) -> bool:
        return self._stored

    def as_run(self) -> Run:
        return Run(self.store.get_doc(self.id), self.store)


def store_profile(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    """The record to keep in the run: its profile (often 1-2 KB per column) moves to a shared blob.

    Run records stay small, so listing 10,000 runs stays fast, and reruns on the same data share one
    profile file. ``run.inflate_data`` puts profiles back when a run is read.
    """
    profile = record.get("profile")
    if profile is None:
        return record
    slim = {k: v for k, v in record.items() if k != "profile"}
    slim["profile_blob"] = store.put_json(profile)
    return slim


def _encode_now(value: Any, what: str) -> Any:
    encoded, notes = values.encode(value, what)
    for note in notes:
        warnings.warn(f"nbtrack: {note}", NbtrackWarning, stacklevel=4)
    return encoded


def _items(mapping: Any, call: str) -> list[tuple[Any, Any]]:
    try:
        return list(mapping.items())
    except Exception as exc:
        warn(f"{call}() takes a dict; got {type(mapping).__name__} ({exc}): nothing recorded")
        return []


def error_record(error: BaseException) -> dict[str, Any]:
    try:
        lines = traceback.format_exception(type(error), error, error.__traceback__)
        text = "".join(lines)
    except Exception:
        text = ""
    return {
        "type": f"{type(error).__module__}.{type(error).__qualname__}".removeprefix("builtins."),
        "message": values.safe_repr(error, 2000) if not str_safe(error) else str(error)[:10_000],
        "traceback": text[-50_000:],
    }


def str_safe(error: BaseException) -> bool:
    try:
        str(error)
    except Exception:
        return False
    return True


def status_for(error: BaseException | None) -> str:
    if error is None:
        return "finished"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return "failed"


def notebook_experiment() -> str | None:
    """``NBTRACK_EXPERIMENT``, else the notebook's name when the kernel's notebook is known, else None."""
    import os

    from nbtrack.capture.notebook import experiment_name

    env = os.environ.get("NBTRACK_EXPERIMENT")
    if env:
        return env
    user_ns = None
    ipython = sys.modules.get("IPython")
    if ipython is not None:
        shell = ipython.get_ipython()
        user_ns = getattr(shell, "user_ns", None)
    return experiment_name(user_ns)


def default_experiment() -> str:
    """The notebook's name when the kernel's notebook is known, else ``default``."""
    return notebook_experiment() or "default"


@contextmanager
def track(
    name: str | None = None,
    experiment: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    *,
    store: str | Path | Store | None = None,
    data: Mapping[str, Any] | None = None,
    environment: bool = True,
) -> Iterator[ActiveRun]:
    """Record the code in the ``with`` block as one run; yields the :class:`ActiveRun`.

    The run ends ``finished``, ``failed`` (the exception propagates) or ``interrupted``
    (KeyboardInterrupt, which propagates too).
    """
    run = ActiveRun(
        get_store(store),
        name=name,
        experiment=experiment or default_experiment(),
        params=params,
        tags=tags,
        source="api",
    )
    _attach_script(run)
    for key, obj in (data or {}).items():
        run.log_data(key, obj)
    git = None
    if environment:
        from nbtrack.capture.environment import GitProbe

        git = GitProbe(Path.cwd())
    run.start()
    error: BaseException | None = None
    try:
        yield run
    except BaseException as exc:
        error = exc
        raise
    finally:
        if environment:
            try:
                from nbtrack.capture.environment import capture

                run.extra["env"] = capture(run.store, git)
            except Exception as exc:
                warn(f"environment of run {run.id} not recorded: {exc}")
        run.finish(status_for(error), error)


def _attach_script(run: ActiveRun) -> None:
    """For scripts, the code of a run is the script that opened it."""
    frame = sys._getframe(3)  # track() <- contextmanager.__enter__ <- caller
    filename = frame.f_code.co_filename
    run.extra["code_location"] = f"{filename}:{frame.f_lineno}"
    if filename.startswith("<"):
        return
    try:
        text = Path(filename).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    with contextlib.suppress(OSError):  # a script is the same for every run it opens: store it once
        run.extra["code_blob"] = run.store.put_blob(text[:MAX_CODE_CHARS].encode("utf-8", "surrogatepass"))


# module-level API -------------------------------------------------------------------------------


def log_metric(name: str, value: Any, step: int | None = None) -> None:
    """Log a metric value to the active run; the last value logged is the run's final value."""
    _require_run("log_metric").log_metric(name, value, step)


def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> None:
    _require_run("log_metrics").log_metrics(metrics, step)


def log_param(name: str, value: Any) -> None:
    _require_run("log_param").log_param(name, value)


def log_params(params: Mapping[str, Any]) -> None:
    _require_run("log_params").log_params(params)


def log_data(name: str, obj: Any) -> Mapping[str, Any] | None:
    """Fingerprint and profile an input (DataFrame, Series, array, or a file/directory path) of the active run."""
    return _require_run("log_data").log_data(name, obj)


def set_tags(tags: Mapping[str, Any]) -> None:
    _require_run("set_tags").set_tags(tags)
