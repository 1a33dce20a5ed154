"""A real ``mlflow server`` for the push/pull tests: sqlite backend and artifacts in a temporary directory.

It listens on 127.0.0.1 on a free port, in its own process group, so ``stop()`` / ``kill()`` end the
server with all of its workers by its PID. ``start()`` again reuses the same database and artifacts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

START_TIMEOUT = 120.0  # seconds: a fresh database takes several seconds to create on a busy machine


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def quiet_mlflow_env() -> dict[str, str]:
    """No telemetry, no background job runner, no links printed per run."""
    return {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    }


class MlflowServer:
    def __init__(
        self, root: Path, workers: int = 1, port: int | None = None, backend: str = "sqlite", backend_uri: str = ""
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.workers = workers
        self.backend = backend  # sqlite, or file (MLflow's deprecated file store: for comparisons only)
        self.backend_uri = backend_uri  # a database URI (PostgreSQL) instead of either
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.root / "server.log"

    def start(self, timeout: float = START_TIMEOUT) -> MlflowServer:
        artifacts = self.root / "artifacts"
        artifacts.mkdir(exist_ok=True)
        env = {**os.environ, **quiet_mlflow_env()}
        if self.backend_uri:
            backend_uri = self.backend_uri
        elif self.backend == "file":
            backend_uri = (self.root / "mlruns").as_uri()
            env["MLFLOW_ALLOW_FILE_STORE"] = "true"
        else:
            backend_uri = f"sqlite:///{self.root / 'mlflow.db'}"
        cmd = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--backend-store-uri",
            backend_uri,
            "--artifacts-destination",
            str(artifacts),
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.kill()
        raise RuntimeError(f"mlflow server did not answer within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def _signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)  # the server is its own process group: its pid is the group id

    def kill(self) -> None:
        """SIGKILL the server and its workers at once (a crash, as far as clients can tell)."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after a few seconds."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self._signal_group(signal.SIGKILL)  # workers that outlived their parent
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.proc = None
