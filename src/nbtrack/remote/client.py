"""One MLflow tracking server, as push, pull and direct logging use it: the client, its artifact repositories,
bounded HTTP retries, and what counts as "the server cannot be reached".

MLflow is imported only when a :class:`Server` is made: ``import nbtrack`` stays cheap.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nbtrack.errors import RemoteError
from nbtrack.remote.batches import Batch
from nbtrack.remote.mapping import TAG_RUN_ID, Payload
from nbtrack.remote.state import redact_uri

DEFAULT_WORKERS = 4  # runs sent or fetched in parallel
PROBE_TIMEOUT = 8  # seconds per attempt, two attempts: an unreachable server fails the push in < 30 s
# MLflow's client retries a failed request 7 times with exponential backoff and waits 120 s for each answer
# by default: minutes before a dead server is reported. During a push, unless the user set them:
PUSH_HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # set_terminated would print a link per run
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # a bar per model folder uploaded or downloaded
}
_LOOKUP_ONE_BY_ONE = 10  # up to this many runs are looked up by exact tag; more: one listing per experiment


_env_guard = threading.Lock()
_env_depth = 0
_env_set: list[str] = []


@contextlib.contextmanager
def http_limits() -> Any:
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


def import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError as exc:
        raise RemoteError(f"MLflow is not installed ({exc}): pip install 'nbtrack[mlflow]'") from None
    return mlflow


def short_error(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    match = re.search(
        r"(Connection refused|Name or service not known|timed out|Temporary failure in name resolution"
        r"|No route to host|Connection reset by peer|RemoteDisconnected|Network is unreachable)",
        text,
    )
    if match:
        return match.group(1)
    return text[:limit] + ("..." if len(text) > limit else "")


def is_connection_error(exc: BaseException) -> bool:
    """True when the server could not be reached (or stopped answering), as opposed to rejecting a request."""
    rejected: tuple[type[BaseException], ...] = ()
    with contextlib.suppress(ImportError):
        from mlflow.exceptions import RestException

        rejected = (RestException,)
    if isinstance(exc, rejected):
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


class Server:
    """One tracking server, through MlflowClient (plus the artifact repository of each run)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.strip()
        self.name = redact_uri(self.uri)
        self.mlflow = import_mlflow()
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=self.uri)
        self._repos: dict[str, Any] = {}
        self._repos_guard = threading.Lock()
        self._scratch_dirs: list[str] = []
        self._inputs_supported = True
        # MLflow creates a dataset on first use without a lock: two runs logging the same new dataset at once
        # make the SQL store fail one of them (a UNIQUE constraint). The first use of each dataset is
        # therefore made by one thread at a time; once it exists, concurrent uses are safe.
        self._datasets_guard = threading.Lock()
        self._dataset_locks: dict[tuple[str, str], threading.Lock] = {}
        self._datasets_known: set[tuple[str, str]] = set()
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
            raise RemoteError(f"cannot reach the MLflow tracking server {self.name}: {short_error(exc)}") from None
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
            if is_connection_error(exc):
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
        keys = sorted({(str(d["name"]), str(d["digest"])) for d in datasets})
        with self._datasets_guard:
            locks = [self._dataset_locks.setdefault(k, threading.Lock()) for k in keys if k not in self._datasets_known]
        try:
            with contextlib.ExitStack() as held:
                for lock in locks:  # in sorted order: two threads never wait for each other
                    held.enter_context(lock)
                self._log_inputs_once_more_if_raced(mlflow_run_id, inputs)
                with self._datasets_guard:
                    self._datasets_known.update(keys)
        except MlflowException as exc:
            unsupported = "ENDPOINT_NOT_FOUND" in str(exc) or "not implemented" in str(exc)
            if is_connection_error(exc) or not unsupported:
                raise
            self._inputs_supported = False
            return False
        self.count(sum(len(json.dumps(d)) for d in datasets))
        return True

    def _log_inputs_once_more_if_raced(self, mlflow_run_id: str, inputs: list[Any]) -> None:
        """``log_inputs``, repeated once when another client created the same dataset at the same moment."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.log_inputs(mlflow_run_id, inputs)
        except MlflowException as exc:
            text = str(exc)
            if not ("UNIQUE constraint" in text or "duplicate key" in text or "Duplicate entry" in text):
                raise
            self.client.log_inputs(mlflow_run_id, inputs)  # the dataset exists now: this use only links it

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

    def upload_dir(self, mlflow_run_id: str, artifact_uri: str | None, local_dir: Path, path: str) -> None:
        """Every file under ``local_dir`` as the run's artifacts under ``path`` (one request per file)."""
        repo = self._repo(mlflow_run_id, artifact_uri)
        if repo is not None:
            repo.log_artifacts(str(local_dir), path)
        else:
            self.client.log_artifacts(mlflow_run_id, str(local_dir), path)
        self.count(sum(p.stat().st_size for p in local_dir.rglob("*") if p.is_file()))

    def download_dir(self, mlflow_run_id: str, artifact_uri: str | None, path: str, dst: Path) -> Path | None:
        """The run's artifacts under ``path`` (a file or a folder) downloaded into ``dst``; None if there are none."""
        from mlflow.exceptions import MlflowException

        repo = self._repo(mlflow_run_id, artifact_uri)
        dst.mkdir(parents=True, exist_ok=True)
        try:
            if repo is not None:
                return Path(repo.download_artifacts(path, str(dst)))
            return Path(self.client.download_artifacts(mlflow_run_id, path, str(dst)))
        except (MlflowException, OSError) as exc:
            if is_connection_error(exc):
                raise
            return None

    def logged_model_dir(self, model_id: str, dst: Path) -> tuple[str, Path] | None:
        """An MLflow 3 logged model (``models:/<model_id>``): its name and its files downloaded into ``dst``."""
        from mlflow.exceptions import MlflowException
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        dst.mkdir(parents=True, exist_ok=True)
        try:
            model = self.client.get_logged_model(model_id)
            repo = get_artifact_repository(model.artifact_location, tracking_uri=self.uri)
            return str(model.name), Path(repo.download_artifacts("", str(dst)))
        except (MlflowException, OSError, AttributeError) as exc:
            if is_connection_error(exc):
                raise
            return None

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
                if is_connection_error(exc):
                    raise
                return None

    def metric_history(self, mlflow_run_id: str, key: str) -> list[Any]:
        return list(self.client.get_metric_history(mlflow_run_id, key))
