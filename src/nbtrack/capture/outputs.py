"""Output files: what a run wrote or changed under its working directory, hashed and, when small, kept.

When a run starts, :func:`fs_now` notes the file system's clock; when it finishes, :func:`scan` walks the
working directory (as it was at the start) for regular files modified since. That clock ticks every few
milliseconds while a file's time can be finer (Linux's multigrain timestamps), so a file written just
before the run can look written after its start: files stamped between the coarse start and the fine
``time.time()`` taken next are ambiguous, and when the tracked cell's ``open`` calls were recorded
(:mod:`nbtrack.capture.file_reads`) they count only if the cell opened them for writing (one a C library
wrote in those first milliseconds of the cell is then missed). Each becomes
``run.outputs[relative POSIX path] = {"hash", "size", "kept"}``: ``hash`` is the file's content hash (the
one :mod:`nbtrack.data.hashing` gives a file input, so a later run reading the file links back to this
one, see :mod:`nbtrack.capture.upstream`); ``kept`` is the blob holding the file's bytes when the file is
at most ``NBTRACK_OUTPUT_KEEP_BYTES`` (default 10 MB) and the run's kept outputs stay within
``NBTRACK_OUTPUT_KEEP_TOTAL`` (default 100 MB), else None (only hashed).

Not outputs: the store, the running notebook, symlinks, and everything under folders that are tools'
rather than the user's: :data:`EXCLUDED_DIRS` and any virtualenv (a folder holding ``pyvenv.cfg``),
which are skipped without being entered. ``NBTRACK_OUTPUTS_EXCLUDE`` adds glob patterns, separated by
commas, matched against a file's or folder's relative path and its name (``*.log,data/raw``).
``NBTRACK_OUTPUTS=off`` or ``%%track --no-outputs`` records none. The walk looks at no more than
``NBTRACK_OUTPUTS_MAX_ENTRIES`` entries (default 10,000) for at most :data:`MAX_SECONDS` (a slow network
folder) and records at most :data:`MAX_OUTPUTS` files, so a cell in a huge folder (a home directory) costs
a bounded time; a walk cut short says so in a warning, once per folder and process.
"""

from __future__ import annotations

import fnmatch
import os
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "EXCLUDED_DIRS",
    "KEEP_BYTES",
    "KEEP_TOTAL",
    "MAX_ENTRIES",
    "MAX_OUTPUTS",
    "MAX_SECONDS",
    "Scan",
    "excludes",
    "fs_now",
    "outputs_enabled",
    "record_outputs",
    "scan",
]

EXCLUDED_DIRS = frozenset(
    {".nbtrack", ".git", ".hg", ".svn", ".ipynb_checkpoints", "__pycache__", "node_modules", ".venv", "venv"}
    | {".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".virtual_documents", ".cache"}
)
KEEP_BYTES = 10 * 1024 * 1024
KEEP_TOTAL = 100 * 1024 * 1024
MAX_ENTRIES = 10_000
MAX_SECONDS = 0.25  # generous: a loaded machine must not cut an ordinary walk short
MAX_OUTPUTS = 1_000
_LINUX_REALTIME_COARSE = 5  # <linux/time.h>; Python's time module does not name it


def _env_int(name: str, default: int) -> int:
    try:
        return max(0, int(os.environ.get(name, default)))
    except ValueError:
        return default


def outputs_enabled() -> bool:
    """False when ``NBTRACK_OUTPUTS`` turns output files off (``off``, ``0``, ``false``, ``no``)."""
    return os.environ.get("NBTRACK_OUTPUTS", "").strip().lower() not in ("off", "0", "false", "no")


def excludes() -> list[str]:
    """The user's glob patterns from ``NBTRACK_OUTPUTS_EXCLUDE``."""
    text = os.environ.get("NBTRACK_OUTPUTS_EXCLUDE", "")
    return [p.strip().rstrip("/") for p in text.split(",") if p.strip().rstrip("/")]


def fs_now() -> float:
    """The clock file modification times come from: on Linux the coarse real-time clock, which lags
    ``time.time()`` by up to a tick (4 ms), so a file written just after this call never looks older than it."""
    clock = getattr(time, "CLOCK_REALTIME_COARSE", _LINUX_REALTIME_COARSE if sys.platform.startswith("linux") else None)
    if clock is not None:
        try:
            return time.clock_gettime(clock)
        except OSError:
            pass
    return time.time()


@dataclass
class Scan:
    """What :func:`scan` found: (relative path, path, size) of each changed file, and whether it stopped early."""

    files: list[tuple[str, Path, int]] = field(default_factory=list)
    entries: int = 0
    truncated: str | None = None  # why the walk stopped early: too many entries, too long, too many changed files


def _matches(rel: str, name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def scan(
    root: Path,
    since: float,
    *,
    skip: Collection[str] = (),
    patterns: list[str] | None = None,
    written: Collection[str] | None = None,
    started: float | None = None,
) -> Scan:
    """Regular files under ``root`` modified at or after ``since``, skipping excluded folders without entering
    them; ``skip``: relative POSIX paths (files or folders) that are not outputs (the store, the notebook);
    ``written``: absolute paths the run opened for writing, which decide for the files stamped between
    ``since`` and ``started`` (``time.time()`` just after ``since`` was read)."""
    ambiguous_until = since if started is None else started
    patterns = excludes() if patterns is None else patterns
    max_entries = _env_int("NBTRACK_OUTPUTS_MAX_ENTRIES", MAX_ENTRIES)
    deadline = time.perf_counter() + MAX_SECONDS
    found = Scan()
    stack = [("", str(root))]
    while stack:
        prefix, folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue  # unreadable or gone
        if prefix and any(e.name == "pyvenv.cfg" for e in entries):
            continue  # a virtualenv
        found.entries += len(entries)
        if found.entries > max_entries or time.perf_counter() > deadline:
            found.truncated = f"{max_entries:,} entries" if found.entries > max_entries else f"{MAX_SECONDS:.2f} s"
            return found
        subfolders = []
        for entry in entries:
            name = entry.name
            rel = prefix + name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if name not in EXCLUDED_DIRS and rel not in skip and not _matches(rel, name, patterns):
                        subfolders.append((rel + "/", entry.path))
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue  # symlinks, FIFOs, sockets
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_mtime < since or rel in skip or _matches(rel, name, patterns):
                continue
            if written is not None and st.st_mtime <= ambiguous_until and entry.path not in written:
                continue  # stamped around the start and not opened by the run: written just before it
            if len(found.files) >= MAX_OUTPUTS:
                found.truncated = f"{MAX_OUTPUTS:,} changed files"
                return found
            found.files.append((rel, Path(entry.path), st.st_size))
        stack.extend(reversed(sorted(subfolders)))
    found.files.sort(key=lambda item: item[0])
    return found


def _relative(path: Path | None, root: Path) -> str | None:
    if path is None:
        return None
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return None


def record_outputs(
    run: Any,
    root: Path,
    since: float,
    notebook: Path | None = None,
    written: Collection[str] | None = None,
    started: float | None = None,
) -> str | None:
    """Fill ``run.record.outputs`` (``run``: an ActiveRun) with the files changed under ``root`` since ``since``
    (``written``, ``started``: see :func:`scan`); returns a sentence about what was left out, or None."""
    import xxhash

    from nbtrack.data.file_cache import hash_file

    skip = {p for p in (_relative(run.store.root, root), _relative(notebook, root)) if p}
    found = scan(root, since, skip=skip, written=written, started=started)
    keep_bytes = _env_int("NBTRACK_OUTPUT_KEEP_BYTES", KEEP_BYTES)
    keep_total = _env_int("NBTRACK_OUTPUT_KEEP_TOTAL", KEEP_TOTAL)
    kept_total = 0
    outputs: dict[str, dict[str, Any]] = {}
    for rel, path, size in found.files:
        kept: str | None = None
        try:
            if size <= keep_bytes and kept_total + size <= keep_total:
                data = path.read_bytes()
                digest = xxhash.xxh3_128(data).hexdigest()  # what hash_file gives, without a second read
                try:
                    kept = run.store.put_blob(data)
                    kept_total += len(data)
                except OSError as exc:
                    run.note_unsaved(f"output file {rel!r}", exc)
                size = len(data)
            else:
                digest = hash_file(path)
        except OSError:
            continue  # removed or unreadable since the walk saw it
        outputs[rel] = {"hash": digest, "size": size, "kept": kept}
    with run._lock:
        run.record.outputs.update(outputs)
    if found.truncated and str(root) not in _told:
        _told.add(str(root))  # once per folder: a cell run from a home directory would say it every time
        return (
            f"output files of run {run.id} (and later runs in {root}) may be incomplete: the walk stopped after "
            f"{found.truncated}; exclude folders with NBTRACK_OUTPUTS_EXCLUDE, raise NBTRACK_OUTPUTS_MAX_ENTRIES, "
            "or set NBTRACK_OUTPUTS=off"
        )
    return None


_told: set[str] = set()  # folders whose walk was cut short, said once per process
