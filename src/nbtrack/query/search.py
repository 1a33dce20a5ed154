"""Reading runs back: ``runs()`` as a pandas DataFrame shaped like ``mlflow.search_runs``, single runs, tags.

The rows come from :mod:`nbtrack.query.table` and the filters from :func:`nbtrack.query.select.select`, the
same ones the panel and the sidebar use. ``where`` takes a readable expression over the columns, such as
``"params.lr < 0.1 and metrics.acc > 0.9"`` (see :mod:`nbtrack.query.where`), or a function of a
:class:`~nbtrack.run.Run`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nbtrack import values
from nbtrack.errors import NoActiveRunError, QueryError
from nbtrack.query.select import select
from nbtrack.query.table import BASE_COLUMNS, build_frame, current_table
from nbtrack.query.where import evaluate, names_in
from nbtrack.run import Run
from nbtrack.store.local import Store, get_store

__all__ = ["BASE_COLUMNS", "QueryError", "delete_run", "evaluate", "get_run", "runs", "set_tag"]


def runs(
    experiment: str | list[str] | None = None,
    status: str | list[str] | None = None,
    where: str | Callable[[Run], bool] | None = None,
    *,
    store: str | Path | Store | None = None,
) -> Any:
    """One row per run, newest first: run_id, experiment, name, status, times, ``params.*``, ``metrics.*``,
    ``tags.*`` and ``data.*`` (content hashes). ``experiment=None`` is every experiment. ``where`` is an
    expression over the columns, a function of a :class:`Run`, or a TinyDB query over the run records
    (``where=Query().params.lr < 0.1``)."""
    st = get_store(store)
    from tinydb.queries import QueryInstance

    if isinstance(where, str) and where.strip():  # a fresh process reads only the columns the filter needs
        narrow = _filtered(st, experiment, status, where)
        if narrow is not None:
            return narrow
    if where is None or isinstance(where, str):  # the filters run on the kept table (table.py: current_table)
        frame, table = current_table(st)
        rows = select(frame, experiment=experiment, status=status, where=where).rows
        if len(rows) < len(frame):  # the frame of the selected runs only: their columns, their dtypes
            rows = table.frame_of(rows["run_id"])
        return rows.reset_index(drop=True)
    docs = st.run_docs()
    if isinstance(where, QueryInstance):  # callable, but over records, not Runs: the store's table filters
        docs, where = {doc.doc_id: doc for doc in st.table.search(where)}, None
    chosen = [doc for doc in docs.values() if where is None or where(Run.from_doc(doc, st))]
    frame = build_frame(chosen)
    rows = select(frame, experiment=experiment, status=status).rows
    if len(rows) < len(frame):
        rows = build_frame(docs[run_id] for run_id in rows["run_id"])
    return rows.reset_index(drop=True)


def _filtered(st: Store, experiment: Any, status: Any, where: str) -> Any:
    """``runs(where=...)`` from a table that may hold only the columns ``where`` names; None when it does not
    decide: the filter fails there (the whole table words the error) or keeps every row."""
    try:
        columns = names_in(where)
    except QueryError:
        return None
    frame, table = current_table(st, columns)
    if table.columns is None:  # the whole table: kept from before, or built now
        return None
    try:
        rows = select(frame, experiment=experiment, status=status, where=where).rows
    except QueryError:
        return None
    return table.frame_of(rows["run_id"]).reset_index(drop=True) if len(rows) < len(frame) else None


def get_run(run_id: str, *, store: str | Path | Store | None = None) -> Run:
    """The run with this id (or unambiguous id prefix)."""
    st = get_store(store)
    return Run.from_doc(st.get_doc(run_id), st)


def delete_run(run_id: str, *, store: str | Path | Store | None = None) -> str:
    """Delete a run's record; returns its full id. Blobs shared with other runs stay.

    A run still running stays deleted: its final record is not written back (its owner is warned).
    """
    st = get_store(store)
    full = st.resolve(run_id)
    st.delete_run(full)
    return full


def set_tag(key: str, value: Any, run: str | None = None, *, store: str | Path | Store | None = None) -> None:
    """Tag the active run (``run=None``) or a recorded run by id."""
    from nbtrack.capture.lifecycle import active_run, clean_key

    if run is None:
        active = active_run()
        if active is None:
            raise NoActiveRunError(
                "nbtrack.set_tag() needs an active run: "
                "call it inside a %%track cell or a `with nbtrack.track():` block"
            )
        active.set_tag(key, value)
        return
    st = get_store(store)
    full = st.resolve(run)
    name = clean_key(key, "tag")
    if name is None:
        return
    encoded, notes = values.encode(value, f"tag {name!r}")
    for note in notes:
        from nbtrack.capture.lifecycle import warn

        warn(note)
    st.tag_run(full, {name: encoded})  # a running run keeps it: its owner's final record merges it in
