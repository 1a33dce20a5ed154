"""The files a tracked cell opened for reading, with their content hashes: ``Run.files_read``.

An export checks its data before any user code runs; when a data path is computed at run time (inside a
helper, from a config) the code does not show it, but the run saw it: an ``open`` audit hook
(:func:`sys.addaudithook`) notes each file opened for reading while a tracked cell runs, and the cell's end
hashes them. The hook is installed once per process (audit hooks cannot be removed) and returns at its
first test outside a tracked cell, so untracked code pays one attribute lookup per ``open``.

Kept: regular files under the working directory the cell started in, at most :data:`MAX_FILES` of them,
not written by the same cell, not inside the store, ``.git``, ``__pycache__`` or checkpoints, not compiled
Python. Files read by C code that bypasses Python's ``open`` (some Arrow readers) are not seen.
"""

from __future__ import annotations

import os
import sys
from typing import Any

MAX_FILES = 200  # paths noted per cell; more are dropped (a cell reading thousands of shards is a directory input)
SKIPPED_PARTS = frozenset({".git", "__pycache__", ".ipynb_checkpoints", ".nbtrack"})
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".ipynb")


class _Recording:
    """What one tracked cell opened (read or written), gathered by the audit hook."""

    def __init__(self, root: str, skip: tuple[str, ...]) -> None:
        self.root = root
        self.skip = skip
        self.read: dict[str, None] = {}  # absolute path, in first-read order
        self.written: set[str] = set()


_state: dict[str, Any] = {"installed": False, "recording": None, "written": None}


def _hook(event: str, args: tuple[Any, ...]) -> None:
    recording = _state["recording"]
    if recording is None or event != "open":
        return
    path, mode = args[0], args[1]
    if isinstance(path, int) or path is None:
        return
    try:
        text = os.fsdecode(path)
        full = os.path.abspath(text)
    except (TypeError, ValueError):
        return
    if mode is None:  # os.open: the flags tell
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        writing = bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT))
    else:
        writing = any(ch in str(mode) for ch in "wax+")
    if writing:
        recording.written.add(full)
    elif full not in recording.read and len(recording.read) < MAX_FILES:
        recording.read[full] = None


def begin(root: str | None = None, skip: tuple[str, ...] = ()) -> None:
    """Start noting files opened for reading (the tracked cell is about to run). ``skip``: folders to ignore
    (the store)."""
    if not _state["installed"]:
        sys.addaudithook(_hook)
        _state["installed"] = True
    _state["recording"] = _Recording(os.path.abspath(root or os.getcwd()), tuple(os.path.abspath(s) for s in skip))


def end() -> dict[str, str]:
    """Stop noting, and return ``{path: content hash}`` of the kept files (paths relative to the working
    directory the cell started in, POSIX separators); never raises."""
    recording = _state["recording"]
    _state["recording"] = None
    _state["written"] = None if recording is None else frozenset(recording.written)
    if recording is None:
        return {}
    try:
        return _hash_reads(recording)
    except Exception:  # tracking never breaks the cell: a run without the list only has later guards
        return {}


def last_written() -> frozenset[str] | None:
    """The absolute paths the last recorded cell opened for writing (None when no cell was recorded): what
    tells a file the cell wrote in its first clock tick from one written just before it (capture/outputs.py)."""
    written: frozenset[str] | None = _state["written"]
    return written


def _hash_reads(recording: _Recording) -> dict[str, str]:
    from nbtrack.data.file_cache import hash_file

    found: dict[str, str] = {}
    prefix = recording.root.rstrip(os.sep) + os.sep
    for full in recording.read:
        if full in recording.written or not full.startswith(prefix) or full.endswith(SKIPPED_SUFFIXES):
            continue
        if any(full == s or full.startswith(s.rstrip(os.sep) + os.sep) for s in recording.skip):
            continue
        rel = os.path.relpath(full, recording.root)
        if SKIPPED_PARTS & set(rel.split(os.sep)) or not os.path.isfile(full):
            continue
        try:
            found[rel.replace(os.sep, "/")] = hash_file(full)
        except OSError:
            continue  # gone or unreadable by now: nothing to check against
    return found
