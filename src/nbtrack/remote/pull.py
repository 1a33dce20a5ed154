"""Pull the runs of one MLflow experiment into the local store, beside the local runs.

Runs pushed by nbtrack come back as they were recorded (from the record artifact); runs made with MLflow
itself get an nbtrack id derived from theirs, their params parsed back into Python values, every metric
point, tags and dataset inputs.
"""

from __future__ import annotations

import contextlib
import json
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from nbtrack import ids, values
from nbtrack.errors import RemoteError
from nbtrack.remote.client import DEFAULT_WORKERS, Server, http_limits, is_connection_error, short_error
from nbtrack.remote.datasets import data_from_dataset
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
    TAG_RENAMED,
    TAG_RUN_ID,
    TAG_STATUS,
    derived_run_id,
    digest,
    final_value,
    mlflow_key,
    parse_param,
    parse_requirements,
    series_value,
    value_text,
)
from nbtrack.remote.progress import Progress
from nbtrack.remote.report import Report, RunAction
from nbtrack.remote.run_files import native_models, restore_contents
from nbtrack.remote.state import redact_uri, uri_key
from nbtrack.store.local import Store, get_store


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
    server = Server(uri)
    with http_limits():
        server.probe()
        experiment_id, _ = server.experiment_id(experiment, create=False)
        if experiment_id is None:
            raise RemoteError(f"no experiment {experiment!r} on {server.name}")
        remote_runs = server.search(experiment_id)
        local = st.run_docs()
        todo: list[tuple[Any, RunAction, str]] = []
        for run in sorted(remote_runs, key=lambda r: (r.info.start_time or 0, r.info.run_id)):
            nb_id = local_id(run)
            action = RunAction(nb_id, experiment, "", mlflow_run_id=run.info.run_id)
            report.actions.append(action)
            existing = local.get(nb_id)
            stamp = remote_stamp(run)
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
            bar = Progress("pull", len(todo), 0, progress)

            def one(item: tuple[Any, RunAction, str]) -> None:
                run, action, stamp = item
                try:
                    doc = pulled_record(server, st, run, action.run_id, experiment, stamp)
                    st.put_run(doc)
                except Exception as exc:
                    if is_connection_error(exc):
                        raise
                    action.action, action.error = "failed", short_error(exc)
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
                        f"lost the MLflow tracking server {server.name}: {short_error(exc)} (pull again to finish)"
                    ) from None
        report.bytes = server.bytes_sent
    report.seconds = time.monotonic() - started
    return report


def local_id(run: Any) -> str:
    """The nbtrack id of an MLflow run: the one nbtrack pushed it with, else one derived from its MLflow id."""
    tagged = run.data.tags.get(TAG_RUN_ID)
    return tagged if ids.is_run_id(tagged) else derived_run_id(run.info.run_id, run.info.start_time)


def remote_stamp(run: Any) -> str:
    """What a pulled copy remembers of the MLflow run (``origin.stamp``): pull refreshes it only when this changes."""
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


def pulled_record(server: Server, store: Store, run: Any, nb_id: str, experiment: str, stamp: str) -> dict[str, Any]:
    """The local record (a store doc) of the MLflow run ``run``: its pushed record plus what changed since, or for
    an MLflow-native run one built from its params, metric history, tags and dataset inputs."""
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
        restore_contents(server, store, run, doc)
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
        models = native_models(server, store, run)
        if models:
            doc["models"] = models
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


def _restore_blobs(server: Server, store: Store, run: Any, doc: dict[str, Any]) -> None:
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
