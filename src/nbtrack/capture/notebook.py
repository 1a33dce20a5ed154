"""Where a kernel's notebook lives, a content-addressed snapshot of it, and the kernel's input history.

The kernel protocol does not tell a kernel which file it serves, so the path comes from what the
process that runs the notebook leaves behind, in this order (the source is recorded as
``Run.notebook_source``):

- ``__nbtrack_notebook__``: nbtrack's JupyterLab extension sets it in the namespace (``{"id": ..., "path": ...}``,
  the notebook's id from ``metadata.nbtrack.id`` and its path now) when the kernel starts and after every
  rename or move, so it is right where ``JPY_SESSION_NAME`` (set once, when the kernel started) is stale;
- ``__vsc_ipynb_file__``: VS Code sets it in the namespace;
- ``JPY_SESSION_NAME``: jupyter_server (JupyterLab, Notebook 7) sets it in the kernel's environment;
- ``papermill``: papermill writes its output notebook (with ``metadata.papermill.input_path``) before each
  cell runs; the experiment is the *input* notebook's name;
- ``cwd``: a single notebook in the kernel's working directory whose cells hold the running cell's code:
  ``jupyter nbconvert --execute`` and nbclient start the kernel in the notebook's folder
  (``resources["metadata"]["path"]``) and set nothing else.

The notebook's own identity is ``metadata.nbtrack.id`` (written by the JupyterLab extension when a notebook
without one is opened): read from ``__nbtrack_notebook__``, else from the notebook file found, and recorded as
``Run.notebook_id``, so a run stays tied to its notebook through renames and moves. A kernel keeps the
experiment its first run of a notebook id used: after a rename, new runs of that kernel go on in the same
experiment (the sidebar lists a notebook's runs by its id, so it shows them under the new name too).

``NBTRACK_EXPERIMENT`` overrides the experiment's name. The file on disk can lag the live document; a
snapshot older than the last executed cell, or one that does not contain the tracked cell yet, is marked stale.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from nbtrack import redact

_snapshot_cache: dict[tuple[str, int, int, str], tuple[str, set[str]]] = {}


@dataclass(frozen=True)
class NotebookOrigin:
    """The kernel's notebook as found: the experiment it names, its file (when on disk) and how it was found."""

    experiment: str
    path: Path | None
    source: str  # "NBTRACK_EXPERIMENT", "__nbtrack_notebook__", "__vsc_ipynb_file__", "JPY_SESSION_NAME", ...
    notebook_id: str | None = None  # metadata.nbtrack.id, when the notebook has one


FRONTEND_VAR = "__nbtrack_notebook__"  # what the JupyterLab extension sets in the kernel's namespace
NOTEBOOK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what an id looks like (the extension writes a UUID)
_experiment_of_id: dict[str, str] = {}  # notebook id -> the experiment this kernel's first run of it used


def valid_id(value: Any) -> str | None:
    """``value`` when it looks like a notebook id, else None (an id is data, never a path)."""
    return value if isinstance(value, str) and NOTEBOOK_ID.fullmatch(value) else None


MAX_SCANNED = 50  # notebooks read in the working directory, at most
MAX_SCANNED_BYTES = 50 * 1024 * 1024


@dataclass
class _Facts:
    sources: set[str] = field(default_factory=set)  # code cells, stripped
    papermill_input: str | None = None
    notebook_id: str | None = None  # metadata.nbtrack.id


_facts_cache: dict[Path, tuple[int, int, _Facts]] = {}


def _shell() -> Any:
    ipython = sys.modules.get("IPython")  # never imported here
    return ipython.get_ipython() if ipython is not None else None


def running_cell(shell: Any = None) -> str | None:
    """The source of the cell the kernel is running (the last entry of its input history), or None."""
    shell = shell if shell is not None else _shell()
    history = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    return history[-1] if history and len(history) > 1 and isinstance(history[-1], str) else None


def _facts(path: Path) -> _Facts | None:
    try:
        st = path.stat()
    except OSError:
        return None
    cached = _facts_cache.get(path)
    if cached is not None and cached[:2] == (st.st_size, st.st_mtime_ns):
        return cached[2]
    if st.st_size > MAX_SCANNED_BYTES:
        return None
    try:
        nb = json.loads(path.read_bytes())
        meta = nb.get("metadata") or {}
    except (OSError, ValueError, AttributeError):
        return None
    papermill = meta.get("papermill") if isinstance(meta, dict) else None
    given = papermill.get("input_path") if isinstance(papermill, dict) else None
    own = meta.get("nbtrack") if isinstance(meta, dict) else None
    notebook_id = valid_id(own.get("id")) if isinstance(own, dict) else None
    facts = _Facts({s.strip() for s in _code_sources_of(nb)}, given if isinstance(given, str) else None, notebook_id)
    _facts_cache[path] = (st.st_size, st.st_mtime_ns, facts)
    return facts


def in_working_directory(cell: str | None) -> NotebookOrigin | None:
    """The notebook in the working directory that holds ``cell`` (the running cell's code), when one does.

    A papermill output notebook names its input's stem. Several matches are ambiguous (None), except that
    ``exp.ipynb`` wins over copies named after it (``exp.nbconvert.ipynb``, ``exp-out.ipynb``)."""
    code = (cell or "").strip()
    if not code:
        return None
    try:
        candidates = sorted(Path.cwd().glob("*.ipynb"))[:MAX_SCANNED]
    except OSError:
        return None
    matches = [(path, facts) for path in candidates if (facts := _facts(path)) is not None and code in facts.sources]
    papermill = [(path, facts) for path, facts in matches if facts.papermill_input]
    if len(papermill) == 1:
        path, facts = papermill[0]
        stem = PurePath(str(facts.papermill_input).replace("\\", "/")).name
        stem = stem[: -len(".ipynb")] if stem.endswith(".ipynb") else stem
        return NotebookOrigin(stem or path.stem, path.absolute(), "papermill", facts.notebook_id)
    if not matches:
        return None
    first, facts = min(matches, key=lambda m: len(m[0].stem))
    if all(other.stem.startswith(first.stem) for other, _ in matches):
        return NotebookOrigin(first.stem, first.absolute(), "cwd", facts.notebook_id)
    return None


def _on_disk(name: str) -> Path | None:
    candidate = Path(name)
    for path in (candidate, Path.cwd() / candidate, Path.cwd() / candidate.name):
        if path.is_file():
            return path.absolute()
    return None


def _with_id(found: NotebookOrigin) -> NotebookOrigin:
    """``found`` with the id its file's metadata holds, when it has none yet."""
    if found.notebook_id is not None or found.path is None:
        return found
    facts = _facts(found.path)
    if facts is None or facts.notebook_id is None:
        return found
    return NotebookOrigin(found.experiment, found.path, found.source, facts.notebook_id)


def _from_frontend(user_ns: dict[str, Any]) -> NotebookOrigin | None:
    """What the JupyterLab extension told the kernel (:data:`FRONTEND_VAR`), when it did."""
    told = user_ns.get(FRONTEND_VAR)
    if not isinstance(told, dict):
        return None
    path = told.get("path")
    if not isinstance(path, str) or not path.endswith(".ipynb"):
        return None
    stem = PurePath(path.replace("\\", "/")).name[: -len(".ipynb")]
    return NotebookOrigin(stem, _on_disk(path), FRONTEND_VAR, valid_id(told.get("id")))


def locate(user_ns: dict[str, Any] | None, cell: str | None = None) -> NotebookOrigin | None:
    """The kernel's notebook, from the sources in the module docstring (``NBTRACK_EXPERIMENT`` aside).

    ``cell``: the running cell's code, for the working-directory match (without it, that source is skipped).
    A VS Code or jupyter_server name counts even when its file is not on disk (``path`` is None then)."""
    named: NotebookOrigin | None = None
    if user_ns:
        told = _from_frontend(user_ns)
        if told is not None:
            return _with_id(told)
        vsc = user_ns.get("__vsc_ipynb_file__")
        if isinstance(vsc, str) and vsc.endswith(".ipynb"):
            found = Path(vsc).absolute() if Path(vsc).is_file() else None
            named = NotebookOrigin(Path(vsc).stem, found, "__vsc_ipynb_file__")
            if found is not None:
                return _with_id(named)
    session = os.environ.get("JPY_SESSION_NAME")
    if session and session.endswith(".ipynb"):
        candidate = Path(session)
        path = _on_disk(session)
        if path is not None:
            return _with_id(NotebookOrigin(candidate.stem, path, "JPY_SESSION_NAME"))
        named = named or NotebookOrigin(candidate.stem, None, "JPY_SESSION_NAME")
    return named or in_working_directory(cell)


def notebook_path(user_ns: dict[str, Any] | None, cell: str | None = None) -> tuple[Path | None, str | None]:
    """(path, how it was found) of the notebook a kernel runs, or (None, None)."""
    found = locate(user_ns, cell)
    if found is None or found.path is None:
        return None, None
    return found.path, found.source


def experiment_name(user_ns: dict[str, Any] | None, cell: str | None = None) -> str | None:
    """The notebook's file name without ``.ipynb``, when it can be known."""
    found = locate(user_ns, cell)
    return found.experiment if found else None


def _code_sources_of(nb: Any) -> set[str]:
    cells = nb.get("cells", []) if isinstance(nb, dict) else []
    sources = set()
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            sources.add("".join(source) if isinstance(source, list) else str(source))
    return sources


def _code_sources(raw: bytes) -> set[str]:
    try:
        return _code_sources_of(json.loads(raw))
    except ValueError:
        return set()


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
_last_history: dict[tuple[str, int, int], tuple[list[str], str]] = {}  # the last history stored, and its blob


def store_history(store: Any, sources: list[str]) -> str:
    """Store each cell source as a blob and the ordered list of their hashes as one more blob.

    Sources already stored by this process are looked up, not hashed again: the history grows with
    every cell, and a run should not cost time in proportion to it. Secrets are redacted from each
    source before it is stored (:mod:`nbtrack.redact`).
    """
    key = (str(store.root), len(sources), hash(tuple(sources)))
    last = _last_history.get(key)
    if last is not None and last[0] == sources and store.has_blob(last[1]):  # a sweep: each run, the same history
        return last[1]
    redactor = redact.for_store(store.root)
    digests = []
    for source in sources:
        digest = _source_digests.get(source)
        if digest is None or not store.has_blob(digest):
            kept = redactor.code(source)
            digest = _source_digests[source] = store.put_blob(kept.encode("utf-8", "surrogatepass"))
        digests.append(digest)
    digest = store.put_json(digests)
    _last_history.clear()
    _last_history[key] = (list(sources), digest)
    return digest


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


def kernel_failures(history_len: int | None) -> list[dict[str, Any]]:
    """:func:`failures_in` for the running kernel's shell (what ``%%track`` recorded, and IPython's own
    record), for a run that is not opened by the magic: a ``with nbtrack.track()`` block in a cell."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    magics = getattr(shell, "_nbtrack_magics", None)
    return failures_in(list(getattr(magics, "failed_cells", None) or []), history_len, shell)


def load_history(store: Any, digest: str) -> list[str]:
    return [store.get_blob(h).decode("utf-8", "surrogatepass") for h in store.get_json(digest)]


def notebook_origin() -> NotebookOrigin | None:
    """Where this kernel's notebook was found (``NBTRACK_EXPERIMENT`` first), or None outside a known notebook."""
    env = os.environ.get("NBTRACK_EXPERIMENT")
    shell = _shell()
    if env:
        told = _from_frontend(getattr(shell, "user_ns", None) or {})
        return NotebookOrigin(env, None, "NBTRACK_EXPERIMENT", told.notebook_id if told else None)
    found = locate(getattr(shell, "user_ns", None), running_cell(shell))
    if found is None or found.notebook_id is None:
        return found
    kept = _experiment_of_id.setdefault(found.notebook_id, found.experiment)  # the same one after a rename
    return found if kept == found.experiment else NotebookOrigin(kept, found.path, found.source, found.notebook_id)


def notebook_experiment() -> str | None:
    """``NBTRACK_EXPERIMENT``, else the notebook's name when the kernel's notebook is known, else None."""
    found = notebook_origin()
    return found.experiment if found else None


def default_experiment() -> str:
    """The notebook's name when the kernel's notebook is known, else ``default``."""
    return notebook_experiment() or "default"
