"""Which files a request may read: stores confined to the server root, regular files only, no paths in messages.

A request names a notebook folder (``dir``) relative to the server root. :func:`store_path` resolves it,
then resolves the store inside it (``dir/.nbtrack``) and the files the server reads there (``runs.jsonl``,
``objects/``) with every symlink followed, and refuses any that lands outside the root: a ``.nbtrack`` that is a
symlink to another user's store is not served. Only regular files are read (a FIFO named ``runs.jsonl`` would
park the reading thread forever): :class:`ConfinedStore` checks each blob it opens the same way.

Messages sent to the client go through :func:`scrub`, which turns paths under the root into relative ones
and any other absolute path into its last part, so an error never tells a client where the server lives.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from nbtrack.errors import NbtrackError
from nbtrack.store.local import Store

STORE_DIR = ".nbtrack"
_HEX = frozenset("0123456789abcdef")
_ABSOLUTE = re.compile(
    r"(?<![\w.~:/-])(?:[A-Za-z]:)?[/\\](?:[^\s'\"/\\:,;()\[\]{}<>]+[/\\])+([^\s'\"/\\:,;()\[\]{}<>]*)"
)


class PathRefused(NbtrackError):
    """A path the server will not read; ``message`` says why without naming any absolute path."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _check_regular(path: Path, what: str) -> None:
    """A missing file is fine (an empty store); anything there must be a regular file (``stat``: never opened)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise PathRefused(f"cannot read the store's {what} ({type(exc).__name__})") from None
    if not stat.S_ISREG(mode):
        raise PathRefused(f"the store's {what} is not a regular file; nbtrack reads only regular files")


def confine(store: Path, root: Path | None) -> Path:
    """``store`` with every symlink resolved, checked: inside ``root`` (unless None) with its journal a regular
    file and its ``objects`` folder a folder, each also inside ``root``."""
    resolved = store.resolve()
    if root is not None and not inside(resolved, root):
        raise PathRefused("the store in dir resolves outside the server root (a symlink?); it is not served")
    if resolved.exists() and not resolved.is_dir():
        raise PathRefused(f"{STORE_DIR} in dir is not a folder")
    for name in ("runs.jsonl", "objects"):
        part = (resolved / name).resolve()
        if root is not None and not inside(part, root):
            raise PathRefused(f"the store's {name} resolves outside the server root (a symlink?); it is not served")
    _check_regular(resolved / "runs.jsonl", "runs.jsonl")
    objects = resolved / "objects"
    if objects.exists() and not objects.is_dir():
        raise PathRefused("the store's objects is not a folder")
    return resolved


def store_path(root: str | os.PathLike[str], folder: str | None) -> Path:
    """The store a kernel started for a notebook in ``folder`` writes to, checked by :func:`confine`.

    ``NBTRACK_DIR`` when the server has it (kernels inherit the server's environment, and the administrator
    chose it, so it may be outside the root; its files must still be regular), else ``.nbtrack`` in the
    notebook's folder (a kernel's working directory). ``folder`` is relative to the server's root and must stay
    inside it, as must the store in it once every symlink is resolved.
    """
    env = os.environ.get("NBTRACK_DIR")
    if env:
        return confine(Path(env).expanduser().absolute(), None)
    base = Path(root).expanduser().resolve()
    text = (folder or "").strip().rstrip("/")
    if not text:
        return confine(base / STORE_DIR, base)
    parts = text.replace("\\", "/").split("/")
    if any(p in ("", ".", "..") for p in parts) or "\x00" in text or Path(text).is_absolute():
        raise PathRefused("dir must be a folder relative to the server root, without '..'")
    target = (base / text).resolve()
    if not inside(target, base):
        raise PathRefused("dir must stay inside the server root")
    return confine(target / STORE_DIR, base)


def read_regular(path: Path, root: Path | None) -> bytes:
    """The bytes of ``path`` if it resolves inside ``root`` and is a regular file (never blocks on a FIFO)."""
    resolved = path.resolve()
    if root is not None and not inside(resolved, root):
        raise PathRefused("a file of the store resolves outside the server root (a symlink?); it is not read")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(resolved, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PathRefused("a file of the store is not a regular file; nbtrack reads only regular files")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read()
    finally:
        os.close(fd)


class ConfinedStore(Store):
    """A read-only view of a store for the server: every blob it reads is checked by :func:`read_regular`."""

    def __init__(self, root: str | os.PathLike[str], boundary: Path | None) -> None:
        super().__init__(root)
        self.boundary = boundary

    def get_blob(self, digest: str) -> bytes:
        if len(digest) != 32 or not _HEX.issuperset(digest):
            raise ValueError(f"not a blob hash: {digest[:80]!r}")
        packed = self.small_blob(digest)  # in runs.jsonl or objects/packs, opened without following links
        if packed is not None:
            return packed
        return read_regular(self.objects / digest[:2] / digest[2:], self.boundary)


def scrub(text: str, root: str | os.PathLike[str] | None = None) -> str:
    """``text`` without absolute paths: those under ``root`` relative to it, any other reduced to its last part."""
    out = str(text)
    if root is not None:
        for base in {str(Path(root).expanduser().resolve()), str(Path(root).expanduser().absolute())}:
            out = out.replace(base.rstrip(os.sep) + os.sep, "").replace(base, ".")
    return _ABSOLUTE.sub(lambda m: m.group(1) or "...", out)
