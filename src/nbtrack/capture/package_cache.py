"""The installed-package list, cached on disk so the first run of a process does not rescan site-packages.

Scanning every distribution's metadata costs 200-500 ms, most of a fresh process's first run. The list
only changes when something is installed or removed, which changes the interpreter or the mtime of a
``sys.path`` folder; the cache file is named by a hash of exactly that, so a stale entry is never read.
It lives in the user's cache folder (``$NBTRACK_CACHE_DIR``, else ``$XDG_CACHE_HOME/nbtrack``, else
``~/.cache/nbtrack``); a cache that cannot be read or written only costs the scan.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nbtrack.store import files

FORMAT = 1
KEEP = 16  # lists kept in the cache folder, the most recently used: each install or new sys.path adds one


def cache_dir() -> Path:
    explicit = os.environ.get("NBTRACK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nbtrack"


def cache_key(stamp: Sequence[Any]) -> str:
    """A name for the package list of this interpreter with these ``sys.path`` folders at these mtimes."""
    text = json.dumps([FORMAT, sys.executable, sys.version, list(stamp)], default=str)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _path(key: str) -> Path:
    return cache_dir() / f"packages-{key}.json"


def load(key: str) -> dict[str, str] | None:
    """The cached list for ``key``, or None (absent, unreadable, not ours, or not a list of names)."""
    try:
        fd = files.open_regular(_path(key), own=True)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            with contextlib.suppress(OSError):
                os.utime(f.fileno())  # used now: pruning keeps the lists in use (see prune)
            doc = json.loads(f.read(8 << 20))
    except (OSError, ValueError):
        return None
    packages = doc.get("packages") if isinstance(doc, dict) and doc.get("key") == key else None
    if not isinstance(packages, dict) or not all(isinstance(v, str) for v in packages.values()):
        return None
    return packages


def save(key: str, packages: dict[str, str]) -> None:
    """Write the list atomically (a cache: no fsync); failures are ignored."""
    path = _path(key)
    data = json.dumps({"key": key, "packages": packages}).encode()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(files.temp_name(path.name))
        files.create_new(tmp, data, durable=False)
        try:
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    prune(path.parent)


def prune(folder: Path, keep: int = KEEP) -> None:
    """Remove all but the ``keep`` most recently used lists: every install, upgrade or new ``sys.path`` makes a
    new key, and the old lists are never read again (141 files after a day of tests on one machine)."""
    with contextlib.suppress(OSError):
        lists = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("packages-") and entry.name.endswith(".json") and entry.is_file():
                    lists.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.name))
        for _mtime, name in sorted(lists, reverse=True)[keep:]:
            with contextlib.suppress(OSError):
                os.unlink(folder / name)
