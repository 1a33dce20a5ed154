"""What has been pushed to which tracking server: the local push state that makes push resumable and cheap.

One JSON-lines file per server in ``<store>/push/``, named by a hash of the server URI (never by user
text). Each line is a patch for one run, appended with a single ``write`` on an ``O_APPEND`` descriptor
so lines from concurrent writers never interleave::

    {"id": nbtrack run id, "run": MLflow run id, "exp": experiment id, "art": artifact URI,
     "parts": {part: content hash, ...}, "done": signature of the record when fully pushed}

Replaying the lines gives, per run, the MLflow run it maps to and which parts (artifacts, inputs,
metric batches, params and tags, status) were confirmed by the server. A rerun skips runs whose
``done`` signature matches the record as it is now, and finishes the others from the first part not
confirmed. A line torn by a crash is ignored. The file is compacted when superseded lines dominate.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from nbtrack import redact
from nbtrack.errors import PushBusyError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

FOLDER = "push"
_COMPACT_MIN_LINES = 2_000


def normalize_uri(uri: str) -> str:
    """The server URI as a key: scheme and host lowercased, no trailing slash, no credentials."""
    text = uri.strip()
    parts = urlsplit(text)
    if not parts.scheme or not parts.netloc:
        return text.rstrip("/")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host.lower() + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), parts.query, ""))


def redact_uri(uri: str) -> str:
    """The URI for messages and records: user name, password, query string (``?token=``) and fragment removed."""
    return redact.redact_uri(uri)


def uri_key(uri: str) -> str:
    return hashlib.sha256(normalize_uri(uri).encode("utf-8")).hexdigest()[:24]


class PushState:
    """The replayed push state of one (store, server) pair. Thread-safe."""

    def __init__(self, store_root: Path, uri: str) -> None:
        self.folder = Path(store_root) / FOLDER
        key = uri_key(uri)
        self.path = self.folder / f"{key}.jsonl"
        self.lock_path = self.folder / f"{key}.lock"
        self.server = redact_uri(normalize_uri(uri))
        self.runs: dict[str, dict[str, Any]] = {}
        self._mutex = threading.Lock()
        self._fd: int | None = None
        self._lines = 0
        self._offset = 0
        self._identity: tuple[int, int] | None = None
        self._lock_fd: int | None = None
        self._load()

    # reading ---------------------------------------------------------------------------------------

    def _load(self) -> None:
        self.runs.clear()
        self._lines = 0
        self._offset = 0
        self._identity = None
        self.refresh()

    def refresh(self) -> None:
        """Read what other writers appended since the last read (all of it again after a compaction)."""
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                identity = (st.st_dev, st.st_ino)
                if identity != self._identity or st.st_size < self._offset:
                    with self._mutex:
                        self.runs.clear()
                    self._lines = 0
                    self._offset = 0
                    self._identity = identity
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        self._offset += end
        with self._mutex:
            self._apply_lines(data[:end])

    def _apply_lines(self, data: bytes) -> None:
        for line in data.split(b"\n"):
            if not line:
                continue
            try:
                patch = json.loads(line)
            except ValueError:
                continue  # torn by a crash
            if isinstance(patch, dict) and isinstance(patch.get("id"), str) and patch["id"]:
                self._apply(patch)
                self._lines += 1

    def _apply(self, patch: dict[str, Any]) -> None:
        entry = self.runs.setdefault(patch["id"], {"parts": {}})
        if patch.get("reset"):
            entry.clear()
            entry["parts"] = {}
        for key, value in patch.items():
            if key == "parts":
                entry["parts"].update(value)
            elif key not in ("id", "reset"):
                entry[key] = value

    def get(self, run_id: str) -> dict[str, Any]:
        with self._mutex:
            entry = self.runs.get(run_id)
            return {**entry, "parts": dict(entry["parts"])} if entry else {"parts": {}}

    # writing ---------------------------------------------------------------------------------------

    def record(self, run_id: str, **fields: Any) -> None:
        """Append one patch for ``run_id`` (``parts`` merges; ``reset=True`` forgets what was known)."""
        patch = {"id": run_id, **fields, "t": round(time.time(), 3)}
        line = json.dumps(patch, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        with self._mutex:
            if self._fd is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
                try:  # only the writer that creates the file writes its header (two pushes may start at once)
                    self._fd, new = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o644), True
                except FileExistsError:
                    self._fd, new = os.open(self.path, flags), False
                if new:
                    header = {"id": "", "server": self.server, "format": 1}
                    os.write(self._fd, json.dumps(header).encode() + b"\n")
            os.write(self._fd, line)
            self._apply(patch)
            self._lines += 1

    def close(self) -> None:
        with self._mutex:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None

    def maybe_compact(self) -> None:
        """Rewrite the file with one line per run when superseded lines dominate (call under the lock)."""
        with self._mutex:
            if self._lines < _COMPACT_MIN_LINES or self._lines < 4 * len(self.runs):
                return
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                f.write(json.dumps({"id": "", "server": self.server, "format": 1}).encode() + b"\n")
                for run_id, entry in self.runs.items():
                    if run_id:
                        line = json.dumps({"id": run_id, **entry}, ensure_ascii=False, separators=(",", ":"))
                        f.write(line.encode("utf-8") + b"\n")
                f.flush()
                os.fsync(f.fileno())
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            os.replace(tmp, self.path)
            self._lines = len(self.runs)

    # the exclusive lock of a push ------------------------------------------------------------------

    def acquire(self, timeout: float = 0.0) -> None:
        """Take the per-server push lock; PushBusyError when another push holds it past ``timeout``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:  # pragma: no cover - Windows: no inter-process lock
            self._lock_fd = fd
            return
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise PushBusyError(f"another push to {self.server} from this store is in progress") from None
                time.sleep(0.2)
        self._lock_fd = fd

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None
