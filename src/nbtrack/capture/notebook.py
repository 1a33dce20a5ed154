"""Where a kernel's notebook lives, a content-addressed snapshot of it, and the kernel's input history.

The kernel protocol does not tell a kernel which file it serves, so the path comes from what
frontends leave behind: VS Code's ``__vsc_ipynb_file__`` first, then jupyter_server's
``JPY_SESSION_NAME``. The file on disk can lag the live document; a snapshot older than the last
executed cell, or one that does not contain the tracked cell yet, is marked stale.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from nbtrack import redact

_snapshot_cache: dict[tuple[str, int, int, str], tuple[str, set[str]]] = {}


def notebook_path(user_ns: dict[str, Any] | None) -> tuple[Path | None, str | None]:
    """(path, how it was found) of the notebook a kernel runs, or (None, None)."""
    if user_ns:
        vsc = user_ns.get("__vsc_ipynb_file__")
        if isinstance(vsc, str) and vsc.endswith(".ipynb") and Path(vsc).is_file():
            return Path(vsc).absolute(), "__vsc_ipynb_file__"
    session = os.environ.get("JPY_SESSION_NAME")
    if session and session.endswith(".ipynb"):
        candidate = Path(session)
        for path in (candidate, Path.cwd() / candidate, Path.cwd() / candidate.name):
            if path.is_file():
                return path.absolute(), "JPY_SESSION_NAME"
        return None, None
    return None, None


def experiment_name(user_ns: dict[str, Any] | None) -> str | None:
    """The notebook's file name without ``.ipynb``, when it can be known."""
    if user_ns:
        vsc = user_ns.get("__vsc_ipynb_file__")
        if isinstance(vsc, str) and vsc.endswith(".ipynb"):
            return Path(vsc).stem
    session = os.environ.get("JPY_SESSION_NAME")
    if session and session.endswith(".ipynb"):
        return Path(session).stem
    return None


def _code_sources(raw: bytes) -> set[str]:
    try:
        nb = json.loads(raw)
        cells = nb.get("cells", [])
    except (ValueError, AttributeError):
        return set()
    sources = set()
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            sources.add("".join(source) if isinstance(source, list) else str(source))
    return sources


SNAPSHOT_MODES = ("on", "redact", "off")


def snapshot_mode() -> str:
    """``NBTRACK_SNAPSHOT``: ``on`` (default), ``redact`` (outputs removed before storing) or ``off``."""
    mode = os.environ.get("NBTRACK_SNAPSHOT", "on").strip().lower()
    return mode if mode in SNAPSHOT_MODES else "on"


def _redacted(raw: bytes) -> bytes:
    """The notebook without outputs: they can hold printed secrets, tokens or personal data."""
    try:
        nb = json.loads(raw)
        for cell in nb.get("cells", []):
            if isinstance(cell, dict) and cell.get("cell_type") == "code":
                cell["outputs"] = []
                cell["execution_count"] = None
        return json.dumps(nb, ensure_ascii=False, indent=1).encode("utf-8")
    except (ValueError, AttributeError):
        return b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def snapshot(store: Any, path: Path, how: str, last_executed: float | None, cell_source: str) -> dict[str, Any]:
    """Store the notebook file as a blob (once per distinct content) and describe it."""
    st = path.stat()
    mode = snapshot_mode()
    key = (str(path), st.st_size, st.st_mtime_ns, mode)
    cached = _snapshot_cache.get(key)
    if cached is None or not store.has_blob(cached[0]):  # not there since `nbtrack gc`: store it again
        raw = path.read_bytes()
        kept = _redacted(raw) if mode == "redact" else redact.for_store(store.root).notebook(raw)  # no secrets
        cached = (store.put_blob(kept), _code_sources(raw))
        _snapshot_cache.clear()  # one notebook per kernel: keep only the latest
        _snapshot_cache[key] = cached
    digest, sources = cached
    mtime = st.st_mtime
    stale_reasons = []
    if last_executed is not None and mtime < last_executed:
        stale_reasons.append("saved before the last executed cell")
    if cell_source.strip() not in {s.strip() for s in sources}:
        stale_reasons.append("does not contain the tracked cell as it ran")
    return {
        "path": str(path),
        "source": how,
        "blob": digest,
        "size": st.st_size,
        "mtime": mtime,
        "stale": bool(stale_reasons),
        "stale_reason": "; ".join(stale_reasons) or None,
        "redacted": mode == "redact",
    }


_source_digests: dict[str, str] = {}


def store_history(store: Any, sources: list[str]) -> str:
    """Store each cell source as a blob and the ordered list of their hashes as one more blob.

    Sources already stored by this process are looked up, not hashed again: the history grows with
    every cell, and a run should not cost time in proportion to it. Secrets are redacted from each
    source before it is stored (:mod:`nbtrack.redact`).
    """
    redactor = redact.for_store(store.root)
    digests = []
    for source in sources:
        digest = _source_digests.get(source)
        if digest is None or not store.has_blob(digest):
            kept = redactor.code(source)
            digest = _source_digests[source] = store.put_blob(kept.encode("utf-8", "surrogatepass"))
        digests.append(digest)
    return store.put_json(digests)


def cell_failure(result: Any, shell: Any) -> dict[str, Any] | None:
    """What a cell that raised leaves for the export, from IPython's ``post_run_cell`` result: ``index`` (its
    position in the history, ``input_hist_raw[1:]``), ``error`` (the exception's class name) and, when it
    can be known, ``line``: the line of the cell's top-level statement that raised (0: before any statement
    ran, a SyntaxError say). None for a cell that did not raise or is not in the history (the body of a
    ``%%track`` cell runs as a cell of its own, outside the history)."""
    error = getattr(result, "error_before_exec", None) or getattr(result, "error_in_exec", None)
    info = getattr(result, "info", None)
    history = getattr(shell, "history_manager", None)
    if error is None or history is None or not getattr(info, "store_history", False) or getattr(info, "silent", False):
        return None
    failure: dict[str, Any] = {"index": len(history.input_hist_raw) - 2, "error": type(error).__name__}
    raw = getattr(info, "raw_cell", "") or ""
    if getattr(result, "error_before_exec", None) is not None:
        failure["line"] = 0
    elif not raw.lstrip().startswith("%%"):  # a cell magic runs its whole body as one statement
        tb = error.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_code.co_name == "<module>" and frame.f_globals is shell.user_ns:
                failure["line"] = tb.tb_lineno
                break
            tb = tb.tb_next
    return failure if failure["index"] >= 0 else None


def failures_in(failures: list[dict[str, Any]], history_len: int | None, shell: Any = None) -> list[dict[str, Any]]:
    """The failures of the cells in a history of ``history_len`` cells (the last one is the run's own), and
    those of cells that raised before nbtrack was loaded, where IPython kept them (IPython 9's
    ``history_manager.exceptions``, by execution count: their line is not known)."""
    if not history_len:
        return []
    found = {f["index"]: f for f in failures if f["index"] < history_len - 1}
    stored = getattr(getattr(shell, "history_manager", None), "exceptions", None)
    if isinstance(stored, dict):
        for count, info in stored.items():
            index = count - 1 if isinstance(count, int) else -1
            if 0 <= index < history_len - 1 and index not in found and isinstance(info, dict):
                error = str(info.get("ename") or "an exception")
                found[index] = {"index": index, "error": error, **({"line": 0} if error == "SyntaxError" else {})}
    return [found[i] for i in sorted(found)]


def load_history(store: Any, digest: str) -> list[str]:
    return [store.get_blob(h).decode("utf-8", "surrogatepass") for h in store.get_json(digest)]


def notebook_experiment() -> str | None:
    """``NBTRACK_EXPERIMENT``, else the notebook's name when the kernel's notebook is known, else None."""
    env = os.environ.get("NBTRACK_EXPERIMENT")
    if env:
        return env
    user_ns = None
    ipython = sys.modules.get("IPython")
    if ipython is not None:
        shell = ipython.get_ipython()
        user_ns = getattr(shell, "user_ns", None)
    return experiment_name(user_ns)


def default_experiment() -> str:
    """The notebook's name when the kernel's notebook is known, else ``default``."""
    return notebook_experiment() or "default"
