"""A real PostgreSQL server for the push tests: Debian's packaged binaries, a fresh cluster in a temporary
directory, listening on 127.0.0.1 on a free port, trust authentication for local connections only.

PostgreSQL refuses to run as root: as root, the cluster belongs to the ``postgres`` system user the Debian
package creates, and its commands run through ``runuser``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from mlflow_server import free_port


def binaries() -> Path | None:
    """The folder holding initdb and pg_ctl (Debian keeps them out of the PATH), or None."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        return Path(candidate).parent
    return None


class PostgresServer:
    def __init__(self) -> None:
        self.bin = binaries()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
        # its own folder under the system's temporary directory: pytest's are private to the user running it
        self.root = Path(tempfile.mkdtemp(prefix="nbtrack-postgres-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.port = free_port()
        self.user = "nbtrack"
        self.uri = f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/postgres"
        self._as: list[str] = []
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {(done.stderr or done.stdout)[-800:]}")

    def start(self) -> PostgresServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if self._as:
            for path in (self.root, self.sockets):
                shutil.chown(path, "postgres", "postgres")
            os.chmod(self.root, 0o755)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.sockets} -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start"
        )
        return self

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
