"""``log_artifact``: files, directories and bytes kept in the store as a run's artifacts.

An artifact is a content-addressed blob (:meth:`~nbtrack.store.local.Store.put_blob`, so the same bytes
logged by many runs are stored once) and a record in ``run.artifacts[name]``:
``{"blob", "size", "media_type", "kind"}`` with kind ``"file"``, ``"bytes"`` or ``"figure"``
(figures come from :mod:`nbtrack.capture.figures`).

Names are user input that views turn into download names, so a name is a relative POSIX path of plain
segments (``"plots/loss.png"``): no ``..`` or ``.`` segment, no leading ``/``, no backslash or drive, no
control characters, at most :data:`MAX_NAME_LENGTH` characters. A bad name is refused with
:class:`~nbtrack.errors.ArtifactError` before anything is stored; it never becomes a path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nbtrack.errors import ArtifactError, ArtifactNotFoundError

__all__ = ["MAX_DIR_FILES", "MAX_NAME_LENGTH", "add_artifact", "check_name", "log_artifact", "media_type", "next_name"]

MAX_NAME_LENGTH = 250
MAX_DIR_FILES = 1000  # a directory with more files is refused: log an archive of it instead
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
)


def check_name(name: Any) -> str:
    """``name`` when it is a safe artifact name; :class:`ArtifactError` saying why not otherwise."""
    if not isinstance(name, str):
        raise ArtifactError(f"an artifact name is text, not {type(name).__name__}")
    shown = repr(name[:60])
    if not name.strip():
        raise ArtifactError("an artifact name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ArtifactError(f"artifact name {shown}... is longer than {MAX_NAME_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ArtifactError(f"artifact name {shown} holds control characters")
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArtifactError(f"artifact name {shown} must be a relative path with '/' between its parts")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ArtifactError(f"artifact name {shown} has an empty, '.' or '..' part")
    return name


def media_type(name: str, head: bytes = b"") -> str:
    """The media type the name's extension says, else what the first bytes say, else octet-stream."""
    import mimetypes  # reads the system's type tables: only when an artifact is logged

    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed:
        return guessed
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    return "application/octet-stream"


def next_name(taken: Any, stem: str, suffix: str = "") -> str:
    """The first of ``stem-1<suffix>``, ``stem-2<suffix>``... that is not in ``taken``."""
    n = 1
    while f"{stem}-{n}{suffix}" in taken:
        n += 1
    return f"{stem}-{n}{suffix}"


def add_artifact(run: Any, name: str, data: bytes, kind: str, media: str | None = None) -> dict[str, Any] | None:
    """Store ``data`` as artifact ``name`` of ``run`` (an ActiveRun); None when the store could not take it
    (said in the run's one final warning)."""
    try:
        digest = run.store.put_blob(data)
    except OSError as exc:
        run.note_unsaved(f"artifact {name!r}", exc)
        return None
    record = {"blob": digest, "size": len(data), "media_type": media or media_type(name, data[:16]), "kind": kind}
    with run._lock:
        run.record.artifacts[name] = record
    return record


def log_artifact(run: Any, path_or_bytes: Any, name: str | None = None) -> dict[str, dict[str, Any]]:
    """Keep a file, each file of a directory, or bytes as artifacts of ``run``; returns the records by name.

    A file is named by its file name, a directory's files by ``<directory name>/<relative path>`` (``name``
    replaces the file or directory name), bytes by ``artifact-1``, ``artifact-2``... Raises
    :class:`ArtifactError` for a bad name or type and :class:`ArtifactNotFoundError` for a missing path.
    """
    if name is not None:
        check_name(name)
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
        key = name if name is not None else next_name(run.record.artifacts, "artifact")
        record = add_artifact(run, key, data, "bytes")
        return {key: record} if record else {}
    if not isinstance(path_or_bytes, (str, os.PathLike)):
        raise ArtifactError(f"log_artifact takes a file or directory path or bytes, not {type(path_or_bytes).__name__}")
    path = Path(path_or_bytes).expanduser()
    if path.is_dir():
        files = _dir_files(path)
        prefix = check_name(name if name is not None else _default_name(path))
        named = [(f"{prefix}/{rel}", file) for rel, file in files]
    elif path.is_file():
        named = [(check_name(name if name is not None else _default_name(path)), path)]
    else:
        raise ArtifactNotFoundError(2, f"log_artifact: no file or directory {str(path)!r}", str(path))
    for key, _ in named:
        check_name(key)  # every name is checked before anything is stored
    logged = {}
    for key, file in named:
        data = file.read_bytes()
        record = add_artifact(run, key, data, "file")
        if record:
            logged[key] = record
    return logged


def _default_name(path: Path) -> str:
    name = path.resolve().name if path.name in ("", ".", "..") else path.name
    if not name:
        raise ArtifactError(f"{str(path)!r} has no name to give its artifact: pass name=")
    try:
        return check_name(name)
    except ArtifactError as exc:
        raise ArtifactError(f"{exc}: pass name= to name the artifact of {str(path)!r}") from None


def _dir_files(path: Path) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for root, dirs, names in os.walk(path):
        dirs.sort()
        for file_name in sorted(names):
            file = Path(root) / file_name
            if not file.is_file():
                continue  # a dangling link, a FIFO
            found.append((file.relative_to(path).as_posix(), file))
            if len(found) > MAX_DIR_FILES:
                raise ArtifactError(
                    f"{str(path)!r} holds more than {MAX_DIR_FILES} files: log an archive of it, "
                    "or its files one by one"
                )
    return found
