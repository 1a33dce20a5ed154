"""What the REST endpoints answer, as plain functions over a :class:`~nbtrack.store.local.Store`: no tornado here.

Every function returns JSON-ready data or raises :class:`ApiError` (an HTTP status, a short code such as
``not_found``, and a sentence). Runs go out as their stored records, unchanged; anything derived (the
effective status of a run whose kernel died, data drift against the previous run) travels beside them.
``compare``, ``diff`` and ``export`` are looked up at request time, so a server whose nbtrack lacks one
answers ``unavailable`` for that endpoint only.
"""

from __future__ import annotations

import io
import math
import os
import stat
import tempfile
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from nbtrack import ids
from nbtrack.errors import NbtrackError
from nbtrack.query import contents
from nbtrack.query.table import RunsTable
from nbtrack.run import Run, effective_status
from nbtrack.server import paths
from nbtrack.server.paths import ConfinedStore, PathRefused, scrub
from nbtrack.store.local import AmbiguousRunIdError, RunNotFoundError, Store

API_VERSION = 1
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
PLOT_KINDS = ("box", "diff", "parallel", "matrix", "curves", "cd")
MAX_COMPARE = 500
CACHED_STORES = 32  # stores (with their runs tables) kept between requests, least recently used dropped first
CONTENT_TYPES = {".py": "text/x-python; charset=UTF-8", ".ipynb": "application/x-ipynb+json", ".zip": "application/zip"}


class ApiError(NbtrackError):
    """An error the client should see: HTTP ``status``, short ``code``, and ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def version() -> dict[str, Any]:
    from nbtrack import __version__

    return {"name": "nbtrack", "version": __version__, "api": API_VERSION}


# which store ------------------------------------------------------------------------------------------


def store_path(root: str | os.PathLike[str], folder: str | None) -> Path:
    """The store a kernel started for a notebook in ``folder`` writes to, resolved and confined to the server
    root (see :func:`nbtrack.server.paths.store_path`)."""
    try:
        return paths.store_path(root, folder)
    except PathRefused as exc:
        raise ApiError(400, "invalid_path", exc.message) from None


def boundary(root: str | os.PathLike[str]) -> Path | None:
    """What every file a request reads must resolve inside: the server root (nothing when ``NBTRACK_DIR`` is set)."""
    return None if os.environ.get("NBTRACK_DIR") else Path(root).expanduser().resolve()


class StoreCache:
    """The stores the server read last, each with its runs table and a lock serializing work on that table.

    Bounded (least recently used dropped first), so 20,000 distinct ``dir`` values cost ``size`` stores."""

    def __init__(self, size: int = CACHED_STORES) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[Path, Path | None], ConfinedStore] = OrderedDict()
        self._tables: dict[int, tuple[RunsTable, threading.Lock]] = {}
        self._guard = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def store(self, path: Path, limit: Path | None) -> ConfinedStore:
        key = (path, limit)
        with self._guard:
            store = self._entries.get(key)
            if store is None:
                store = self._entries[key] = ConfinedStore(path, limit)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                _, dropped = self._entries.popitem(last=False)
                self._tables.pop(id(dropped), None)
            return store

    def table(self, store: Store) -> tuple[RunsTable, threading.Lock]:
        with self._guard:
            entry = self._tables.get(id(store))
            if entry is None or entry[0].store is not store:
                entry = (RunsTable(store), threading.Lock())
                if any(s is store for s in self._entries.values()):  # only the cached stores keep a table
                    self._tables[id(store)] = entry
            return entry


STORES = StoreCache()


def open_store(root: str | os.PathLike[str], folder: str | None) -> ConfinedStore:
    return STORES.store(store_path(root, folder), boundary(root))


def stamp(store: Store) -> str:
    """Changes whenever a run is written: the sidebar polls this and reloads only on change."""
    return "-".join(str(part) for part in store.stamp())


# runs ---------------------------------------------------------------------------------------------------


def check_id(run_id: str) -> str:
    run_id = str(run_id).strip().lower()
    if not ids.is_id_prefix(run_id):
        raise ApiError(400, "invalid_id", f"{run_id[:40]!r} is not a run id (up to 26 characters of 0-9 and a-z)")
    return run_id


def resolve_run(store: Store, run_id: str) -> str:
    run_id = check_id(run_id)
    try:
        return store.resolve(run_id)
    except AmbiguousRunIdError as exc:
        raise ApiError(409, "ambiguous_id", str(exc)) from None
    except RunNotFoundError:
        raise ApiError(404, "not_found", f"no run {run_id!r} in this store") from None


def _int(value: Any, name: str, default: int, low: int, high: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, "bad_request", f"{name} must be an integer") from None
    return max(low, min(high, number))


def list_runs(
    store: Store,
    *,
    experiments: list[str] | None = None,
    statuses: list[str] | None = None,
    search: str | None = None,
    where: str | None = None,
    offset: Any = None,
    limit: Any = None,
    notebook: str | None = None,
    notebook_name: str | None = None,
    metric: str | None = None,
) -> dict[str, Any]:
    """One page of runs, newest first, and how many match: ``{"runs": [...], "total": N, "columns": ...}``.

    The selection is :func:`nbtrack.query.select.select`, as in ``nbtrack.runs()`` and the panel:
    ``experiments`` / ``statuses``: keep runs in any of them (none given: all; status as shown, so a running run
    whose kernel died counts as abandoned). ``search``: text in the name or id. ``where``: an expression over
    ``runs()`` columns. ``columns`` names the params that differ between the matching runs, their metrics and
    the tags that differ (without the group prefix, the most often set first): what a table of them shows.

    ``notebook`` (an id, ``metadata.nbtrack.id``) and ``notebook_name`` (its file name without ``.ipynb``) keep
    the notebook's runs (:mod:`nbtrack.server.runs_listing`); ``notebook_experiments`` then lists their
    experiments. ``unfiltered`` counts the runs before ``search`` and ``where``, so a view can say how many the
    filter hides. ``metric`` (else the first metric) is the one whose per-step series comes in ``sparklines``.
    """
    from nbtrack.query.select import select
    from nbtrack.query.where import QueryError
    from nbtrack.server import runs_listing as listing

    offset_n = _int(offset, "offset", 0, 0, 10**9)
    limit_n = _int(limit, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    table, lock = STORES.table(store)
    with lock:  # the table is patched in place by update(): one request at a time per store
        table.update()
        frame = table.frame
        scope: dict[str, Any] = {}
        if notebook:
            if not listing.is_notebook_id(notebook):
                raise ApiError(400, "invalid_id", "a notebook id is up to 64 characters of A-Z, a-z, 0-9, - and _")
            frame = frame[listing.notebook_mask(frame, table.docs, notebook, notebook_name)]
            scope["notebook_experiments"] = listing.experiments_in(frame)
        try:
            selection = select(frame, experiment=experiments, status=statuses, where=where, search=search)
        except QueryError as exc:
            raise ApiError(400, "invalid_query", str(exc)) from None
        page = _page(table, selection, offset_n, limit_n)
        filtered = bool((search or "").strip() or (where or "").strip())
        unfiltered = select(frame, experiment=experiments, status=statuses).total if filtered else page["total"]
        scope["unfiltered"] = unfiltered
        oldest = table.docs.get(selection.rows["run_id"].iloc[-1]) if selection.total else None
        scope["metric"] = listing.primary_metric(page["columns"]["metrics"], metric, oldest)
        scope["sparklines"] = listing.sparklines(store, table.docs, [r["id"] for r in page["runs"]], scope["metric"])
        return {**page, **scope}


def _page(table: RunsTable, selection: Any, offset_n: int, limit_n: int) -> dict[str, Any]:
    from nbtrack.query.select import columns_of, experiment_counts

    rows = selection.page(offset_n, limit_n)
    # each run as its record, exactly what the details endpoint sends
    page = [Run.from_doc(table.docs[run_id]).to_doc() for run_id in rows["run_id"]]
    found = columns_of(selection.rows)

    def short(columns: list[str]) -> list[str]:
        return [c.split(".", 1)[1] for c in found.most_filled(columns)]

    return {
        "runs": page,
        "total": selection.total,
        "offset": offset_n,
        "limit": limit_n,
        "status": dict(zip(rows["run_id"], rows["status"], strict=True)),
        "columns": {
            "params": short(found.params),
            "metrics": short(found.metrics),
            "tags": short(found.tags),
            "models": short(found.models),
            "outputs": short(found.outputs),
        },
        "experiments": [{"name": k, "runs": v} for k, v in experiment_counts(table.frame).items()],
        "stamp": "-".join(str(part) for part in table.stamp or ()),  # the state these rows were read in
    }


def runs_table(store: Store) -> RunsTable:
    """The store's runs table, caught up with the store (a ``stat`` when nothing was written)."""
    table, lock = STORES.table(store)
    with lock:
        table.update()
    return table


def get_record(store: Store, run_id: str) -> dict[str, Any]:
    """The run's record, as ``Run.to_doc()`` writes it (records of earlier releases migrated)."""
    return Run.from_doc(store.run_docs()[resolve_run(store, run_id)], store).to_doc()


def run_details(store: Store, run_id: str) -> dict[str, Any]:
    """The record plus what the details view shows beside it: effective status, the run it follows, data
    drift per input against that run, and the export formats."""
    docs = store.run_docs()
    doc = docs[resolve_run(store, run_id)]
    drift = {name: _drift(store, name, record, doc, docs) for name, record in (doc.get("data") or {}).items()}
    return {
        "run": Run.from_doc(doc, store).to_doc(),
        "status": effective_status(doc),
        "drift": drift,
        "export": {**export_formats(), **contents.export_availability(doc, effective_status(doc))},
        "contents": run_contents(doc, docs),
    }


def run_contents(doc: Mapping[str, Any], docs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What the details view lists beside the record (:mod:`nbtrack.query.contents`): params by source label,
    models, artifacts and output files as rows, the runs upstream and the runs downstream. Each row with a blob
    can be downloaded from ``runs/<id>/blobs/<digest>`` (:func:`open_download`)."""
    run = Run.from_doc(doc)
    return {
        "params_by_source": contents.params_by_label(run.params, run.param_sources) if run.param_sources else {},
        "models": contents.model_rows(run.models),
        "artifacts": [{**row, "figure": contents.is_figure(row)} for row in contents.artifact_rows(run.artifacts)],
        "outputs": contents.output_rows(run.outputs),
        "upstream": dict(run.upstream),
        "downstream": contents.downstream(docs, run.id),
    }


@dataclass
class Download:
    """A blob opened for a download: the file name and media type to send, its size, the open file (the caller
    reads it in chunks and closes it)."""

    filename: str
    media_type: str
    size: int
    file: BinaryIO


def open_download(store: Store, run_id: str, digest: str) -> Download:
    """A blob the run's record references as a model, an artifact or a kept output, opened to be streamed.

    Anything else is refused: a malformed digest (400), a digest this run does not reference, or whose file is
    gone or not a regular file inside the server root (404). The digest is never a path: it is checked against
    the record, then found in the journal or a pack (small blobs), else names the blob's file in the store's
    ``objects/``, opened without following a symlink."""
    if not isinstance(digest, str) or contents.DIGEST.fullmatch(digest) is None:
        raise ApiError(400, "invalid_digest", "a download is named by a content hash of 32 characters 0-9 and a-f")
    full = resolve_run(store, run_id)
    ref = contents.blob_of(Run.from_doc(store.run_docs()[full]).to_doc(), digest)
    gone = ApiError(404, "not_found", f"the content {digest[:12]} of run {full} is not in the store")
    if ref is None:
        raise ApiError(404, "not_found", f"run {full} has no model, artifact or kept output {digest[:12]}")
    small = store.small_blob(digest)  # up to 1 MiB, kept in the journal or a pack (store/packs.py)
    if small is not None:
        return Download(ref.filename, ref.media_type, len(small), io.BytesIO(small))
    path = (store.objects / digest[:2] / digest[2:]).resolve()
    limit = getattr(store, "boundary", None)
    if limit is not None and not paths.inside(path, limit):
        raise gone
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        raise gone from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise gone
    return Download(ref.filename, ref.media_type, info.st_size, os.fdopen(fd, "rb"))


def _previous_input(name: str, doc: Mapping[str, Any], docs: Mapping[str, Any]) -> tuple[str, Any] | None:
    """The run this one follows (same cell), else the latest earlier run of its experiment with that input."""
    parent = docs.get(doc.get("parent") or "")
    if parent and name in (parent.get("data") or {}):
        return parent["id"], parent["data"][name]
    for other_id in sorted((k for k in docs if k < doc["id"]), reverse=True):
        other = docs[other_id]
        if other.get("experiment") == doc.get("experiment") and name in (other.get("data") or {}):
            return other_id, other["data"][name]
    return None


def _drift(store: Store, name: str, record: Any, doc: Mapping[str, Any], docs: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"reference": None, "changed": None, "note": "", "findings": []}
    previous = _previous_input(name, doc, docs)
    if previous is None or not isinstance(record, Mapping) or not isinstance(previous[1], Mapping):
        return out
    out["reference"] = previous[0]
    out["changed"] = record.get("hash") != previous[1].get("hash")
    if not out["changed"]:
        return out
    try:
        from nbtrack.data.drift import data_change

        # the records with their profiles, which the store keeps in blobs
        current = Run.from_doc(doc, store).data.get(name, record)
        before = Run.from_doc(docs[previous[0]], store).data.get(name, previous[1])
        change = data_change({name: current}, {name: before}, findings=True)
        out["note"] = change.notes.get(name, "")
        out["findings"] = change.findings.get(name, [])
    except Exception as exc:  # drift notes are a nicety: never let them break the details view
        out["note"] = out["note"] or f"could not compare with the previous run ({type(exc).__name__})"
    return out


# compare, diff, export ---------------------------------------------------------------------------------------


def diff_runs(store: Store, a: str, b: str, code: str = "history") -> dict[str, Any]:
    full_a, full_b = resolve_run(store, a), resolve_run(store, b)
    from nbtrack.analysis.rundiff import diff

    try:
        return diff(full_a, full_b, code=code, store=store).to_dict()
    except ValueError as exc:
        raise ApiError(400, "bad_request", scrub(str(exc), getattr(store, "boundary", None))) from None


def export_formats() -> dict[str, Any]:
    """Whether ``nbtrack.export`` exists here, and its targets (``script``, ``notebook``, ``dvc``)."""
    from nbtrack.exporting.exporter import TARGETS

    return {"available": True, "formats": [str(t) for t in TARGETS]}


VERIFY_SECONDS = 90.0  # the export's verification must end within the heavy lane's time limit (offload.py)


def export_run(store: Store, run_id: str, fmt: str | None, verify: bool = True) -> tuple[str, bytes, dict[str, Any]]:
    """(file name, content, verdict) of ``nbtrack.export(run, to=fmt, verify=verify)``, written to a temporary
    folder: one file, or a zip when the target is a folder (``dvc``). The verdict (``verified``: True, False, or
    None when not verified; ``cause``; ``differences``) is in the file's header too.

    The zip holds one folder whose ``dvc.yaml`` runs once unzipped: its paths are rendered as if that folder sat
    in the folder the notebook ran in (``wdir: ..``; where the data it reads are), never into the temporary
    folder it was written to."""
    full = resolve_run(store, run_id)
    from nbtrack.exporting.exporter import ExportError, plan_export, write_export
    from nbtrack.exporting.render import render_dvc
    from nbtrack.exporting.verify import verify_plan

    formats = export_formats()["formats"]
    target = fmt or formats[0]
    if target not in formats:
        raise ApiError(400, "bad_request", f"unknown export format {target!r}: use one of {', '.join(formats)}")
    with tempfile.TemporaryDirectory(prefix="nbtrack-export-") as tmp:
        try:
            plan = plan_export(full, store=store)
            outcome = None
            if verify:
                plan, outcome = verify_plan(plan, timeout=VERIFY_SECONDS, store=store)
            top = f"{plan.slug}-{full}"
            destination = Path(tmp) / top if target == "dvc" else Path(tmp)
            written = Path(write_export(plan, to=target, path=destination, verification=outcome))
        except (ValueError, LookupError, ExportError) as exc:
            raise ApiError(400, "export_failed", scrub(str(exc), getattr(store, "boundary", None))) from None
        verdict: dict[str, Any] = {"verified": None, "cause": None, "differences": {}}
        if outcome is not None:
            verdict = {
                "verified": bool(outcome.verified),
                "cause": scrub(str(outcome.cause), getattr(store, "boundary", None)) if outcome.cause else None,
                "differences": {k: [_json_number(a), _json_number(b)] for k, (a, b) in outcome.differences.items()},
            }
        if written.is_file():
            return written.name, written.read_bytes(), verdict
        cwd = plan.run.env.get("cwd")
        home = Path(cwd) / top if isinstance(cwd, str) and os.path.isabs(cwd) else Path(tmp) / top
        (written / "dvc.yaml").write_text(render_dvc(plan, home, home / f"{plan.slug}.py"), encoding="utf-8")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(p for p in written.rglob("*") if p.is_file()):
                archive.write(path, f"{top}/{path.relative_to(written).as_posix()}")
        return f"{full}-{target}.zip", buffer.getvalue(), verdict


def _json_number(value: Any) -> Any:
    """A metric for a JSON header: finite floats as they are, others as text."""
    return value if isinstance(value, (int, float)) and math.isfinite(value) else repr(value)


def content_type(name: str) -> str:
    """The media type of a download, by its suffix."""
    return CONTENT_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")
