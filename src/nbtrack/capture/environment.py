"""What a run ran on: Python, platform, installed packages, git state, host.

Environment variables are not recorded, except a short allow-list of variables that change numerical
results and never hold secrets. The package list (often 100+ entries) is stored once as a blob and
shared by every run with the same list.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from nbtrack.capture import package_cache

RECORDED_ENV_VARS = (
    "CUDA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "PYTHONHASHSEED",
    "CUBLAS_WORKSPACE_CONFIG",
)

_packages_cache: tuple[tuple[Any, ...], dict[str, str]] | None = None


def _user_folders() -> set[str]:
    """The folders on ``sys.path`` that hold the user's own files: the working directory and the folder of the
    running script (``python train.py`` puts it first on ``sys.path``)."""
    folders = {""}
    with contextlib.suppress(OSError):
        folders.add(os.getcwd())
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if isinstance(main_file, str):
        folders.add(os.path.dirname(os.path.abspath(main_file)))
    return folders


def _site_dirs_stamp() -> tuple[Any, ...]:
    """Changes when a package is installed or removed (a directory's mtime changes with its entries). The
    working directory (``''`` on ``sys.path`` in a kernel or ``python -c``) and a script's folder change whenever
    the user writes a file there (a script that saves ``model_3.pkl`` beside itself moved it on every run, and
    every run rescanned the packages), so they are stamped by the distribution metadata they hold instead of
    their mtime, and by their path only when they hold some (a fresh kernel in another notebook folder then reads
    the same cached list)."""
    stamp: list[tuple[str, Any]] = []
    user_folders = _user_folders()
    for entry in sys.path:
        try:
            if entry in user_folders:
                names = os.listdir(entry or ".")
                held = sorted(n for n in names if n.endswith((".dist-info", ".egg-info")))
                stamp.append((entry, [os.path.abspath(entry or "."), held] if held else []))
            else:
                stamp.append((entry, os.stat(entry).st_mtime_ns))
        except OSError:
            stamp.append((entry, None))
    return tuple(stamp)


def installed_packages() -> dict[str, str]:
    """Distribution name -> version for everything importable, cached (in memory and on disk, see
    :mod:`nbtrack.capture.package_cache`) until the interpreter or a ``sys.path`` folder changes."""
    global _packages_cache
    stamp = _site_dirs_stamp()
    if _packages_cache is not None and _packages_cache[0] == stamp:
        return _packages_cache[1]
    key = package_cache.cache_key(stamp)
    cached = package_cache.load(key)
    if cached is not None:
        _packages_cache = (stamp, cached)
        return cached
    from importlib import metadata

    packages: dict[str, str] = {}
    for dist in metadata.distributions():
        try:
            name, version = _name_and_version(dist)
        except Exception:
            continue
        if name and version and name not in packages:  # a file without a version names nothing to install
            packages[name] = version
    packages = dict(sorted(packages.items(), key=lambda kv: kv[0].lower()))
    _packages_cache = (stamp, packages)
    package_cache.save(key, packages)
    return packages


def _name_and_version(dist: Any) -> tuple[str | None, str | None]:
    """A distribution's name and version from the head of its metadata file: ``dist.metadata`` parses the
    whole file as an e-mail message (97 ms for 262 distributions here, against 11 ms for the head lines).
    A file whose head lacks either field is parsed the slow way."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    name = version = None
    for line in text.partition("\n\n")[0].splitlines():  # not the body: splitting it was 4 of the 11 ms
        if not line:
            break  # the end of the headers (a file with \r\n lines is split whole and stops here)
        field, sep, value = line.partition(":")
        if sep and not field[:1].isspace():
            lowered = field.lower()
            if lowered == "name" and name is None:
                name = value.strip()
            elif lowered == "version" and version is None:
                version = value.strip()
    if name is None or version is None:
        return dist.metadata["Name"], dist.version
    return name, version


def find_git_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


GIT_REUSE_SECONDS = 5.0  # a sweep recording many runs a second asks git once per this interval
_git_cache: dict[Path, tuple[float, dict[str, Any]]] = {}


class GitProbe:
    """Reads git state in a background thread, so it overlaps the cell instead of adding to it.

    A state read less than ``GIT_REUSE_SECONDS`` ago is reused: ``git status`` costs tens of
    milliseconds, more than recording a run.
    """

    def __init__(self, cwd: Path) -> None:
        self.root = find_git_root(cwd)
        self.result: dict[str, Any] | None = None
        self._thread: threading.Thread | None = None
        cached = _git_cache.get(self.root) if self.root is not None else None
        if cached is not None and time.monotonic() - cached[0] < GIT_REUSE_SECONDS:
            self.result = cached[1]
        elif self.root is not None:
            self._thread = threading.Thread(target=self._probe, name="nbtrack-git", daemon=True)
            self._thread.start()

    def _probe(self) -> None:
        assert self.root is not None
        commit = _git(self.root, "rev-parse", "HEAD")
        if commit is None:
            self.result = {"root": str(self.root), "commit": None}
            return
        status = _git(self.root, "status", "--porcelain", "--untracked-files=no")
        branch = _git(self.root, "rev-parse", "--abbrev-ref", "HEAD")
        self.result = {
            "root": str(self.root),
            "commit": commit.strip(),
            "branch": branch.strip() if branch else None,
            "dirty": bool(status.strip()) if status is not None else None,
        }
        _git_cache[self.root] = (time.monotonic(), self.result)

    def wait(self, timeout: float = 5.0) -> dict[str, Any] | None:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.result


_static: dict[str, Any] | None = None


def _static_info() -> dict[str, Any]:
    global _static
    if _static is None:
        _static = {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "platform": platform.platform(),
            "machine": platform.machine(),
            "host": socket.gethostname(),
            "cpu_count": os.cpu_count(),
        }
    return _static


_packages_blobs: dict[Any, tuple[dict[str, str], str]] = {}  # store root -> (package list, its blob's hash)


def _packages_blob(store: Any, packages: dict[str, str]) -> str:
    """The blob of ``packages`` in ``store``: the JSON text and hash of 200+ packages (~0.1 ms) made once,
    while :func:`installed_packages` returns the same list and the store knows the blob (``has_blob``)."""
    root = getattr(store, "root", None)
    known = _packages_blobs.get(root) if root is not None else None
    if known is not None and known[0] is packages and store.has_blob(known[1]):
        return known[1]
    digest: str = store.put_json(packages)
    if root is not None:
        _packages_blobs[root] = (packages, digest)
    return digest


def capture(store: Any, git: GitProbe | None = None) -> dict[str, Any]:
    """The environment record of a run; the package list goes to a blob in ``store``."""
    env = dict(_static_info())
    packages = installed_packages()
    env["packages"] = _packages_blob(store, packages)
    env["package_count"] = len(packages)
    env["env_vars"] = {k: os.environ[k] for k in RECORDED_ENV_VARS if k in os.environ}
    env["cwd"] = os.getcwd()
    if git is not None:
        env["git"] = git.wait()
    return env
