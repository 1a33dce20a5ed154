"""Push runs to an MLflow tracking server, idempotently and incrementally.

``push`` copies local runs to any tracking URI MLflow accepts (``http://host:port`` most often): params
(in ``str()`` form), every metric point, tags, status and times, data fingerprints as dataset inputs, and
the record, code, execution history, notebook snapshot and package list as artifacts (the mapping is
:mod:`nbtrack.remote.mapping`). Each MLflow run carries the tag ``nbtrack.run_id``, so a run is created once
however often it is pushed; the local push state (see :mod:`nbtrack.remote.state`) records which parts of
which run the server confirmed, so a rerun skips finished runs without asking the server about each one and
completes the interrupted ones.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbtrack.errors import NbtrackError, RemoteError
from nbtrack.remote.batches import plan_batches
from nbtrack.remote.client import DEFAULT_WORKERS, Server, http_limits, is_connection_error, short_error
from nbtrack.remote.mapping import (
    STATUS_TO_MLFLOW,
    TAG_PUSHED,
    Payload,
    build_payload,
    digest,
    record_signature,
)
from nbtrack.remote.progress import Progress
from nbtrack.remote.report import Report, RunAction, human_bytes, warn
from nbtrack.remote.run_files import push_contents
from nbtrack.remote.state import PushBusyError, PushState, redact_uri, uri_key
from nbtrack.run import effective_status
from nbtrack.store.local import Store, get_store

_MAX_CONSECUTIVE_FAILURES = 10


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
    docs: Mapping[str, dict[str, Any]],
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
    server: Server | None = None
    try:
        server = Server(uri)
        with http_limits():
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
    server: Server,
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
        f"{len(payload.datasets)} inputs, {len(payload.models)} models, "
        f"{len(payload.artifacts) + len(payload.files)} artifacts ({human_bytes(payload.estimated_bytes())})"
    )


class _Abort(NbtrackError):
    """Raised in workers once the push is being stopped."""


def _run_push(
    server: Server,
    state: PushState,
    store: Store,
    work: list[_Work],
    report: Report,
    workers: int,
    progress: bool | None,
) -> None:
    bar = Progress("push", len(work), 0, progress)
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
                warn(f"run {item.doc['id']}: {note}")
            before = server.thread_bytes()
            mlflow_id = push_run(
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
            if is_connection_error(exc) or isinstance(exc, RemoteError):
                with guard:
                    fatal.append(exc)
                stop.set()
                raise _Abort from None
            item.action.action, item.action.error = "failed", short_error(exc)
            bar.advance(1)
            with guard:
                failures["consecutive"] += 1
                if failures["consecutive"] >= _MAX_CONSECUTIVE_FAILURES:
                    fatal.append(
                        RemoteError(
                            f"{failures['consecutive']} runs in a row were refused by "
                            f"{server.name}; last: {short_error(exc)}"
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
            reason = f"lost the MLflow tracking server {server.name}: {short_error(exc)}"
        raise RemoteError(f"{reason} ({done} of {len(work)} runs sent; run the same push again to resume)")


def push_run(
    server: Server,
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
        push_contents(server, state, payload, mlflow_id, artifact_uri, parts, check)
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
