"""A run is tied to its notebook by ``metadata.nbtrack.id``, through renames: real kernels via nbclient.

The kernel learns the id from the notebook file it finds, or from ``__nbtrack_notebook__``, which the
JupyterLab extension sets in the namespace when the kernel starts and after every rename
(``labextension/src/kernel_identity.ts``).
"""

from __future__ import annotations

import json

import pytest
from kernel_helpers import code, new_session

from nbtrack.run import Run

pytest.importorskip("ipykernel")

pytestmark = pytest.mark.kernel

NOTEBOOK_ID = "0b6f3d1e-5a7c-4c2e-9d8f-1a2b3c4d5e6f"
LOAD = "%load_ext nbtrack\nimport nbtrack"


def told(path: str, notebook_id: str = NOTEBOOK_ID) -> str:
    """The cell the extension runs (silently) to tell the kernel where its notebook is now."""
    return f"__nbtrack_notebook__ = {json.dumps({'id': notebook_id, 'path': path})}"


def with_id(session, notebook_id: str = NOTEBOOK_ID) -> None:
    session.nb.metadata["nbtrack"] = {"id": notebook_id}
    session.save_notebook()


def test_the_notebook_id_in_the_file_is_recorded_on_every_run(tmp_path):
    session = new_session(
        tmp_path,
        [
            code(LOAD),
            code("%%track --name a -q\nx = 1"),
            code("with nbtrack.track(name='b', environment=False):\n    pass"),
            code("%%track --name c -e lr-sweep -q\nx = 2"),
        ],
    )
    with_id(session)
    try:
        session.execute_all()
        runs = {run.name: run for run in session.all_runs()}
    finally:
        session.close()
    assert {name: run.notebook_id for name, run in runs.items()} == dict.fromkeys("abc", NOTEBOOK_ID)
    # a run logged to another experiment is still this notebook's: the sidebar shows it under "This notebook"
    assert {name: run.experiment for name, run in runs.items()} == {"a": "exp", "b": "exp", "c": "lr-sweep"}
    assert runs["c"].notebook_source is None  # the experiment was given, not found from the notebook


def test_a_notebook_without_an_id_records_none_and_the_record_has_no_such_key(tmp_path):
    session = new_session(tmp_path, [code(LOAD), code("%%track --name a -q\nx = 1")])
    try:
        session.execute_all()
        (run,) = session.all_runs()
    finally:
        session.close()
    assert run.notebook_id is None
    assert "notebook_id" not in run.to_doc()  # written only when set: old readers see the record they know


def test_after_a_rename_the_same_kernel_keeps_the_id_and_the_experiment(tmp_path):
    session = new_session(tmp_path, [code(LOAD), code("%%track --name before -q\nx = 1")], name="losses.ipynb")
    with_id(session)
    try:
        with session.kernel():
            session.run_extra(told("losses.ipynb"))
            session.run(0)
            session.run(1)
            renamed = session.path.with_name("losses v2.ipynb")
            session.path.rename(renamed)  # JPY_SESSION_NAME still names losses.ipynb: gone
            session.run_extra(told("losses v2.ipynb"))  # what the extension does on the rename
            session.run_extra("%%track --name after -q\nx = 2")
        runs = {run.name: run for run in session.all_runs()}
    finally:
        session.close()
    assert runs["before"].notebook_id == runs["after"].notebook_id == NOTEBOOK_ID
    assert runs["before"].experiment == runs["after"].experiment == "losses"
    assert runs["after"].notebook_source == "__nbtrack_notebook__"


def test_a_malformed_id_is_not_recorded(tmp_path):
    session = new_session(tmp_path, [code(LOAD), code("%%track --name a -q\nx = 1")])
    with_id(session, "../../etc/passwd")
    try:
        session.execute_all()
        (run,) = session.all_runs()
    finally:
        session.close()
    assert run.notebook_id is None


def test_old_records_without_the_field_still_read():
    doc = {"id": "01hzzzzzzzzzzzzzzzzzzzzzzz", "experiment": "e", "name": None, "status": "finished"}
    doc |= {"start_time": 1.0, "end_time": 2.0, "duration": 1.0, "params": {}, "metrics": {}, "tags": {}}
    run = Run.from_doc(doc)
    assert run.notebook_id is None
    assert Run.from_doc({**run.to_doc(), "notebook_id": NOTEBOOK_ID}).notebook_id == NOTEBOOK_ID
