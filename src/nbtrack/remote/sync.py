"""Team scale: push runs to an MLflow tracking server, idempotently and incrementally, and pull them back.

``push`` copies local runs to any tracking URI MLflow accepts (``http://host:port`` most often): params
(in ``str()`` form), every metric point, tags, status and times, data fingerprints as dataset inputs, and
the record, code, execution history, notebook snapshot and package list as artifacts. Each MLflow run
carries the tag ``nbtrack.run_id``, so a run is created once however often it is pushed; the local push
state (see :mod:`nbtrack.remote.state`) records which parts of which run the server confirmed, so a rerun
skips finished runs without asking the server about each one and completes the interrupted ones.

``pull`` imports the runs of one MLflow experiment into the local store (params, metrics, series, tags),
beside the local runs. With ``NBTRACK_TRACKING_URI`` set, every run is also sent to that server as it
starts and ends (:func:`live_log`); the local store stays the source of truth.

MLflow is imported only inside these functions: ``import nbtrack`` stays cheap.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import queue
import re
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbtrack import format as fmt
from nbtrack import ids, values
from nbtrack.errors import RemoteError
from nbtrack.remote.mapping import (
    ARTIFACT_CODE,
    ARTIFACT_HISTORY_JSON,
    ARTIFACT_NOTEBOOK,
    ARTIFACT_RECORD,
    ARTIFACT_REQUIREMENTS,
    MLFLOW_TO_STATUS,
    STATUS_TO_MLFLOW,
    TAG_LONG_PARAM,
    TAG_LONG_TAG,
    TAG_PUSHED,
    TAG_RENAMED,
    TAG_RUN_ID,
    TAG_STATUS,
    Batch,
    Payload,
    build_payload,
    data_from_dataset,
    derived_run_id,
    digest,
    final_value,
    mlflow_key,
    parse_param,
    parse_requirements,
    plan_batches,
    record_signature,
    series_value,
    value_text,
)
from nbtrack.remote.state import PushBusyError, PushState, redact_uri, uri_key
from nbtrack.run import effective_status
from nbtrack.store.local import Store, get_store

LIVE_ENV = "NBTRACK_TRACKING_URI"
DEFAULT_WORKERS = 4
PROBE_TIMEOUT = 8  # seconds per attempt, two attempts: an unreachable server fails the push in < 30 s
# MLflow's client retries a failed request 7 times with exponential backoff and waits 120 s for each answer
# by default: minutes before a dead server is reported. During a push, unless the user set them:
PUSH_HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # set_terminated would print a link per run
}
_LOOKUP_ONE_BY_ONE = 10  # up to this many runs are looked up by exact tag; more: one listing per experiment
_MAX_CONSECUTIVE_FAILURES = 10


# MLflow access --------------------------------------------------------------------------------------------

_env_guard = threading.Lock()
_env_depth = 0
_env_set: list[str] = []


@contextlib.contextmanager
def _http_limits() -> Any:
    """Bound MLflow's HTTP retries and timeouts for the duration (values the user set are kept)."""
    global _env_depth
    with _env_guard:
        if _env_depth == 0:
            for key, value in PUSH_HTTP_ENV.items():
                if key not in os.environ:
                    os.environ[key] = value
                    _env_set.append(key)
        _env_depth += 1
    try:
        yield
    finally:
        with _env_guard:
            _env_depth -= 1
            if _env_depth == 0:
                for key in _env_set:
                    os.environ.pop(key, None)
                _env_set.clear()


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError as exc:
        raise RemoteError(f"MLflow is not installed ({exc}): pip install 'nbtrack[mlflow]'") from None
    return mlflow


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    match = re.search(
        r"(Connection refused|Name or service not known|timed out|Temporary failure in name resolution"
        r"|No route to host|Connection reset by peer|RemoteDisconnected|Network is unreachable)",
        text,
    )
    if match:
        return match.group(1)
    return text[:limit] + ("..." if len(text) > limit else "")


def _is_connection_error(exc: BaseException) -> bool:
    """True when the server could not be reached (or stopped answering), as opposed to rejecting a request."""
    try:
        from mlflow.exceptions import RestException
    except ImportError:  # pragma: no cover
        RestException = ()  # type: ignore[assignment]
    if isinstance(exc, RestException):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    text = str(exc)
    return any(
        s in text
        for s in (
            "Max retries exceeded",
            "Connection refused",
            "ConnectionError",
            "timed out",
            "Connection aborted",
            "RemoteDisconnected",
            "Failed to establish",
            "Connection reset",
            "Name or service not known",
        )
    )


def _json_double(value: float) -> Any:
    """A float as protobuf's JSON mapping writes doubles (JSON has no NaN or infinities)."""
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return value


class _Server:
    """One tracking server, through MlflowClient (plus the artifact repository of each run)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.strip()
        self.name = redact_uri(self.uri)
        self.mlflow = _import_mlflow()
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=self.uri)
        self._repos: dict[str, Any] = {}
        self._repos_guard = threading.Lock()
        self._scratch_dirs: list[str] = []
        self._inputs_supported = True
        self.bytes_sent = 0
        self._bytes_guard = threading.Lock()
        self._local = threading.local()

    def count(self, nbytes: int) -> None:
        with self._bytes_guard:
            self.bytes_sent += nbytes
        self._local.bytes = getattr(self._local, "bytes", 0) + nbytes

    def thread_bytes(self) -> int:
        """Bytes sent by the calling thread so far (a run is pushed by one thread)."""
        return getattr(self._local, "bytes", 0)

    def probe(self) -> None:
        """Fail fast (two attempts of PROBE_TIMEOUT s) when the server cannot be reached."""
        creds = self._host_creds()
        if creds is None:  # not a REST server (sqlite:, file:...): nothing to probe
            return
        from mlflow.utils.rest_utils import http_request

        try:
            response = http_request(
                creds,
                "/api/2.0/mlflow/experiments/search",
                "POST",
                json={"max_results": 1},
                max_retries=1,
                backoff_factor=1,
                timeout=PROBE_TIMEOUT,
                raise_on_status=False,
            )
        except Exception as exc:
            raise RemoteError(f"cannot reach the MLflow tracking server {self.name}: {_short(exc)}") from None
        if response.status_code in (401, 403):
            raise RemoteError(
                f"the MLflow tracking server {self.name} refused the credentials "
                f"(HTTP {response.status_code}); set MLFLOW_TRACKING_TOKEN or "
                f"MLFLOW_TRACKING_USERNAME/PASSWORD"
            )
        if response.status_code >= 500 or response.status_code == 404:
            raise RemoteError(
                f"{self.name} does not answer as an MLflow tracking server "
                f"(HTTP {response.status_code} from the search API)"
            )

    # experiments ----------------------------------------------------------------------------------

    def experiment_id(self, name: str, create: bool) -> tuple[str | None, bool]:
        """(id, created now); (None, False) when it does not exist and ``create`` is false."""
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            if experiment.lifecycle_stage == "deleted":
                raise RemoteError(
                    f"experiment {name!r} is deleted on {self.name}: restore it there "
                    f"(mlflow experiments restore) or push to another experiment"
                )
            return experiment.experiment_id, False
        if not create:
            return None, False
        from mlflow.exceptions import MlflowException

        try:
            return self.client.create_experiment(name), True
        except MlflowException:
            experiment = self.client.get_experiment_by_name(name)  # created meanwhile by someone else
            if experiment is None:
                raise
            return experiment.experiment_id, False

    def search(self, experiment_id: str, filter_string: str = "") -> list[Any]:
        runs: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs(
                [experiment_id], filter_string=filter_string, max_results=1000, page_token=token
            )
            runs.extend(page)
            token = getattr(page, "token", None)
            if not token:
                return runs

    def find_pushed(self, experiment_id: str, run_ids: Sequence[str]) -> dict[str, Any]:
        """nbtrack id -> the MLflow run carrying it, among ``run_ids``."""
        wanted = set(run_ids)
        if len(wanted) <= _LOOKUP_ONE_BY_ONE:
            found: list[Any] = []
            for run_id in sorted(wanted):
                found.extend(self.search(experiment_id, f"tags.`{TAG_RUN_ID}` = '{run_id}'"))
        else:
            found = self.search(experiment_id, f"tags.`{TAG_RUN_ID}` LIKE '%'")
        result: dict[str, Any] = {}
        for run in sorted(found, key=lambda r: r.info.start_time or 0):
            nb_id = run.data.tags.get(TAG_RUN_ID)
            if nb_id in wanted and nb_id not in result:  # the oldest, if a race ever made two
                result[nb_id] = run
        return result

    # runs -----------------------------------------------------------------------------------------

    def run_alive(self, mlflow_run_id: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.get_run(mlflow_run_id)
        except MlflowException as exc:
            if _is_connection_error(exc):
                raise
            return False
        return run.info.lifecycle_stage != "deleted"

    def create_run(self, experiment_id: str, payload: Payload) -> Any:
        tags = {TAG_RUN_ID: payload.run_id}
        run = self.client.create_run(experiment_id, start_time=payload.start_ms, tags=tags, run_name=payload.name)
        self.count(200)
        return run

    def _host_creds(self) -> Any:
        """The REST store's credentials, or None for stores that are not a REST server."""
        store = getattr(getattr(self.client, "_tracking_client", None), "store", None)
        get_creds = getattr(store, "get_host_creds", None)
        return get_creds() if callable(get_creds) else None

    def log_batch(self, mlflow_run_id: str, batch: Batch) -> None:
        creds = self._host_creds()
        if creds is None:
            from mlflow.entities import Metric, Param, RunTag

            self.client.log_batch(
                mlflow_run_id,
                metrics=[Metric(key, value, timestamp, step) for key, value, timestamp, step in batch.metrics],
                params=[Param(key, value) for key, value in batch.params],
                tags=[RunTag(key, value) for key, value in batch.tags],
            )
        else:
            # The same POST runs/log-batch request MlflowClient.log_batch makes, through MLflow's own HTTP
            # layer (auth, retries, headers), with the JSON body built directly: MLflow's entity -> protobuf
            # -> JSON conversion costs ~40 ms of client CPU per 1,000 metric points.
            from mlflow.utils.rest_utils import http_request, verify_rest_response

            body = {
                "run_id": mlflow_run_id,
                "metrics": [
                    {"key": k, "value": _json_double(v), "timestamp": t, "step": s} for k, v, t, s in batch.metrics
                ],
                "params": [{"key": k, "value": v} for k, v in batch.params],
                "tags": [{"key": k, "value": v} for k, v in batch.tags],
            }
            endpoint = "/api/2.0/mlflow/runs/log-batch"
            response = http_request(
                creds,
                endpoint,
                "POST",
                data=json.dumps(body).encode("utf-8"),
                extra_headers={"Content-Type": "application/json"},
            )
            verify_rest_response(response, endpoint)
        self.count(batch.size())

    def log_inputs(self, mlflow_run_id: str, datasets: list[dict[str, Any]]) -> bool:
        """Dataset inputs; False when the server has no such API (the caller falls back to tags)."""
        if not self._inputs_supported:
            return False
        from mlflow.exceptions import MlflowException

        try:
            from mlflow.entities import Dataset, DatasetInput, InputTag
        except ImportError:
            self._inputs_supported = False
            return False
        inputs = [DatasetInput(Dataset(**d), tags=[InputTag("mlflow.data.context", "input")]) for d in datasets]
        try:
            self.client.log_inputs(mlflow_run_id, inputs)
        except MlflowException as exc:
            unsupported = "ENDPOINT_NOT_FOUND" in str(exc) or "not implemented" in str(exc)
            if _is_connection_error(exc) or not unsupported:
                raise
            self._inputs_supported = False
            return False
        self.count(sum(len(json.dumps(d)) for d in datasets))
        return True

    def set_terminated(self, mlflow_run_id: str, status: str, end_ms: int | None) -> None:
        self.client.set_terminated(mlflow_run_id, status=status, end_time=end_ms)
        self.count(100)

    def _repo(self, mlflow_run_id: str, artifact_uri: str | None) -> Any:
        with self._repos_guard:
            repo = self._repos.get(mlflow_run_id)
        if repo is not None:
            return repo
        if not artifact_uri:
            artifact_uri = self.client.get_run(mlflow_run_id).info.artifact_uri
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        try:
            repo = get_artifact_repository(artifact_uri, tracking_uri=self.uri)
        except TypeError:  # MLflow < 3: resolved against the global tracking URI
            repo = None
        with self._repos_guard:
            if len(self._repos) > 256:
                self._repos.clear()
            self._repos[mlflow_run_id] = repo
        return repo

    def _scratch(self) -> str:
        """A private temporary folder of the calling thread (artifact files are written there to upload)."""
        folder = getattr(self._local, "scratch", None)
        if folder is None:
            folder = self._local.scratch = tempfile.mkdtemp(prefix="nbtrack-push-")
            with self._repos_guard:
                self._scratch_dirs.append(folder)
        return folder

    def close(self) -> None:
        import shutil

        with self._repos_guard:
            for folder in self._scratch_dirs:
                shutil.rmtree(folder, ignore_errors=True)
            self._scratch_dirs.clear()

    def upload(self, mlflow_run_id: str, artifact_uri: str | None, path: str, data: bytes) -> None:
        folder, name = os.path.split(path)
        repo = self._repo(mlflow_run_id, artifact_uri)
        local = os.path.join(self._scratch(), name)
        with open(local, "wb") as f:
            f.write(data)
        try:
            if repo is not None:
                repo.log_artifact(local, folder or None)
            else:
                self.client.log_artifact(mlflow_run_id, local, folder or None)
        finally:
            os.unlink(local)
        self.count(len(data))

    def download(self, mlflow_run_id: str, artifact_uri: str | None, path: str) -> bytes | None:
        """An artifact's bytes, or None when the run has no such artifact."""
        from mlflow.exceptions import MlflowException

        repo = self._repo(mlflow_run_id, artifact_uri)
        with tempfile.TemporaryDirectory(prefix="nbtrack-pull-") as tmp:
            try:
                if repo is not None:
                    local = repo.download_artifacts(path, tmp)
                else:
                    local = self.client.download_artifacts(mlflow_run_id, path, tmp)
                return Path(local).read_bytes()
            except (MlflowException, OSError) as exc:
                if _is_connection_error(exc):
                    raise
                return None

    def metric_history(self, mlflow_run_id: str, key: str) -> list[Any]:
        return list(self.client.get_metric_history(mlflow_run_id, key))


# selecting runs -------------------------------------------------------------------------------------------

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str | float | _dt.datetime | _dt.date) -> float:
    """``--since``: an ISO date or date-time (local time unless it has an offset), or an age like 7d, 12h, 30m."""
    if isinstance(text, (int, float)):
        return float(text)
    if isinstance(text, _dt.datetime):
        return text.timestamp()
    if isinstance(text, _dt.date):
        return _dt.datetime(text.year, text.month, text.day).timestamp()
    match = _RELATIVE.match(str(text))
    if match:
        return time.time() - float(match.group(1)) * _UNITS[match.group(2).lower()]
    try:
        moment = _dt.datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise RemoteError(
            f"--since {str(text)[:60]!r} is not a date (2024-05-01, 2024-05-01T14:30) or an age (7d, 12h, 30m)"
        ) from None
    return moment.timestamp()


def _select(
    store: Store,
    docs: dict[str, dict[str, Any]],
    runs: Iterable[str] | None,
    experiment: str | Sequence[str] | None,
    since: Any,
) -> list[dict[str, Any]]:
    chosen = [docs[store.resolve(r)] for r in dict.fromkeys(runs)] if runs else list(docs.values())
    if experiment:
        wanted = {experiment} if isinstance(experiment, str) else set(experiment)
        chosen = [d for d in chosen if (d.get("experiment") or "default") in wanted]
    if since is not None:
        cutoff = parse_since(since)
        chosen = [d for d in chosen if (d.get("start_time") or 0) >= cutoff]
    return sorted(chosen, key=lambda d: d["id"])


# reports and progress -------------------------------------------------------------------------------------


@dataclass
class RunAction:
    """What a push or pull did (or, for a dry run, would do) with one run."""

    run_id: str
    experiment: str
    action: str  # create, resume, update, up to date, skip, import, failed
    detail: str = ""
    mlflow_run_id: str | None = None
    bytes: int = 0
    error: str | None = None

    def line(self, dry_run: bool) -> str:
        verb = (
            f"would {self.action}"
            if dry_run and self.action in ("create", "resume", "update", "import")
            else self.action
        )
        text = f"{verb:<16} {self.run_id}  {self.experiment}"
        if self.detail:
            text += f"  {self.detail}"
        if self.error:
            text += f"  ({self.error})"
        return text


@dataclass
class Report:
    """The outcome of :func:`push` or :func:`pull`; ``str()`` is a one-line summary."""

    kind: str  # push or pull
    server: str
    dry_run: bool = False
    actions: list[RunAction] = field(default_factory=list)
    seconds: float = 0.0
    bytes: int = 0

    def by(self, *names: str) -> list[RunAction]:
        return [a for a in self.actions if a.action in names]

    @property
    def sent(self) -> list[RunAction]:
        return self.by("create", "resume", "update", "import")

    @property
    def failed(self) -> list[RunAction]:
        return self.by("failed")

    @property
    def skipped(self) -> list[RunAction]:
        return self.by("up to date", "skip")

    def __str__(self) -> str:
        counts = ", ".join(
            f"{len(self.by(n))} {n}"
            for n in ("create", "resume", "update", "import", "up to date", "skip", "failed")
            if self.by(n)
        )
        where = "to" if self.kind == "push" else "from"
        if self.dry_run:
            return f"dry run: {self.kind} {where} {self.server}: {counts or 'nothing to do'}"
        rate = f", {len(self.sent) / self.seconds:.1f} runs/s" if self.sent and self.seconds > 0 else ""
        size = f", {_human(self.bytes)}" if self.bytes else ""
        return f"{self.kind} {where} {self.server}: {counts or 'nothing to do'} in {self.seconds:.1f} s{rate}{size}"


def _human(nbytes: float) -> str:
    return fmt.size(nbytes)


class _Progress:
    """Runs and bytes on stderr: a redrawn bar on a terminal, a line every few seconds otherwise."""

    def __init__(self, label: str, total_runs: int, total_bytes: int, enabled: bool | None) -> None:
        self.stream = sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = (tty if enabled is None else enabled) and total_runs > 0
        self.tty = tty
        self.label, self.total_runs, self.total_bytes = label, total_runs, total_bytes
        self.runs = 0
        self.bytes = 0
        self.started = time.monotonic()
        self._last = 0.0
        self._guard = threading.Lock()

    def advance(self, runs: int = 0, nbytes: int = 0) -> None:
        with self._guard:
            self.runs += runs
            self.bytes += nbytes
            if not self.enabled:
                return
            now = time.monotonic()
            interval = 0.1 if self.tty else 5.0
            if now - self._last >= interval or self.runs == self.total_runs:
                self._last = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-6)
        fraction = self.runs / self.total_runs if self.total_runs else 1.0
        size = f"{_human(self.bytes)}/{_human(self.total_bytes)}" if self.total_bytes else _human(self.bytes)
        text = f"{self.label} {self.runs:,}/{self.total_runs:,} runs  {size}  {self.runs / elapsed:.1f} runs/s"
        if self.tty:
            width = 24
            filled = int(width * fraction)
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


# push ----------------------------------------------------------------------------------------------------


def push(
    uri: str,
    runs: Iterable[str] | None = None,
    *,
    experiment: str | Sequence[str] | None = None,
    since: Any = None,
    store: str | Path | Store | None = None,
    dry_run: bool = False,
    force: bool = False,
    workers: int | None = None,
    progress: bool | None = None,
) -> Report:
    """Copy runs to the MLflow tracking server at ``uri``; returns a :class:`Report`.

    ``runs``: ids or id prefixes (default: every run); ``experiment``: only runs of this experiment (or
    these); ``since``: only runs started since a date or age (``"2024-05-01"``, ``"7d"``). Each run goes
    to the MLflow experiment of the same name, created when missing. Runs still running are left for a
    later push. Pushing again sends only what is new or changed; a push that was cut short resumes.
    ``force`` looks every run up on the server instead of trusting the local push state.
    Raises :class:`RemoteError` when the server cannot be reached (within 30 s).
    """
    started = time.monotonic()
    st = get_store(store)
    chosen = _select(st, st.run_docs(), runs, experiment, since)
    report = Report("push", redact_uri(uri.strip()), dry_run=dry_run)
    state = PushState(st.root, uri)
    if not dry_run:
        try:
            state.acquire(timeout=15)  # direct logging may hold it for a moment
        except PushBusyError as exc:
            raise RemoteError(str(exc)) from None
    server: _Server | None = None
    try:
        server = _Server(uri)
        with _http_limits():
            server.probe()
            work = _plan_push(server, state, st, chosen, report, dry_run=dry_run, force=force)
            if not dry_run and work:
                _run_push(server, state, st, work, report, workers or DEFAULT_WORKERS, progress)
            report.bytes = server.bytes_sent
    finally:
        if server is not None:
            server.close()
        state.close()
        if not dry_run:
            with contextlib.suppress(OSError):
                state.maybe_compact()
            state.release()
    report.seconds = time.monotonic() - started
    return report


@dataclass
class _Work:
    doc: dict[str, Any]
    action: RunAction
    experiment_id: str | None
    found: Any = None  # the MLflow run found on the server by its tag, when the state did not know it
    looked_up: bool = False  # the server was asked: its answer (found or not) overrides the push state


def _plan_push(
    server: _Server,
    state: PushState,
    store: Store,
    docs: list[dict[str, Any]],
    report: Report,
    *,
    dry_run: bool,
    force: bool,
) -> list[_Work]:
    this_server = uri_key(server.uri)
    experiments: dict[str, tuple[str | None, bool]] = {}
    work: list[_Work] = []
    for doc in docs:
        name = str(doc.get("experiment") or "default")
        action = RunAction(doc["id"], name, "")
        report.actions.append(action)
        status = effective_status(doc)
        if status == "running":
            action.action, action.detail = "skip", "still running: pushed once it ends"
            continue
        origin = doc.get("origin") or {}
        if origin.get("server_key") == this_server:
            action.action, action.detail = "skip", "pulled from this server"
            continue
        if name not in experiments:
            experiments[name] = server.experiment_id(name, create=not dry_run)
        experiment_id, created = experiments[name]
        entry = state.get(doc["id"])
        signature = record_signature(doc)
        known = entry.get("run") and entry.get("exp") == experiment_id
        if known and not force and entry.get("done") == signature:
            action.action, action.mlflow_run_id = "up to date", entry["run"]
            continue
        item = _Work(doc, action, experiment_id)
        if known and not force:
            action.action = "update" if entry.get("done") else "resume"
            action.mlflow_run_id = entry["run"]
        elif experiment_id is None or created:
            action.action = "create"  # a new experiment holds no run of ours
        else:
            action.action = "lookup"
        work.append(item)

    # runs the state does not know in experiments that already existed: find them by their tag
    lookups: dict[str, list[_Work]] = {}
    for item in work:
        if item.action.action == "lookup":
            lookups.setdefault(item.experiment_id or "", []).append(item)
    for experiment_id, items in lookups.items():
        found = server.find_pushed(experiment_id, [i.doc["id"] for i in items])
        for item in items:
            run = found.get(item.doc["id"])
            item.looked_up = True
            if run is None:
                item.action.action = "create"
                continue
            item.found = run
            item.action.mlflow_run_id = run.info.run_id
            signature = record_signature(item.doc)
            expected = _mlflow_status(item.doc)
            if run.data.tags.get(TAG_PUSHED) == signature and run.info.status == expected:
                item.action.action = "up to date"
                if not dry_run:
                    state.record(
                        item.doc["id"],
                        reset=True,
                        run=run.info.run_id,
                        exp=experiment_id,
                        art=run.info.artifact_uri,
                        done=signature,
                    )
            else:
                item.action.action = "resume" if not run.data.tags.get(TAG_PUSHED) else "update"
    work = [w for w in work if w.action.action != "up to date"]
    if dry_run:
        for item in work:
            payload = build_payload(item.doc, store)
            item.action.bytes = payload.estimated_bytes()
            item.action.detail = _payload_summary(payload)
    return work


def _mlflow_status(doc: dict[str, Any]) -> str:
    return STATUS_TO_MLFLOW.get(effective_status(doc), "FINISHED")


def _payload_summary(payload: Payload) -> str:
    return (
        f"{len(payload.params)} params, {payload.metric_points:,} metric points, {len(payload.tags)} tags, "
        f"{len(payload.datasets)} inputs, {len(payload.artifacts)} artifacts ({_human(payload.estimated_bytes())})"
    )


class _Abort(Exception):
    """Raised in workers once the push is being stopped."""


def _run_push(
    server: _Server,
    state: PushState,
    store: Store,
    work: list[_Work],
    report: Report,
    workers: int,
    progress: bool | None,
) -> None:
    bar = _Progress("push", len(work), 0, progress)
    stop = threading.Event()
    failures = {"consecutive": 0}
    sent = {"runs": 0}
    fatal: list[BaseException] = []
    guard = threading.Lock()

    def one(item: _Work) -> None:
        if stop.is_set():
            raise _Abort
        try:
            payload = build_payload(item.doc, store)
            for note in payload.notes:
                _warn(f"run {item.doc['id']}: {note}")
            before = server.thread_bytes()
            mlflow_id = _push_run(
                server, state, payload, item.experiment_id or "", item.found, stop, use_state=not item.looked_up
            )
            item.action.mlflow_run_id = mlflow_id
            item.action.bytes = server.thread_bytes() - before
            with guard:
                failures["consecutive"] = 0
                sent["runs"] += 1
            bar.advance(1, item.action.bytes)
        except _Abort:
            raise
        except Exception as exc:
            if _is_connection_error(exc) or isinstance(exc, RemoteError):
                with guard:
                    fatal.append(exc)
                stop.set()
                raise _Abort from None
            item.action.action, item.action.error = "failed", _short(exc)
            bar.advance(1)
            with guard:
                failures["consecutive"] += 1
                if failures["consecutive"] >= _MAX_CONSECUTIVE_FAILURES:
                    fatal.append(
                        RemoteError(
                            f"{failures['consecutive']} runs in a row were refused by "
                            f"{server.name}; last: {_short(exc)}"
                        )
                    )
                    stop.set()

    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="nbtrack-push")
    try:
        wait([pool.submit(one, item) for item in work])
    except BaseException:  # Ctrl-C: finish the requests in flight (the state stays exact), start no more
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    if fatal:
        done = sent["runs"]
        exc = fatal[0]
        if isinstance(exc, RemoteError):
            reason = str(exc)
        else:
            reason = f"lost the MLflow tracking server {server.name}: {_short(exc)}"
        raise RemoteError(f"{reason} ({done} of {len(work)} runs sent; run the same push again to resume)")


def _push_run(
    server: _Server,
    state: PushState,
    payload: Payload,
    experiment_id: str,
    found: Any,
    stop: threading.Event | None = None,
    final: bool = True,
    use_state: bool = True,
) -> str:
    """Send what the server does not have yet of one run; returns its MLflow run id.

    ``found``: the MLflow run the server holds for it, when it was looked up; ``use_state=False``: the
    lookup's answer stands, whatever the push state remembers."""
    run_id = payload.run_id
    entry = state.get(run_id)
    mlflow_id: str | None = None
    artifact_uri: str | None = None
    parts: dict[str, Any] = {}
    if found is not None and not (use_state and entry.get("run") == found.info.run_id):
        mlflow_id, artifact_uri = found.info.run_id, found.info.artifact_uri
        state.record(run_id, reset=True, run=mlflow_id, exp=experiment_id, art=artifact_uri)
    elif use_state and entry.get("run") and entry.get("exp") == experiment_id:
        mlflow_id, artifact_uri, parts = entry["run"], entry.get("art"), entry["parts"]
        if not entry.get("done") and not server.run_alive(mlflow_id):
            mlflow_id, artifact_uri, parts = None, None, {}
    if mlflow_id is None:
        run = server.create_run(experiment_id, payload)
        mlflow_id, artifact_uri = run.info.run_id, run.info.artifact_uri
        state.record(run_id, reset=True, run=mlflow_id, exp=experiment_id, art=artifact_uri)

    def check() -> None:
        if stop is not None and stop.is_set():
            raise _Abort

    if final:
        for path, data in payload.artifacts.items():
            key = f"a:{path}"
            content = hashlib.blake2b(data, digest_size=10).hexdigest()
            if parts.get(key) != content:
                check()
                server.upload(mlflow_id, artifact_uri, path, data)
                state.record(run_id, parts={key: content})
    if payload.datasets:
        content = digest(payload.datasets)
        if parts.get("inputs") != content:
            check()
            if not server.log_inputs(mlflow_id, payload.datasets):
                payload.tags.extend(payload.data_tags)
            state.record(run_id, parts={"inputs": content})
    marker = (TAG_PUSHED, payload.signature if final else "")
    for batch in plan_batches(payload, parts, marker):
        check()
        server.log_batch(mlflow_id, batch)
        if batch.completes:
            state.record(run_id, parts=batch.completes)
    if final:
        end = [payload.mlflow_status, payload.end_ms]
        if payload.mlflow_status != "RUNNING" and parts.get("end") != end:
            check()
            server.set_terminated(mlflow_id, payload.mlflow_status, payload.end_ms or payload.start_ms)
        state.record(run_id, parts={"end": end}, done=payload.signature)
    return mlflow_id


def _warn(message: str) -> None:
    from nbtrack.capture.lifecycle import NbtrackWarning

    warnings.warn(f"nbtrack: {message}", NbtrackWarning, stacklevel=2)


# pull ----------------------------------------------------------------------------------------------------


def pull(
    uri: str,
    experiment: str,
    *,
    store: str | Path | Store | None = None,
    dry_run: bool = False,
    workers: int | None = None,
    progress: bool | None = None,
) -> Report:
    """Import the runs of MLflow experiment ``experiment`` on ``uri`` into the local store.

    Runs pushed by nbtrack come back as they were recorded (typed params, data fingerprints, code,
    history, notebook snapshot, package list), plus what was added on the server since; other runs get
    their params parsed back into Python values where they read as literals (``"0.1"`` -> 0.1), every
    metric point, tags and dataset inputs. A run already in the store is left alone when it was recorded
    here, and refreshed when it was pulled and has changed on the server since.
    """
    started = time.monotonic()
    st = get_store(store)
    report = Report("pull", redact_uri(uri.strip()), dry_run=dry_run)
    server = _Server(uri)
    with _http_limits():
        server.probe()
        experiment_id, _ = server.experiment_id(experiment, create=False)
        if experiment_id is None:
            raise RemoteError(f"no experiment {experiment!r} on {server.name}")
        remote_runs = server.search(experiment_id)
        local = st.run_docs()
        todo: list[tuple[Any, RunAction, str]] = []
        for run in sorted(remote_runs, key=lambda r: (r.info.start_time or 0, r.info.run_id)):
            tagged = run.data.tags.get(TAG_RUN_ID)
            nb_id = tagged if ids.is_run_id(tagged) else derived_run_id(run.info.run_id, run.info.start_time)
            action = RunAction(nb_id, experiment, "", mlflow_run_id=run.info.run_id)
            report.actions.append(action)
            existing = local.get(nb_id)
            stamp = _remote_stamp(run)
            if existing is not None and not existing.get("origin"):
                action.action, action.detail = "skip", "recorded in this store"
            elif existing is not None and existing["origin"].get("stamp") == stamp:
                action.action = "up to date"
            else:
                action.action = "update" if existing is not None else "import"
                action.detail = (
                    f"{len(run.data.params)} params, {len(run.data.metrics)} metrics, {len(run.data.tags)} tags"
                )
                todo.append((run, action, stamp))
        if not dry_run and todo:
            bar = _Progress("pull", len(todo), 0, progress)

            def one(item: tuple[Any, RunAction, str]) -> None:
                run, action, stamp = item
                try:
                    doc = _pulled_record(server, st, run, action.run_id, experiment, stamp)
                    st.put_run(doc)
                except Exception as exc:
                    if _is_connection_error(exc):
                        raise
                    action.action, action.error = "failed", _short(exc)
                bar.advance(1)

            with ThreadPoolExecutor(
                max_workers=max(1, workers or DEFAULT_WORKERS), thread_name_prefix="nbtrack-pull"
            ) as pool:
                futures = [pool.submit(one, item) for item in todo]
                wait(futures)
            bar.close()
            for future in futures:
                exc = future.exception()
                if exc is not None:
                    raise RemoteError(
                        f"lost the MLflow tracking server {server.name}: {_short(exc)} (pull again to finish)"
                    ) from None
        report.bytes = server.bytes_sent
    report.seconds = time.monotonic() - started
    return report


def _remote_stamp(run: Any) -> str:
    info, data = run.info, run.data
    return digest(
        [
            info.status,
            info.end_time,
            info.run_name,
            sorted(data.params.items()),
            sorted(data.metrics.items()),
            sorted(data.tags.items()),
        ]
    )


def _pulled_record(server: _Server, store: Store, run: Any, nb_id: str, experiment: str, stamp: str) -> dict[str, Any]:
    info, data = run.info, run.data
    mlflow_id = info.run_id
    tags = dict(data.tags)
    renamed: dict[str, str] = {}
    with contextlib.suppress(ValueError, TypeError):
        renamed = dict(json.loads(tags.get(TAG_RENAMED, "{}")))
    record: dict[str, Any] | None = None
    if TAG_RUN_ID in tags:
        raw = server.download(mlflow_id, info.artifact_uri, ARTIFACT_RECORD)
        if raw is not None:
            with contextlib.suppress(ValueError):
                record = json.loads(raw)
            if not isinstance(record, dict) or record.get("id") != nb_id:
                record = None

    # series: every point MLflow holds, in the order they were logged
    series: dict[str, dict[str, list[Any]]] = {}
    for key in sorted(data.metrics):
        history = sorted(server.metric_history(mlflow_id, key), key=lambda m: (m.timestamp, m.step))
        name = renamed.get(key, key)
        series[name] = {
            "step": [int(m.step) for m in history],
            "value": [series_value(float(m.value)) for m in history],
            "time": [m.timestamp / 1000 for m in history],
        }
    remote_metrics = {renamed.get(k, k): final_value(float(v)) for k, v in data.metrics.items()}
    ours = {k for k in tags if k.startswith("nbtrack.")} | {"mlflow.runName"}

    if record is not None:
        doc = dict(record)
        _restore_blobs(server, store, run, doc)
        _restore_profiles(store, run, doc)
        # what was added on the server since the push: new params and metrics, new or changed tags
        params = dict(doc.get("params") or {})
        pushed_params = {mlflow_key(k) for k in params}
        for key, text in data.params.items():
            if key not in pushed_params and renamed.get(key, key) not in params:
                params[renamed.get(key, key)] = _encoded(parse_param(text))
        doc["params"] = params
        metrics = dict(doc.get("metrics") or {})
        for name, value in remote_metrics.items():
            metrics.setdefault(name, _encoded(value))
        doc["metrics"] = metrics
        doc_tags = dict(doc.get("tags") or {})
        long_keys = {k[len(TAG_LONG_TAG) :] for k in tags if k.startswith(TAG_LONG_TAG)}
        by_key = {mlflow_key(k): k for k in doc_tags}
        for key, text in tags.items():
            if key in ours or key.startswith("mlflow.") or key in long_keys:
                continue
            name = by_key.get(key, renamed.get(key, key))
            if name not in doc_tags or value_text(values.decode(doc_tags[name])) != text:
                doc_tags[name] = text
        doc["tags"] = doc_tags
    else:
        params = {}
        for key, text in data.params.items():
            params[renamed.get(key, key)] = _encoded(parse_param(text))
        for key, path in tags.items():  # values too long for MLflow, pushed by nbtrack as artifacts
            if key.startswith(TAG_LONG_PARAM):
                raw = server.download(mlflow_id, info.artifact_uri, path)
                name = key[len(TAG_LONG_PARAM) :]
                if raw is not None:
                    params[renamed.get(name, name)] = _encoded(parse_param(raw.decode("utf-8", "replace")))
        user_tags = {renamed.get(k, k): v for k, v in tags.items() if k not in ours}
        doc = {
            "id": nb_id,
            "experiment": experiment,
            "name": info.run_name,
            "params": params,
            "metrics": {k: _encoded(v) for k, v in remote_metrics.items()},
            "tags": user_tags,
            "data": {},
            "error": None,
            "source": "mlflow",
            "format": 1,
        }
        inputs = getattr(getattr(run, "inputs", None), "dataset_inputs", None) or []
        for item in inputs:
            dataset = item.dataset
            doc["data"][dataset.name] = data_from_dataset(dataset)
    pushed_status = tags.get(TAG_STATUS)
    if STATUS_TO_MLFLOW.get(pushed_status or "") == info.status:  # keeps interrupted apart from abandoned
        doc["status"] = pushed_status
    else:
        doc["status"] = MLFLOW_TO_STATUS.get(info.status, "finished")
    doc["start_time"] = (info.start_time or 0) / 1000
    doc["end_time"] = info.end_time / 1000 if info.end_time else None
    doc["duration"] = None if doc["end_time"] is None else round(doc["end_time"] - doc["start_time"], 6)
    doc.pop("owner", None)
    doc["series"] = store.put_json(series) if series else None
    doc["origin"] = {
        "server": server.name,
        "server_key": uri_key(server.uri),
        "mlflow_run_id": mlflow_id,
        "experiment_id": info.experiment_id,
        "stamp": stamp,
        "pulled_at": round(time.time(), 3),
    }
    return doc


def _encoded(value: Any) -> Any:
    encoded, _notes = values.encode(value)
    return encoded


def _restore_profiles(store: Store, run: Any, doc: dict[str, Any]) -> None:
    """Data profiles a pushed record keeps in blobs come back from its dataset inputs."""
    profiles: dict[tuple[str, str], Any] = {}
    for item in getattr(getattr(run, "inputs", None), "dataset_inputs", None) or []:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            profiles[(item.dataset.name, item.dataset.digest)] = json.loads(item.dataset.profile).get("nbtrack_profile")
    data = {}
    for name, record in (doc.get("data") or {}).items():
        if isinstance(record, dict) and isinstance(record.get("profile_blob"), str):
            record = {k: v for k, v in record.items() if k != "profile_blob"}
            profile = profiles.get((name, str(record.get("hash"))))
            if isinstance(profile, dict):
                record["profile_blob"] = store.put_json(profile)
        data[name] = record
    doc["data"] = data


def _restore_blobs(server: _Server, store: Store, run: Any, doc: dict[str, Any]) -> None:
    """Put the history, notebook snapshot and package list a pushed record refers to into this store."""
    mlflow_id, artifact_uri = run.info.run_id, run.info.artifact_uri
    if doc.get("history"):
        raw = server.download(mlflow_id, artifact_uri, ARTIFACT_HISTORY_JSON)
        doc["history"] = None
        if raw is not None:
            from nbtrack.capture.notebook import store_history

            with contextlib.suppress(ValueError, TypeError):
                doc["history"] = store_history(store, [str(s) for s in json.loads(raw)])
    if isinstance(doc.get("code_blob"), str):  # a script's text, pushed as the code artifact
        raw = server.download(mlflow_id, artifact_uri, ARTIFACT_CODE)
        doc["code_blob"] = store.put_blob(raw) if raw is not None else None
    snapshot = doc.get("snapshot")
    if isinstance(snapshot, dict) and snapshot.get("blob"):
        raw = server.download(mlflow_id, artifact_uri, ARTIFACT_NOTEBOOK)
        doc["snapshot"] = {**snapshot, "blob": store.put_blob(raw)} if raw is not None else None
    env = doc.get("env")
    if isinstance(env, dict) and isinstance(env.get("packages"), str):
        raw = server.download(mlflow_id, artifact_uri, ARTIFACT_REQUIREMENTS)
        packages = parse_requirements(raw.decode("utf-8", "replace")) if raw is not None else None
        doc["env"] = {**env, "packages": store.put_json(packages) if packages is not None else None}


# direct logging (NBTRACK_TRACKING_URI) -------------------------------------------------------------------


class _LiveLogger:
    """Sends runs to the server as they start and end, in one background thread, in order.

    The thread exits when idle (so it never keeps a process alive) and is not a daemon (so a script's
    last run is sent before the interpreter exits). A server that cannot be reached costs one warning;
    the run stays in the local store, and ``nbtrack push`` sends it later.
    """

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[Store, str, dict[str, Any], bool]] = queue.Queue()
        self.guard = threading.Lock()
        self.thread: threading.Thread | None = None
        self.idle = threading.Event()
        self.idle.set()
        self.down: dict[str, float] = {}  # server -> when it was last found unreachable
        self.states: dict[tuple[Path, str], PushState] = {}
        self.servers: dict[str, _Server] = {}

    def submit(self, store: Store, uri: str, doc: dict[str, Any], final: bool) -> None:
        with self.guard:
            self.idle.clear()
            self.queue.put((store, uri, doc, final))
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="nbtrack-live", daemon=False)
                self.thread.start()

    def _loop(self) -> None:
        while True:
            try:
                item = self.queue.get(timeout=0.5)
            except queue.Empty:
                with self.guard:
                    if self.queue.empty():
                        self.thread = None
                        self.idle.set()
                        return
                continue
            try:
                self._send(*item)
            except Exception as exc:  # never let direct logging break anything
                _warn(
                    f"run {item[2].get('id')} not sent to {redact_uri(item[1])} ({_short(exc)}); "
                    f"it is in the local store: `nbtrack push --to {redact_uri(item[1])}` sends it later"
                )

    def _send(self, store: Store, uri: str, doc: dict[str, Any], final: bool) -> None:
        run_id = doc["id"]
        name = redact_uri(uri)
        down_since = self.down.get(uri)
        if down_since is not None and time.monotonic() - down_since < 30:
            return  # it was down a moment ago: do not make every record wait for it
        key = (store.root, uri_key(uri))
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = PushState(store.root, uri)
        else:
            state.refresh()
        try:
            server = self.servers.get(uri)
            if server is None:
                server = self.servers[uri] = _Server(uri)
            with _http_limits():
                if down_since is not None or run_id not in state.runs:
                    server.probe()
                state.acquire(timeout=60)
                try:
                    state.refresh()
                    experiment_id, _ = server.experiment_id(str(doc.get("experiment") or "default"), create=True)
                    payload = build_payload(doc, store)
                    if not final:  # the run has started: create it, with its tags and inputs
                        payload.artifacts.clear()
                        payload.params.clear()  # a param may still change: sent once, at the end
                        payload.metrics.clear()
                        payload.mlflow_status = "RUNNING"
                    _push_run(server, state, payload, experiment_id, None, final=final)
                finally:
                    state.close()
                    state.release()
        except Exception as exc:
            if isinstance(exc, RemoteError) or _is_connection_error(exc):
                first = uri not in self.down
                self.down[uri] = time.monotonic()
                if first:
                    _warn(
                        f"the tracking server {name} is unreachable ({_short(exc)}): run {run_id} is recorded "
                        f"locally only; `nbtrack push --to {name}` sends it later"
                    )
                return
            raise
        self.down.pop(uri, None)

    def wait(self, timeout: float | None = None) -> bool:
        return self.idle.wait(timeout)


_live = _LiveLogger()


def live_log(store: Store, doc: dict[str, Any], final: bool) -> None:
    """Called by the tracker after each record it writes; sends it on when ``NBTRACK_TRACKING_URI`` is set."""
    uri = os.environ.get(LIVE_ENV, "").strip()
    if not uri:
        return
    try:
        _live.submit(store, uri, json.loads(json.dumps(doc)), final)
    except Exception as exc:  # pragma: no cover - never break the user's run
        _warn(f"direct logging to {redact_uri(uri)} failed: {_short(exc)}")


def wait_live(timeout: float | None = 60.0) -> bool:
    """Wait until every run handed to direct logging was sent (or given up); False on timeout."""
    return _live.wait(timeout)


# command line ---------------------------------------------------------------------------------------------


def cli_push(args: Any, store: Store) -> int:
    report = push(
        args.to,
        args.runs or None,
        experiment=args.experiment,
        since=args.since,
        store=store,
        dry_run=args.dry_run,
        force=args.force,
        workers=args.workers,
        progress=not args.quiet,
    )
    return _print_report(report, args, "pushed")


def _print_report(report: Any, args: Any, verb: str) -> int:
    """Print a push or pull report for the CLI; the exit code is 1 when any run failed."""
    for action in report.actions:
        if args.dry_run or action.action == "failed" or args.verbose:
            print(action.line(args.dry_run))
    print(report)
    if report.failed:
        first = report.failed[0]
        print(
            f"nbtrack: error: {len(report.failed)} runs were not {verb}; first: {first.run_id}: {first.error}",
            file=sys.stderr,
        )
        return 1
    return 0


def cli_pull(args: Any, store: Store) -> int:
    report = pull(
        args.source, args.experiment, store=store, dry_run=args.dry_run, workers=args.workers, progress=not args.quiet
    )
    return _print_report(report, args, "pulled")
