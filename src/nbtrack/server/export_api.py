"""Export a run from the views into the workspace: whether a run can be exported (and why not), where the file
goes, and writing it there without leaving the server root or overwriting a file unasked.

The export itself is :func:`nbtrack.server.api.export_run` (planned, verified, rendered in a child process);
this module only decides beforehand and writes afterwards, so it stays cheap and runs on the read lane:

- :func:`nbtrack.query.contents.export_reason` says from the record alone (no blob read, nothing exported)
  whether the exporter would refuse the run, and in one sentence why: no execution history, not a ``%%track`` cell or a
  ``with nbtrack.track()`` block, still running, or failed (a script of a failed run reproduces the error,
  and there are no final metrics to verify it against).
- :func:`destination` turns the name the user typed into a path next to the notebook the run came from (the
  run's working directory when it lies inside the server root, else the request's ``dir``), refusing ``..``,
  absolute paths and anything that resolves outside the root once symlinks are followed.
- :func:`write_file` creates the file with ``O_NOFOLLOW`` and, unless overwriting was asked for, ``O_EXCL``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nbtrack.query.contents import export_reason
from nbtrack.run import effective_status
from nbtrack.server import paths
from nbtrack.server.api import ApiError
from nbtrack.server.paths import PathRefused

SUFFIXES = {"script": ".py", "notebook": ".ipynb", "dvc": ".zip"}
MAX_NAME = 255
_UNSAFE_NAME = re.compile(r"[^\w.+-]+")


def default_name(doc: Mapping[str, Any], fmt: str) -> str:
    """``<run name>_export.py`` (by format), the name made safe for a file; the run id when it has no name."""
    stem = _UNSAFE_NAME.sub("_", str(doc.get("name") or doc.get("id") or "run")).strip("._") or "run"
    return f"{stem[:80]}_export{SUFFIXES.get(fmt, '')}"


def notebook_folder(root: str | os.PathLike[str], folder: str | None, doc: Mapping[str, Any]) -> Path:
    """The folder the run's notebook ran in (its recorded working directory) when that is inside the server
    root, else the request's notebook folder ``dir``; resolved, inside the root."""
    base = Path(root).expanduser().resolve()
    cwd = (doc.get("env") or {}).get("cwd") if isinstance(doc.get("env"), Mapping) else None
    if isinstance(cwd, str) and os.path.isabs(cwd):
        recorded = Path(cwd).resolve()
        if paths.inside(recorded, base) and recorded.is_dir():
            return recorded
    text = (folder or "").strip().rstrip("/")
    if not text:
        return base
    parts = text.replace("\\", "/").split("/")
    if any(p in ("", ".", "..") for p in parts) or "\x00" in text or Path(text).is_absolute():
        raise ApiError(400, "invalid_path", "dir must be a folder relative to the server root, without '..'")
    target = (base / text).resolve()
    if not paths.inside(target, base) or not target.is_dir():
        raise ApiError(400, "invalid_path", "dir must be a folder inside the server root")
    return target


def destination(
    root: str | os.PathLike[str], folder: Path, name: str, fmt: str, overwrite: bool = False
) -> tuple[Path, str]:
    """(absolute path, path relative to the root) of the file to write: ``name`` (a file name, or a relative
    path below ``folder``), with the format's suffix added when missing. Refused (400) when it is empty,
    absolute, contains ``..``, or resolves outside the root; 409 when the file exists and ``overwrite`` is off."""
    base = Path(root).expanduser().resolve()
    text = str(name or "").strip()
    if not text or len(text) > MAX_NAME or "\x00" in text:
        raise ApiError(400, "invalid_name", "Type a file name for the export, such as model_export.py.")
    parts = text.replace("\\", "/").split("/")
    if text.startswith(("/", "\\", "~")) or Path(text).is_absolute() or re.match(r"^[A-Za-z]:", text):
        raise ApiError(400, "invalid_name", "Type a file name relative to the notebook's folder, not an absolute path.")
    if any(p in ("", ".", "..") for p in parts):
        raise ApiError(400, "invalid_name", "Type a file name without '..': the export goes next to the notebook.")
    suffix = SUFFIXES.get(fmt, "")
    if suffix and not text.lower().endswith(suffix):
        text += suffix
    target = folder / text
    resolved_parent = target.parent.resolve()
    if not paths.inside(resolved_parent, base) or not paths.inside(folder.resolve(), base):
        raise ApiError(400, "invalid_name", "That name leads outside the server root (a symlink?); choose another.")
    if not resolved_parent.is_dir():
        raise ApiError(400, "invalid_name", "The folder in that name does not exist; create it or choose another name.")
    target = resolved_parent / target.name
    if target.is_symlink():
        raise ApiError(400, "invalid_name", "A symlink has that name; choose another name.")
    if target.exists():
        if not target.is_file():
            raise ApiError(400, "invalid_name", "Something that is not a file has that name; choose another name.")
        if not overwrite:
            raise ApiError(409, "exists", f"{target.name} already exists; choose another name or overwrite it.")
    return target, target.relative_to(base).as_posix()


def write_file(target: Path, content: bytes, overwrite: bool = False) -> None:
    """Write ``content`` to ``target`` without following a symlink there; refuse an existing file unless
    ``overwrite`` (checked again at open, so a file created since :func:`destination` is not replaced)."""
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(target, flags, 0o644)
    except FileExistsError:
        raise ApiError(409, "exists", f"{target.name} already exists; choose another name or overwrite it.") from None
    except OSError as exc:
        raise ApiError(400, "invalid_name", f"cannot write {target.name} ({type(exc).__name__})") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


def prepare(
    store: Any, root: str, folder: str | None, run_id: str, fmt: str | None, name: str | None, overwrite: bool
) -> dict[str, Any]:
    """Checks before exporting (read lane): the run exists and can be exported, the format is known, and the
    destination is allowed. Returns the run's full id, the format, and the destination (absolute, relative)."""
    from nbtrack.server.api import export_formats, get_record

    doc = get_record(store, run_id)  # 400 for a malformed id, 404 unknown, 409 ambiguous
    full = doc["id"]
    reason = export_reason(doc, effective_status(doc))
    if reason is not None:
        raise ApiError(400, "not_exportable", reason)
    formats = export_formats()["formats"]
    target = fmt or formats[0]
    if target not in formats:
        raise ApiError(400, "bad_request", f"unknown export format {target!r}: use one of {', '.join(formats)}")
    try:
        here = notebook_folder(root, folder, doc)
    except PathRefused as exc:
        raise ApiError(400, "invalid_path", exc.message) from None
    path, relative = destination(root, here, name or default_name(doc, target), target, overwrite)
    return {"run": full, "format": target, "path": str(path), "relative": relative}


def finish(prepared: dict[str, Any], content: bytes, verdict: dict[str, Any], overwrite: bool) -> dict[str, Any]:
    """Write the exported file where :func:`prepare` decided; the answer the view shows."""
    write_file(Path(prepared["path"]), content, overwrite)
    return {
        "path": prepared["relative"],
        "format": prepared["format"],
        "run": prepared["run"],
        "verified": verdict.get("verified"),
        "cause": verdict.get("cause"),
        "differences": verdict.get("differences") or {},
    }
