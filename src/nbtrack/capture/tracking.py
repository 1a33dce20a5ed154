"""``with nbtrack.track():``: one block of code as one run, in a script or in a notebook cell.

The block's run is an :class:`~nbtrack.capture.lifecycle.ActiveRun`; what only a ``with`` block has is found
here: the script it is in, or, in a kernel's cell, the cell's history and the block's place in it (so a run
made inside a notebook loop exports as that one iteration, see :mod:`nbtrack.capture.kernel_context`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nbtrack.capture.kernel_context import attach_cell_block
from nbtrack.capture.lifecycle import ActiveRun
from nbtrack.capture.notebook import notebook_origin
from nbtrack.store.local import Store, get_store


@contextmanager
def track(
    name: str | None = None,
    experiment: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    *,
    store: str | Path | Store | None = None,
    data: Mapping[str, Any] | None = None,
    environment: bool = True,
) -> Iterator[ActiveRun]:
    """Record the code in the ``with`` block as one run; yields the :class:`ActiveRun`.

    The run ends ``finished``, ``failed`` (the exception propagates) or ``interrupted``
    (KeyboardInterrupt, which propagates too).
    """
    found = notebook_origin()  # its id ties the run to the notebook, whatever experiment it logs to
    run = ActiveRun(
        get_store(store),
        name=name,
        experiment=experiment or (found.experiment if found else "default"),
        params=params,
        tags=tags,
        source="api",
    )
    run.record.notebook_source = found.source if found and not experiment else None
    run.record.notebook_id = found.notebook_id if found else None
    frame = sys._getframe(2)  # track() <- contextmanager.__enter__ <- the caller
    location = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    if not attach_cell_block(run, frame):  # in a kernel's cell: its history and the block's place, for export
        run.attach_script(frame.f_code.co_filename, location=location)
    for key, obj in (data or {}).items():
        run.log_data(key, obj)
    run.start(environment=environment)
    error: BaseException | None = None
    try:
        yield run
    except BaseException as exc:
        error = exc
        raise
    finally:
        run.finish(error=error)
