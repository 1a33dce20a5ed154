"""POST /nbtrack/api/runs/<id>/export-to-workspace through a real jupyter_server: the verified export is written
next to the run's notebook, inside the server root only, never over a file unless asked; runs that cannot be
exported say why in their details before anyone tries."""

from __future__ import annotations

import json
import os

import pytest

from .conftest import _run
from .test_server_api import api_error, body, magic_run

pytestmark = pytest.mark.filterwarnings("ignore::jupyter_server.utils.JupyterServerAuthWarning")

HISTORY = ["import nbtrack\nscale = 2", "%%track --name exported\nlr = 0.1\nnbtrack.log_metric('acc', lr * scale)"]


def post(fetch, run_id, payload, **params):
    return fetch(
        "nbtrack", "api", "runs", run_id, "export-to-workspace", method="POST", body=json.dumps(payload), params=params
    )


async def test_export_is_written_next_to_the_notebook_and_verified(jp_fetch, jp_root_dir):
    run_id = magic_run(jp_root_dir / ".nbtrack", HISTORY)
    answer = body(await post(jp_fetch, run_id, {"format": "script"}))
    assert answer["path"] == "exported_export.py" and answer["verified"] is True and answer["cause"] is None
    written = jp_root_dir / "exported_export.py"
    assert "scale = 2" in written.read_text() and "VERIFIED" in written.read_text()
    # a name the user chose, the suffix added when missing; the notebook format too
    named = body(await post(jp_fetch, run_id, {"format": "notebook", "name": "mine"}))
    assert named["path"] == "mine.ipynb" and json.loads((jp_root_dir / "mine.ipynb").read_text())["cells"]


async def test_export_into_a_notebook_folder(jp_fetch, jp_root_dir):
    folder = jp_root_dir / "project"
    folder.mkdir()
    run_id = magic_run(folder / ".nbtrack", HISTORY)
    answer = body(await post(jp_fetch, run_id, {"format": "script", "name": "a.py"}, dir="project"))
    assert answer["path"] == "project/a.py" and (folder / "a.py").is_file()


async def test_an_existing_file_is_kept_unless_overwriting_is_asked(jp_fetch, jp_root_dir):
    run_id = magic_run(jp_root_dir / ".nbtrack", HISTORY)
    (jp_root_dir / "keep.py").write_text("mine\n")
    code, error = await api_error(post, jp_fetch, run_id, {"format": "script", "name": "keep.py"})
    assert (code, error["code"]) == (409, "exists") and "keep.py" in error["message"]
    assert (jp_root_dir / "keep.py").read_text() == "mine\n"
    answer = body(await post(jp_fetch, run_id, {"format": "script", "name": "keep.py", "overwrite": True}))
    assert answer["path"] == "keep.py" and "scale = 2" in (jp_root_dir / "keep.py").read_text()


@pytest.mark.parametrize("name", ["../outside.py", "sub/../../outside.py", "/tmp/outside.py", "~/outside.py", "."])
async def test_names_leaving_the_root_are_refused(jp_fetch, jp_root_dir, name):
    run_id = magic_run(jp_root_dir / ".nbtrack", HISTORY)
    code, error = await api_error(post, jp_fetch, run_id, {"format": "script", "name": name})
    assert (code, error["code"]) == (400, "invalid_name")
    assert str(jp_root_dir) not in error["message"]
    assert not (jp_root_dir.parent / "outside.py").exists()


async def test_symlinks_out_of_the_root_are_refused(jp_fetch, jp_root_dir, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere")
    run_id = magic_run(jp_root_dir / ".nbtrack", HISTORY)
    os.symlink(outside, jp_root_dir / "link")  # a folder link leading out of the root
    code, error = await api_error(post, jp_fetch, run_id, {"format": "script", "name": "link/x.py"})
    assert (code, error["code"]) == (400, "invalid_name")
    os.symlink(outside / "target.py", jp_root_dir / "dangling.py")  # a file link, even overwriting
    payload = {"format": "script", "name": "dangling.py", "overwrite": True}
    code, error = await api_error(post, jp_fetch, run_id, payload)
    assert (code, error["code"]) == (400, "invalid_name")
    assert list(outside.iterdir()) == []


async def test_an_export_that_does_not_reproduce_is_written_and_says_why(jp_fetch, jp_root_dir):
    history = ["import random\nimport nbtrack", "%%track --name lucky\nnbtrack.log_metric('acc', random.random())"]
    run_id = magic_run(jp_root_dir / ".nbtrack", history)
    answer = body(await post(jp_fetch, run_id, {"format": "script"}))
    assert answer["verified"] is False and "acc" in answer["differences"]
    assert "UNVERIFIED" in (jp_root_dir / answer["path"]).read_text()


async def test_runs_that_cannot_be_exported_say_why(jp_fetch, jp_root_dir, runs_store):
    store, ids = runs_store
    api_run = body(await jp_fetch("nbtrack", "api", "runs", ids["credit0"], "details"))["export"]
    assert api_run["available"] is False and "execution history" in api_run["reason"]
    code, error = await api_error(post, jp_fetch, ids["credit0"], {"format": "script"})
    assert (code, error["code"]) == (400, "not_exportable") and error["message"] == api_run["reason"]
    failed = magic_run(jp_root_dir / ".nbtrack", HISTORY)
    doc = store.run_docs()[failed]
    assert doc["status"] == "finished"
    from nbtrack.query.contents import export_reason

    reason = export_reason({**doc, "status": "failed", "error": {"type": "ZeroDivisionError"}}, "failed")
    assert reason is not None and "failed (ZeroDivisionError)" in reason
    assert export_reason(doc, "finished") is None
    assert "still running" in (export_reason(doc, "running") or "")
    assert _run  # the conftest helper records runs without history (the api case above)


def test_default_names_are_plain_file_names(tmp_path):
    from nbtrack.server.export_api import default_name, destination

    name = default_name({"name": "<img src=x>/../../etc/passwd", "id": "01abc"}, "script")
    assert "/" not in name and name.endswith("_export.py")
    path, relative = destination(tmp_path, tmp_path, name, "script")
    assert path.parent == tmp_path.resolve() and relative == name
    assert default_name({"name": None, "id": "01abc"}, "dvc") == "01abc_export.zip"
    from nbtrack.query.contents import export_reason

    script_run = {"status": "finished", "history": "ab" * 16, "source": "api"}  # a track() block in a script
    assert "not recorded by a %%track cell" in (export_reason(script_run, "finished") or "")
