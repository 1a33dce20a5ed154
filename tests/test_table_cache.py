"""The runs table saved for a store's checkpoint (query/table_cache.py): a fresh process loads it instead of
flattening every record, and what it shows is still exactly what the store holds now.

A fresh process is a new :class:`Store` object (a new journal, new records, a new kept table), or a real
subprocess where a process must die. Which rows were flattened is seen through a spy on ``flatten``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nbtrack import ids
from nbtrack.query import table, table_cache
from nbtrack.query.search import runs
from nbtrack.store import checkpoint
from nbtrack.store.local import Store

ENV = {"python": "3.11.7", "packages": {"numpy": "2.1"}}


@pytest.fixture
def flattened(monkeypatch):
    """The run ids ``flatten`` was called on, in order."""
    seen: list[str] = []
    real = table.flatten

    def spy(doc, groups=None):
        seen.append(doc["id"])
        return real(doc, groups)

    monkeypatch.setattr(table, "flatten", spy)
    return seen


def fill(store: Store, n: int) -> list[str]:
    made = []
    for i in range(n):
        run_id = ids.new_run_id()
        doc = {"id": run_id, "experiment": "e", "name": f"r{i}", "params": {"i": i, "opt": "adam" if i % 2 else 1}}
        store.put_run({**doc, "status": "running", "env": ENV}, durable=False)
        store.put_run({**doc, "status": "finished", "metrics": {"acc": i / 7}, "tags": {"t": str(i)}, "env": ENV})
        made.append(run_id)
    return made


def scratch(root: Path) -> pd.DataFrame:
    """The frame built from every record by a store that never saw a saved table."""
    docs = Store(root).run_docs()
    return table.build_frame(docs[k] for k in sorted(docs, reverse=True)).reset_index(drop=True)


def frame_path(root: Path) -> Path:
    return checkpoint.frame_path_of(root / "runs.jsonl")


@pytest.fixture
def compacted(tmp_path) -> tuple[Path, list[str]]:
    store = Store(tmp_path)
    made = fill(store, 400)
    assert store.journal.compact()
    return tmp_path, made


def test_the_first_fresh_process_saves_the_table_and_the_next_one_loads_it(compacted, flattened):
    root, made = compacted
    assert not frame_path(root).exists()
    builder = Store(root)
    first = runs(store=builder)
    assert len(flattened) == 400 and frame_path(root).exists()
    docs = builder.run_docs()
    assert all(docs.is_pending(run_id) for run_id in docs)  # decoded to build the table, not kept
    flattened.clear()
    second = runs(store=Store(root))
    assert flattened == []  # nothing flattened: the saved table was loaded
    flattened.clear()
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    pd.testing.assert_frame_equal(second, scratch(root), check_exact=True)
    assert second["run_id"].tolist() == sorted(made, reverse=True)


def test_what_the_journal_tail_changed_is_flattened_from_the_records(compacted, flattened):
    root, made = compacted
    runs(store=Store(root))  # saves the table of the checkpoint
    writer = Store(root)
    writer.tag_run(made[5], {"t": "changed", "new": "column"})
    writer.delete_run(made[6])
    added = fill(writer, 3)
    flattened.clear()
    frame = runs(store=Store(root))
    assert sorted(flattened) == sorted([made[5], *added])  # the deleted run has no row to make
    assert made[6] not in set(frame["run_id"]) and len(frame) == 402
    row = frame.set_index("run_id").loc[made[5]]
    assert row["tags.t"] == "changed" and row["tags.new"] == "column"
    pd.testing.assert_frame_equal(frame, scratch(root), check_exact=True)
    picked = runs(where="params.i < 3", store=Store(root))  # a filter rebuilds its rows from the records
    assert sorted(picked["params.i"].tolist()) == [0, 0, 1, 1, 2, 2]  # the first three, and the three added


def test_compaction_removes_the_saved_table_and_a_table_for_another_checkpoint_is_not_used(compacted, flattened):
    root, made = compacted
    runs(store=Store(root))
    saved = frame_path(root).read_bytes()
    store = Store(root)
    store.delete_run(made[0])
    assert store.journal.compact()
    assert not frame_path(root).exists()  # it held the deleted run's values
    frame_path(root).write_bytes(saved)  # the table of the previous checkpoint, put back
    flattened.clear()
    frame = runs(store=Store(root))
    assert len(flattened) == 399 and made[0] not in set(frame["run_id"])
    pd.testing.assert_frame_equal(frame, scratch(root), check_exact=True)


@pytest.mark.parametrize("how", ["truncated", "flipped", "key", "garbage", "empty", "no header end"])
def test_a_damaged_or_foreign_table_is_built_again(compacted, flattened, how):
    root, _ = compacted
    runs(store=Store(root))
    path = frame_path(root)
    raw = bytearray(path.read_bytes())
    if how == "truncated":
        raw = raw[: len(raw) // 2]
    elif how == "flipped":
        raw[-50] ^= 0x20
    elif how == "key":
        raw = raw.replace(b"table-%d" % table_cache.FORMAT, b"table-999")
    elif how == "empty":
        raw = bytearray()  # a file of no bytes cannot even be mapped
    elif how == "no header end":
        raw = raw[: raw.index(b"\n", len(table_cache.MAGIC))]
    else:
        raw = bytearray(b"\x00" * 200)
    path.write_bytes(bytes(raw))
    flattened.clear()
    frame = runs(store=Store(root))
    assert len(flattened) == 400
    pd.testing.assert_frame_equal(frame, scratch(root), check_exact=True)


def test_a_symlink_in_place_of_the_table_is_not_followed(compacted, tmp_path_factory, flattened):
    root, _ = compacted
    runs(store=Store(root))
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "runs.frame"
    frame_path(root).rename(elsewhere)
    frame_path(root).symlink_to(elsewhere)
    before = elsewhere.read_bytes()
    flattened.clear()
    runs(store=Store(root))
    assert len(flattened) == 400  # not read through the link
    assert elsewhere.read_bytes() == before  # nor written through it: the save replaced the link itself


def test_a_run_shown_running_when_the_table_was_saved_reads_abandoned_once_its_process_died(tmp_path, flattened):
    code = (
        "import sys, nbtrack\n"
        "from nbtrack.store.local import Store\n"
        "run = nbtrack.ActiveRun(Store(sys.argv[1])).start()\n"
        "print(run.id, flush=True)\n"
        "sys.stdin.readline()\n"
    )
    store = Store(tmp_path)
    fill(store, 300)
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        assert Store(tmp_path).journal.compact()
        assert runs(store=Store(tmp_path)).set_index("run_id").loc[run_id, "status"] == "running"
        assert frame_path(tmp_path).exists()  # saved while the run's process was alive
    finally:
        proc.kill()
        proc.wait(timeout=60)
    size = os.path.getsize(tmp_path / "runs.jsonl")
    flattened.clear()
    frame = runs(store=Store(tmp_path))
    assert os.path.getsize(tmp_path / "runs.jsonl") == size  # nothing written: the status is read again
    assert frame.set_index("run_id").loc[run_id, "status"] == "abandoned" and flattened == [run_id]


def test_a_filter_on_the_saved_table_builds_its_runs_frame_exactly_without_decoding_records(tmp_path):
    """The chosen runs' frame has their own columns and dtypes, as build_frame makes it from their records
    (ints stay ints where no chosen run lacks them, a text column holding None, mixed types), and is made
    from the saved rows: the records of a fresh store stay undecoded."""
    store = Store(tmp_path)
    made = []
    for i in range(600):
        run_id = ids.new_run_id()
        params = {"i": i, "mixed": [1, "a", 2.5, True, None][i % 5]}
        if i % 3:
            params["sometimes"] = i  # missing for a third: float64 in the whole table, int64 among i % 3 != 0
        tags = {"t": None if i % 4 == 0 else f"v{i}"}
        store.put_run({"id": run_id, "experiment": "e", "status": "finished", "params": params, "tags": tags})
        made.append(run_id)
    assert store.journal.compact()
    runs(store=Store(root := tmp_path))  # saves the table
    for where in ["params.i % 3 == 1", "params.i < 40", "params.i == 7", "params.i % 5 == 1", "params.i > 9999"]:
        fresh = Store(root)
        frame = runs(where=where, store=fresh)
        docs = fresh.run_docs()
        assert all(docs.is_pending(r) for r in docs)  # no record decoded: the rows came from the saved table
        chosen = set(frame["run_id"])
        expected = table.build_frame(docs[r] for r in sorted(chosen, reverse=True)).reset_index(drop=True)
        pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    subset = runs(where="params.i % 3 == 1", store=Store(root))
    assert subset["params.sometimes"].dtype == "int64" and subset["params.i"].dtype == "int64"


def test_the_change_log_stays_bounded_and_a_table_left_behind_starts_over(tmp_path, monkeypatch):
    """A process following a store for weeks does not keep every id ever written: the records forget the
    start of their log, and a kept table that had not read that far is built again, still exact."""
    from nbtrack.store import docs as docs_mod

    monkeypatch.setattr(docs_mod, "LOG_KEPT", 50)
    store = Store(tmp_path)
    made = fill(store, 30)
    assert len(runs(store=store)) == 30
    records = store.run_docs()
    assert isinstance(records, docs_mod.Docs)
    for i, run_id in enumerate(made * 5):  # 150 tag writes: the log is cut to about half more than once
        store.tag_run(run_id, {"n": i})
    assert records.dropped > 0 and len(records.log) <= 50 + len(records)
    frame = runs(store=store)
    pd.testing.assert_frame_equal(frame, scratch(tmp_path), check_exact=True)
    assert set(frame["tags.n"]) == set(range(120, 150))
    store.tag_run(made[0], {"n": -1})  # and it follows the log again from there
    assert runs(store=store).set_index("run_id").loc[made[0], "tags.n"] == -1


def expected_filter(root: Path, where: str) -> pd.DataFrame:
    """``runs(where=...)`` as a store that never saw a saved table answers it: the whole frame filtered, then
    the chosen runs' own frame built from their records."""
    from nbtrack.query.select import select

    docs = Store(root).run_docs()
    chosen = select(scratch(root), where=where).rows["run_id"]
    return table.build_frame(docs[r] for r in chosen).reset_index(drop=True)


def test_a_fresh_filter_loads_only_the_columns_it_names_and_answers_as_the_whole_table(compacted, monkeypatch):
    """A fresh process's ``runs(where=...)`` decodes from the saved table only the base columns and those the
    expression names, adds what the journal's tail changed (a column only new runs have too), and returns
    exactly the frame a store without a saved table gives; the next ``runs()`` has every column."""
    root, made = compacted
    runs(store=Store(root))  # saves the table of the checkpoint
    writer = Store(root)
    writer.tag_run(made[5], {"t": "changed"})
    writer.delete_run(made[6])
    late = fill(writer, 2)
    writer.put_run({"id": ids.new_run_id(), "experiment": "e", "status": "finished", "params": {"late": 1}})
    asked: list[object] = []
    real = table_cache.frame_file.decode_parts

    def spy(data, columns=None, texts=()):
        asked.append(None if columns is None else set(columns))
        return real(data, columns, texts)

    monkeypatch.setattr(table_cache.frame_file, "decode_parts", spy)
    for where in ["params.i < 3", "tags.t == 'changed'", "params.late == 1", "params.i == 6", "name == 'r9'"]:
        asked.clear()
        fresh = Store(root)
        frame = runs(where=where, store=fresh)
        assert asked == [{*table.BASE_COLUMNS, *where_names(where)}], where
        pd.testing.assert_frame_equal(frame, expected_filter(root, where), check_exact=True)
        if where == "params.i < 3":
            assert sorted(frame["run_id"]) == sorted([*made[:3], *late])
        _, kept = table.current_table(fresh, where_names(where))
        assert kept.columns is not None and "params.opt" not in kept.frame.columns  # still the narrow table
        asked.clear()
        everything = runs(store=fresh)
        assert asked == [None]  # every column, loaded this time
        pd.testing.assert_frame_equal(everything, scratch(root), check_exact=True)


def where_names(where: str) -> set[str]:
    from nbtrack.query.where import names_in

    return names_in(where)


def test_a_fresh_filter_that_fails_or_keeps_every_run_answers_from_the_whole_table(compacted):
    """An unknown column is reported with every column named, as before; a filter that keeps every run
    returns the whole frame, not the narrow one it was decided on."""
    from nbtrack.errors import QueryError

    root, _ = compacted
    runs(store=Store(root))
    with pytest.raises(QueryError) as whole:
        runs(where="params.nope > 1", store=Store(root))
    assert "params.opt" in str(whole.value)  # a column the narrow table did not load
    everything = runs(where="params.i >= 0", store=Store(root))
    pd.testing.assert_frame_equal(everything, scratch(root), check_exact=True)


def test_saved_rows_are_found_by_id_with_ids_of_any_length(tmp_path):
    """The saved rows are found by bisection over fixed-width bytes when every id has one length, over
    Python strings otherwise (ids of other lengths, or not ASCII); an id it does not hold gives None."""
    import json

    import numpy as np

    from nbtrack.query.frame_file import Texts

    def saved(run_ids):
        texts = [json.dumps([0, r]) for r in run_ids]
        data = "".join(texts).encode()
        offsets = np.cumsum([0, *(len(t.encode()) for t in texts)]).astype(np.int64)
        column = pd.Series(run_ids, dtype="string[pyarrow]")
        return table_cache.SavedRows(column, Texts(offsets, np.zeros(len(texts), bool), data), [("run_id",)])

    uniform = sorted((ids.new_run_id() for _ in range(50)), reverse=True)
    mixed = sorted(["b", "ab", "zz", "ü-run", "a"], reverse=True)
    assert mixed[3:] == ["ab", "a"]
    for run_ids, shorter in ((uniform, None), (mixed, {"run_id": "a"})):
        rows = saved(run_ids)
        asked = [run_ids[3], "nope", run_ids[0], run_ids[-1], "", run_ids[3][:-1]]
        found = [{"run_id": run_ids[3]}, None, {"run_id": run_ids[0]}, {"run_id": run_ids[-1]}, None, shorter]
        assert rows.rows(asked) == found
    assert saved([]).rows(["a"]) == [None]


def test_saved_rows_that_are_not_rows_read_as_missing():
    """Bytes a resealed hostile file could hold in place of a row (not UTF-8, not JSON, another shape, more
    values than keys, null) read as no row: that run's row is made from its record instead."""
    import numpy as np

    from nbtrack.query.frame_file import Texts

    bad = [b"\xff\xfe", b"{not json", b'{"a": 1}', b"[]", b'[7, "x"]', b'[0, "x", "y"]', b'["0", "x"]', b'[0, "x"]']
    offsets = np.cumsum([0, *map(len, bad)]).astype(np.int64)
    nulls = np.zeros(len(bad), bool)
    nulls[-1] = True  # and a null row
    run_ids = [f"r{n}" for n in range(len(bad))][::-1]
    rows = table_cache.SavedRows(
        pd.Series(run_ids, dtype="string[pyarrow]"), Texts(offsets, nulls, b"".join(bad)), [("run_id",)]
    )
    assert rows.rows(run_ids) == [None] * len(bad)


def test_a_table_saved_by_the_previous_version_is_loaded(compacted, flattened):
    """The previous version saved the rows' JSON as a text column of the frame itself; such a file (same
    format number, same key) is loaded, and a filter reads its rows, with nothing flattened."""
    import orjson

    from nbtrack.query import frame_file

    root, _ = compacted
    builder = Store(root)
    runs(store=builder)
    docs = builder.run_docs()
    frame = table.newest_first(table.build_frame(docs[r] for r in docs))
    shapes: dict = {}
    texts = [
        orjson.dumps([shapes.setdefault(tuple(row), len(shapes)), *row.values()]).decode()
        for row in map(table.flatten, (docs[r] for r in frame["run_id"]))
    ]
    encoded = frame_file.encode(frame.assign(**{table_cache.ROWS: texts}))  # as the previous save did
    header = {"key": table_cache.key_of(docs.base), "shapes": [list(shape) for shape in shapes]}
    frame_path(root).write_bytes(table_cache.MAGIC + orjson.dumps(header) + b"\n" + encoded)
    flattened.clear()
    loaded = runs(store=Store(root))
    picked = runs(where="params.i < 5", store=Store(root))
    assert flattened == []  # the file was used: nothing built again
    pd.testing.assert_frame_equal(loaded, scratch(root), check_exact=True)
    pd.testing.assert_frame_equal(picked, expected_filter(root, "params.i < 5"), check_exact=True)
