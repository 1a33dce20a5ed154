"""Direct logging: with ``NBTRACK_TRACKING_URI`` set, every run is also sent to that MLflow server as it
starts and ends. The local store stays the source of truth: a run the server did not get is pushed later.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

from nbtrack.errors import RemoteError
from nbtrack.remote.client import Server, http_limits, is_connection_error, short_error
from nbtrack.remote.mapping import build_payload
from nbtrack.remote.push import push_run
from nbtrack.remote.report import warn
from nbtrack.remote.state import PushState, redact_uri, uri_key
from nbtrack.store.local import Store

LIVE_ENV = "NBTRACK_TRACKING_URI"


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
        self.servers: dict[str, Server] = {}

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
                warn(
                    f"run {item[2].get('id')} not sent to {redact_uri(item[1])} ({short_error(exc)}); "
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
                server = self.servers[uri] = Server(uri)
            with http_limits():
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
                    push_run(server, state, payload, experiment_id or "", None, final=final)
                finally:
                    state.close()
                    state.release()
        except Exception as exc:
            if isinstance(exc, RemoteError) or is_connection_error(exc):
                first = uri not in self.down
                self.down[uri] = time.monotonic()
                if first:
                    warn(
                        f"the tracking server {name} is unreachable ({short_error(exc)}): run {run_id} is recorded "
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
        warn(f"direct logging to {redact_uri(uri)} failed: {short_error(exc)}")


def wait_live(timeout: float | None = 60.0) -> bool:
    """Wait until every run handed to direct logging was sent (or given up); False on timeout."""
    return _live.wait(timeout)
