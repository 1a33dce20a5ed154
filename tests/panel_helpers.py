"""Runs for the panel tests: straight to the journal (fast), and a name that would be markup if not escaped."""

from __future__ import annotations

from nbtrack import ids
from nbtrack.store.local import RUNS

EVIL = "<img src=x onerror=alert(1)>"


def add_runs(store, n, *, experiment="bulk", start=1_700_000_000.0, **extra):
    """Append ``n`` finished run records straight to the journal (fast), oldest first."""
    entries = []
    made = []
    for i in range(n):
        run_id = ids.new_run_id()
        doc = {
            "id": run_id,
            "experiment": experiment,
            "name": f"bulk {i}",
            "status": "finished",
            "start_time": start + i,
            "end_time": start + i + 1,
            "duration": 1.0,
            "params": {"i": i, "same": 1},
            "metrics": {"acc": i / max(1, n)},
            "tags": {},
            "data": {},
            "format": 1,
            **extra,
        }
        entries.append({"op": "put", "t": RUNS, "id": run_id, "doc": doc})
        made.append(run_id)
    store.ensure()
    store.journal.append(entries)
    return made


def tick(p, *names, value=True):
    """Tick (or untick) the grid rows of the panel ``p`` whose run name contains one of ``names`` (all rows
    without ``names``), as a click on each row's checkbox does; returns the run ids ticked."""
    done = []
    for row in p.grid.shown_rows:
        if not names or any(name in row.check.tooltip for name in names):
            row.check.value = value
            done.append(row.run_id)
    return done


def rows_shown(p):
    """How many runs the panel's grid shows."""
    return len(p.grid.shown_rows)


def tick_run(p, run_id, value=True):
    """Tick (or untick) the grid row of run ``run_id`` as a click on its checkbox does."""
    (row,) = [row for row in p.grid.shown_rows if row.run_id == run_id]
    row.check.value = value
