"""Which files the server reads (issue 18, reproductions 2-4): stores confined to the root once every symlink is
resolved, regular files only (a FIFO never hangs a request), bounded store caches, and no absolute path in any
error payload. Through a real jupyter_server (pytest-jupyter's jp_fetch)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading

import pytest
from tornado.httpclient import HTTPClientError

from nbtrack.errors import StoreCorruptError
from nbtrack.server import api
from nbtrack.server.paths import PathRefused, read_regular, scrub
from nbtrack.store.local import Store

from .conftest import _run

pytestmark = pytest.mark.filterwarnings("ignore::jupyter_server.utils.JupyterServerAuthWarning")
ABSOLUTE = re.compile(r"(^|[\s\"'(=])(/|[A-Za-z]:\\)[\w.-]+[/\\]")


async def error_of(fetch, *parts, **kwargs):
    """(status, raw body) of a request expected to fail, within 10 s (a hang fails the test)."""
    with pytest.raises(HTTPClientError) as info:
        await asyncio.wait_for(fetch(*parts, **kwargs), 10)
    return info.value.code, info.value.response.body.decode("utf-8")


def assert_no_paths(raw: str, *roots) -> None:
    for root in roots:
        assert str(root) not in raw
    assert not ABSOLUTE.search(json.loads(raw)["message"]), raw


@pytest.fixture
def outside_store(tmp_path_factory):
    """A store outside the server root, with one run."""
    path = tmp_path_factory.mktemp("elsewhere") / ".nbtrack"
    run_id = _run(path, "secret-run", "elsewhere", {"a": 1}, {"acc": 1.0})
    return path, run_id


async def test_symlinked_store_outside_the_root_is_refused(jp_fetch, jp_root_dir, outside_store):
    """Reproduction 3: `ln -s /elsewhere/.nbtrack proj/.nbtrack`, then ?dir=proj."""
    path, run_id = outside_store
    (jp_root_dir / "proj").mkdir()
    os.symlink(path, jp_root_dir / "proj" / ".nbtrack")
    requests = [
        ("runs",),
        ("runs", run_id),
        ("runs", run_id, "details"),
        ("runs", run_id, "export"),
        ("compare",),
        ("diff",),
        ("stamp",),
    ]
    for parts in requests:
        code, raw = await error_of(jp_fetch, "nbtrack", "api", *parts, params={"dir": "proj", "runs": run_id})
        assert code == 400 and json.loads(raw)["code"] == "invalid_path", (parts, raw)
        assert "secret-run" not in raw
        assert_no_paths(raw, path.parent, jp_root_dir)


async def test_symlinked_files_inside_a_store_are_refused(jp_fetch, jp_root_dir, outside_store):
    path, _ = outside_store
    for name in ("runs.jsonl", "objects"):
        store = jp_root_dir / name.replace(".", "_") / ".nbtrack"
        store.mkdir(parents=True)
        os.symlink(path / name, store / name)
        code, raw = await error_of(jp_fetch, "nbtrack", "api", "runs", params={"dir": store.parent.name})
        assert code == 400 and f"{name} resolves outside the server root" in raw
        assert_no_paths(raw, path.parent, jp_root_dir)


async def test_a_symlink_that_stays_inside_the_root_is_served(jp_fetch, jp_root_dir):
    run_id = _run(jp_root_dir / "real" / ".nbtrack", "inside", "x", {"a": 1}, {"acc": 1.0})
    (jp_root_dir / "linked").mkdir()
    os.symlink(jp_root_dir / "real" / ".nbtrack", jp_root_dir / "linked" / ".nbtrack")
    page = json.loads((await jp_fetch("nbtrack", "api", "runs", params={"dir": "linked"})).body)
    assert [r["id"] for r in page["runs"]] == [run_id]


async def test_a_fifo_named_runs_jsonl_does_not_hang_the_server(jp_fetch, jp_root_dir):
    """Reproduction 2: a FIFO in the journal's place parked the API thread forever."""
    store = jp_root_dir / "fifo" / ".nbtrack"
    store.mkdir(parents=True)
    os.mkfifo(store / "runs.jsonl")
    for parts in (("runs",), ("stamp",), ("runs", "0" * 26, "details")):
        code, raw = await error_of(jp_fetch, "nbtrack", "api", *parts, params={"dir": "fifo"})
        assert code == 400 and "not a regular file" in raw
        assert_no_paths(raw, jp_root_dir)
    status = await asyncio.wait_for(jp_fetch("api", "status"), 5)
    assert status.code == 200


def test_the_journal_itself_refuses_a_fifo_without_blocking(tmp_path):
    """The guard in journal.py, for the moment between the server's check and the open."""
    (tmp_path / "s").mkdir()
    os.mkfifo(tmp_path / "s" / "runs.jsonl")
    outcome = []

    def read():
        try:
            Store(tmp_path / "s").run_docs()
        except StoreCorruptError as exc:
            outcome.append(str(exc))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    assert not reader.is_alive(), "reading a FIFO journal blocked"
    assert outcome and "not a regular file" in outcome[0]


def test_blobs_are_read_only_as_regular_files_inside_the_root(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "plain").write_bytes(b"ok")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.write_bytes(b"secret")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "link")
    assert read_regular(tmp_path / "plain", tmp_path) == b"ok"
    with pytest.raises(PathRefused, match="not a regular file"):
        read_regular(tmp_path / "fifo", tmp_path)
    with pytest.raises(PathRefused, match="outside the server root"):
        read_regular(root / "link", root)


async def test_a_damaged_store_answers_without_paths(jp_fetch, jp_root_dir):
    store = jp_root_dir / "damaged" / ".nbtrack"
    store.mkdir(parents=True)
    (store / "runs.jsonl").write_bytes(b"garbage-without-any-spaces\n")
    code, raw = await error_of(jp_fetch, "nbtrack", "api", "runs", params={"dir": "damaged"})
    assert code == 500 and json.loads(raw)["code"] == "store_error"
    assert "damaged/.nbtrack/runs.jsonl" in raw  # named relative to the root
    assert_no_paths(raw, jp_root_dir)


async def test_missing_blobs_and_failed_plots_answer_without_paths(jp_fetch, jp_root_dir):
    store_path = jp_root_dir / ".nbtrack"
    ids = [_run(store_path, f"r{i}", "e", {"lr": 0.1 * (i % 2)}, {"acc": 0.5 + i / 100}) for i in range(4)]
    store = Store(store_path)
    doc = store.run_docs()[ids[0]]
    store.put_run({**doc, "series": "0" * 32})  # a series blob that is missing (small blobs live in runs.jsonl)
    # a critical-difference diagram needs several data sets: its error travels in plot_errors
    result = json.loads(
        (await jp_fetch("nbtrack", "api", "compare", params={"runs": ",".join(ids), "plots": "cd"})).body
    )
    assert result["plot_errors"]["cd"]
    raws = [json.dumps(result["plot_errors"])]
    curves = await jp_fetch("nbtrack", "api", "compare", params={"runs": ",".join(ids), "plots": "curves"})
    raws.append(json.dumps(json.loads(curves.body)["plot_errors"]))
    for parts, params in ((("diff",), {"a": ids[0], "b": ids[1]}), (("runs", ids[0], "export"), {})):
        try:
            response = await asyncio.wait_for(jp_fetch("nbtrack", "api", *parts, params=params), 30)
            raws.append(response.body.decode("utf-8", "replace") if parts[0] == "diff" else "")
        except HTTPClientError as exc:
            raws.append(exc.response.body.decode("utf-8"))
            assert_no_paths(raws[-1], jp_root_dir)
    for raw in raws:
        assert str(jp_root_dir) not in raw and not ABSOLUTE.search(raw), raw


def test_scrub_keeps_paths_relative_to_the_root(tmp_path):
    root = tmp_path / "srv"
    text = f"[Errno 2] No such file: '{root}/proj/.nbtrack/objects/ab/cd' and '/tmp/nbtrack-export-x1/a.py'"
    assert scrub(text, root) == "[Errno 2] No such file: 'proj/.nbtrack/objects/ab/cd' and 'a.py'"
    assert scrub("C:\\Users\\me\\data\\x.csv is missing") == "x.csv is missing"
    assert scrub("params.lr / 2 and a/b/c stay") == "params.lr / 2 and a/b/c stay"


async def test_store_caches_are_bounded(jp_fetch, jp_root_dir):
    """Reproduction 2: 20,000 distinct dir values grew the server by 71 MB, never freed."""
    for i in range(3 * api.CACHED_STORES):
        (jp_root_dir / f"d{i}").mkdir()
        await jp_fetch("nbtrack", "api", "runs", params={"dir": f"d{i}"})
    assert len(api.STORES) <= api.CACHED_STORES
    assert len(api.STORES._tables) <= api.CACHED_STORES
