"""The one run lifecycle: ``ActiveRun`` opens, fills and finishes a run (``track()`` is in capture/tracking.py).

Every way of recording a run goes through ``ActiveRun``: ``with nbtrack.track()``, the ``%%track`` magic
(:mod:`nbtrack.capture.magic`) and exported scripts (:mod:`nbtrack.exporting.runtime`) only add what is
theirs (a cell's id and history, a script's inputs). ``start`` begins the git probe and writes the
``running`` record; ``finish`` captures the environment and writes the final one. The record is a
:class:`~nbtrack.run.Run` the run fills as it goes and saves as ``Run.to_doc()``: something every run
should record is added here, once.

Calls like ``nbtrack.log_metric`` attach to the innermost active run of the calling thread
(:func:`push_active` / :func:`pop_active`). A failure inside nbtrack never changes the result of the
user's code: it becomes one clear warning and the run keeps what it can.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from nbtrack import ids, redact, values
from nbtrack.capture import artifacts, products
from nbtrack.capture.active import active_run as innermost_run
from nbtrack.capture.active import pop_active, push_active, require_run
from nbtrack.capture.guard import (
    MAX_NAME_LENGTH,
    STEP_MAX,
    STEP_MIN,
    SaveProblems,
    clean_key,
    clean_step,
    encode_now,
    error_record,
    items_of,
    max_metric_names,
    status_for,
    warn,
)
from nbtrack.capture.notebook import default_experiment, notebook_experiment, store_history
from nbtrack.errors import NbtrackWarning, NoActiveRunError
from nbtrack.run import Run, Status, owner_record
from nbtrack.store import series as series_codec
from nbtrack.store.local import Store

__all__ = [  # the module-level log_* functions live in capture/active.py
    "ActiveRun",
    "NbtrackWarning",
    "NoActiveRunError",
    "active_run",
    "clean_key",
    "default_experiment",
    "error_record",
    "notebook_experiment",
    "pop_active",
    "push_active",
    "require_run",
    "status_for",
    "warn",
]

MAX_CODE_CHARS = 1_000_000


def active_run() -> ActiveRun | None:
    """The innermost run being recorded in this thread, or None."""
    run: ActiveRun | None = innermost_run()
    return run


class ActiveRun:
    """A run being recorded. ``id`` is known from the start; ``record`` is the :class:`~nbtrack.run.Run`
    being filled; ``finish`` writes the final record."""

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
        self.record = Run(
            id=ids.new_run_id(),
            experiment=str(experiment) if experiment else "default",
            name=None if name is None else str(name),
            source=source,
            start_time=time.time(),
            owner=owner_record(),
            store=store,
        )
        store.open_run(self.record.id, self)  # its small blobs become durable with its final record
        self.profiles: dict[str, dict[str, Any]] = {}  # the data records with their profiles inline
        self.series: dict[str, dict[str, list[Any]]] = {}
        self._points: dict[str, tuple[list[Any], Callable[[Any], None], Callable[[Any], None]]] = {}
        self._lock = threading.Lock()
        self._stored = False  # the latest record written is in the store
        self._start_stored = False
        self.problems = SaveProblems()  # what could not be written to the store; reported once, at the end
        self._pending_history: list[str] | None = None  # blobs to retry when the run finishes
        self._pending_code: bytes | None = None
        self._pending_profiles: dict[str, dict[str, Any]] = {}
        self._written: Any = None
        self.max_metrics = max_metric_names()
        self._metrics_refused = 0
        self._git: Any = None  # the git probe started by start(environment=True)
        self._environment = False
        self.doc: dict[str, Any] | None = None  # the last record written
        self.log_params(params or {})
        self.set_tags(tags or {})

    def __repr__(self) -> str:
        return f"ActiveRun(id={self.id!r}, name={self.name!r}, status={str(self.status)!r})"

    # the record, read through ----------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def name(self) -> str | None:
        return self.record.name

    @property
    def experiment(self) -> str:
        return self.record.experiment

    @property
    def source(self) -> str | None:
        return self.record.source

    @property
    def status(self) -> Status:
        return self.record.status

    @property
    def start_time(self) -> float:
        return self.record.start_time

    @property
    def end_time(self) -> float | None:
        return self.record.end_time

    @property
    def error(self) -> dict[str, Any] | None:
        return self.record.error

    @property
    def params(self) -> dict[str, Any]:
        """The params logged so far, as they will read back."""
        return self.record.params

    @property
    def metrics(self) -> dict[str, float]:
        """The last value logged of each metric."""
        return self.record.metrics

    @property
    def tags(self) -> dict[str, Any]:
        return self.record.tags

    @property
    def data(self) -> dict[str, dict[str, Any]]:
        """Fingerprint records as stored (profiles moved to blobs); ``profiles`` has them inline."""
        return self.record.data_records

    # logging -------------------------------------------------------------------------------------

    @cached_property
    def redactor(self) -> redact.Redactor:  # looked up once: every param, tag and cell goes through it
        return redact.for_store(self.store.root)

    def log_param(self, name: Any, value: Any) -> None:
        key = clean_key(name, "param")
        if key is not None:
            encoded = encode_now(value, f"param {key!r}")  # warn at the call that passed the value
            with self._lock:  # a secret-looking name keeps a keyed hash of the value (nbtrack.redact)
                self.record.params[key] = self.redactor.param(key, values.decode(encoded))
                self.record.param_sources.pop(key, None)  # explicit: wins over a discovered value (hyperparams)

    def log_params(self, params: Mapping[str, Any]) -> None:
        for name, value in items_of(params, "log_params"):
            self.log_param(name, value)

    def log_metric(self, name: Any, value: Any, step: int | None = None) -> None:
        # Training loops call this thousands of times: a name this run already holds, a float and an int step
        # take the short path (the name was checked when its series began, see _begin_series).
        points = self._points.get(name) if type(name) is str else None
        key: str = name
        if points is None:
            if not (type(name) is str and 0 < len(name) <= MAX_NAME_LENGTH and "\x00" not in name and name.strip()):
                cleaned = clean_key(name, "metric")
                if cleaned is None:
                    return
                key = cleaned
            points = self._points.get(key)
        if type(value) is float:
            number = value
        else:
            try:
                number = values.to_float(value)
            except (TypeError, ValueError, OverflowError) as exc:
                warn(f"metric {key!r} not recorded: {exc}")
                return
        if step is not None and (type(step) is not int or not STEP_MIN <= step <= STEP_MAX):
            step = clean_step(step, key)
        if points is None and key not in self.record.metrics and len(self.record.metrics) >= self.max_metrics:
            self._metrics_refused += 1
            if self._metrics_refused == 1:
                warn(
                    f"run {self.id} has {self.max_metrics:,} metric names, the most a run keeps "
                    f"(NBTRACK_MAX_METRICS): {key!r} and further new names are not recorded"
                )
            return
        lock = self._lock
        lock.acquire()  # not `with`: its __enter__/__exit__ calls cost twice acquire/release, per point
        try:
            if points is None:
                points = self._begin_series(key)
            steps, add_value, add_time = points
            if step is None:
                step = steps[-1] + 1 if steps else 0
            steps.append(step)
            add_value(number if math.isfinite(number) else repr(number))
            add_time(time.time())
            self.record.metrics[key] = number
        finally:
            lock.release()

    def _begin_series(self, key: str) -> tuple[list[Any], Callable[[Any], None], Callable[[Any], None]]:
        """The series of a checked metric name (under the lock): its steps and the appends of its values and
        times, kept per name so each later point costs one dict lookup."""
        series = self.series.setdefault(key, {"step": [], "value": [], "time": []})
        points = self._points[key] = (series["step"], series["value"].append, series["time"].append)
        return points

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        for name, value in items_of(metrics, "log_metrics"):
            self.log_metric(name, value, step)

    def set_tag(self, key: Any, value: Any) -> None:
        name = clean_key(key, "tag")
        if name is not None:
            encoded = encode_now(value, f"tag {name!r}")
            with self._lock:
                self.record.tags[name] = self.redactor.param(name, values.decode(encoded))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        for key, value in items_of(tags, "set_tags"):
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
        self.add_data(key, record)
        return result

    def add_data(self, name: str, record: dict[str, Any]) -> None:
        """Record an input fingerprinted elsewhere (``Fingerprint.to_dict()``); its profile goes to a blob."""
        try:
            stored = store_profile(self.store, record)
        except OSError as exc:  # the store cannot be written: retried when the run finishes
            self.problems.fail(f"the profile of data {name!r}", exc)
            self._pending_profiles[name] = record
            stored = {k: v for k, v in record.items() if k != "profile"}
        except Exception as exc:
            warn(f"profile of data {name!r} not stored: {exc}")
            stored = {k: v for k, v in record.items() if k != "profile"}
        with self._lock:
            self.record.data_records[name] = stored
            self.profiles[name] = record

    def log_model(self, obj: Any, name: str | None = None) -> dict[str, Any] | None:
        """Save a trained model with this run (``run.models[name]``; see :mod:`nbtrack.capture.models`)."""
        from nbtrack.capture.models import log_model

        return log_model(self, obj, name)

    def log_artifact(self, path_or_bytes: Any, name: str | None = None) -> dict[str, dict[str, Any]]:
        """Keep a file, a directory's files or bytes as ``run.artifacts`` (see :mod:`nbtrack.capture.artifacts`)."""
        return artifacts.log_artifact(self, path_or_bytes, name)

    # what the code of the run is -----------------------------------------------------------------

    def attach_cell(
        self,
        code: str,
        *,
        history: list[str] | None = None,
        execution_count: int | None = None,
        cell_id: str | None = None,
        cell_key: str | None = None,
        parent: str | None = None,
    ) -> None:
        """The run's code is a notebook cell's body (kept inline); ``history``: the sources of every cell
        the kernel ran up to this one (stored as blobs, for export); ``parent``: the previous run of the cell."""
        record = self.record
        record.code_text = self.redactor.code(code)
        record.execution_count = execution_count
        record.cell_id = cell_id
        record.cell_key = cell_key
        record.parent = parent
        if history is not None:
            record.history_len = len(history)
            self._pending_history = history
            self._store_blobs()

    def attach_script(self, path: str | None, location: str | None = None) -> None:
        """The run's code is the script at ``path``, stored once as a blob however many runs it opens."""
        self.record.code_location = location if location is not None else path
        if not path or path.startswith("<") or not os.path.isfile(path):
            return
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")[:MAX_CODE_CHARS]
        except OSError:
            return
        self._pending_code = self.redactor.code(text).encode("utf-8", "surrogatepass")
        self._store_blobs()

    # blobs the store could not take when they came: retried when the run finishes -----------------

    def _store_blobs(self) -> None:
        history, code = self._pending_history, self._pending_code
        if history is not None and self._wrote("the notebook history", lambda: store_history(self.store, history)):
            self.record.history_blob, self._pending_history = self._written, None
        if code is not None and self._wrote("the script's code", lambda: self.store.put_blob(code)):
            self.record.code_blob, self._pending_code = self._written, None
        for name, data in list(self._pending_profiles.items()):
            if self._wrote(f"the profile of data {name!r}", partial(store_profile, self.store, data)):
                del self._pending_profiles[name]
                with self._lock:
                    self.record.data_records[name] = self._written

    def _wrote(self, part: str, write: Callable[[], Any]) -> bool:  # the result in _written; failures remembered
        try:
            self._written = write()
        except OSError as exc:
            self.problems.fail(part, exc)
            return False
        self.problems.ok(part)
        return True

    def note_unsaved(self, part: str, error: BaseException) -> None:
        """``part`` (e.g. "the notebook snapshot") could not be written: said in the run's one final warning."""
        self.problems.fail(part, error)

    # lifecycle -----------------------------------------------------------------------------------

    def start(self, *, environment: bool = False) -> ActiveRun:
        """Make this the active run and write the ``running`` record, so a crash mid-run still leaves a trace.

        ``environment``: record Python, packages and git state when the run finishes (the git probe
        starts now, in a thread, so it overlaps the run's code).
        """
        self._environment = environment
        if environment:
            try:
                from nbtrack.capture.environment import GitProbe

                self._git = GitProbe(Path.cwd())
            except Exception as exc:
                warn(f"git state of run {self.id} not recorded: {exc}")
        push_active(self)
        products.begin(self)  # figures shown and files written from now on (capture/products.py)
        self._save(final=False)
        return self

    def finish(self, status: Status | str | None = None, error: BaseException | None = None) -> None:
        """Write the final record: ``status`` (default: from ``error``), the error and the environment."""
        record = self.record
        if record.end_time is not None:
            return
        if self._environment and record.env_record is None:
            try:
                from nbtrack.capture.environment import capture

                if self._wrote("the environment", partial(capture, self.store, self._git)):  # its packages: a blob
                    record.env_record = self._written
            except Exception as exc:
                warn(f"environment of run {self.id} not recorded: {exc}")
        products.end(self)  # figures, output files, upstream runs
        record.end_time = time.time()
        record.duration = round(record.end_time - record.start_time, 6)
        record.status = Status(status) if status is not None else status_for(error)
        if error is not None:
            record.error = error_record(error, self.redactor)
        pop_active(self)
        self._save(final=True)

    def to_doc(self) -> dict[str, Any]:
        """The record as it stands, as the store would keep it."""
        with self._lock:
            return self.record.to_doc()

    def _save(self, final: bool) -> None:
        """Write the record. A store that cannot be written never breaks the user's code: the run stays in
        memory (``log_*`` keep working), the final save retries every part that failed, and one warning at
        the end says what was and was not saved."""
        if final:
            self._store_blobs()
            if self.series:
                try:
                    with self._lock:
                        series = {values.escape_text(k): v for k, v in self.series.items()}
                    self.record.series_blob = self.store.put_blob(series_codec.encode(series))
                except Exception as exc:
                    self.problems.fail("the metric series", exc)
                else:
                    self.problems.ok("the metric series")
        try:
            doc = self.to_doc()
            self.doc = doc
            # The `running` record is a breadcrumb the final record supersedes: no need to wait for the disk.
            self.store.put_run(doc, durable=final)
        except Exception as exc:  # never let the tracker break the user's code
            self._stored = False
            self.problems.fail("the run record", exc)
        else:
            self._stored = True
            self._start_stored = self._start_stored or not final
            self.problems.ok("the run record")
            if os.environ.get("NBTRACK_TRACKING_URI"):  # direct logging to a server (remote/); never raises
                from nbtrack.remote.live import live_log

                live_log(self.store, doc, final)
        if final:
            message = self.problems.message(
                self.id,
                self.store.root,
                record_saved=self._stored,
                start_saved=self._start_stored,
                code="cell" if self.source == "magic" else "code",
            )
            if message:
                warn(message)

    @property
    def saved(self) -> bool:
        """The latest record is in the store (the final one, once the run finished)."""
        return self._stored

    def as_run(self) -> Run:
        """The run as the store now holds it."""
        return Run.from_doc(self.store.get_doc(self.id), self.store)


def store_profile(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    """The record to keep in the run: its profile (often 1-2 KB per column) moves to a shared blob.

    Run records stay small, so listing 10,000 runs stays fast, and reruns on the same data share one
    profile file. ``Run.data`` puts profiles back when a run is read.
    """
    profile = record.get("profile")
    if profile is None:
        return record
    slim = {k: v for k, v in record.items() if k != "profile"}
    slim["profile_blob"] = store.put_json(profile)
    return slim
