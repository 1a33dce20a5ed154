"""The runs table: rows from records, column order, and the incremental RunsTable."""

from nbtrack import ids
from nbtrack.query.table import BASE_COLUMNS, DEFAULT_EXPERIMENT, RunsTable, build_frame, flatten, ordered_columns
from nbtrack.store.local import RUNS, get_store


def record(**fields):
    return {"id": ids.new_run_id(), "experiment": "e", "status": "finished", "start_time": 1_700_000_000.0, **fields}


def test_flatten_groups_decodes_and_hashes():
    row = flatten(
        record(
            params={"lr": 0.1, "shape": {"__nbtrack__": "tuple", "v": [1, 2]}},
            metrics={"acc": 0.9},
            tags={"t": "x"},
            data={"train": {"hash": "abc", "kind": "dataframe"}},
        )
    )
    assert row["params.lr"] == 0.1 and row["params.shape"] == (1, 2)
    assert row["metrics.acc"] == 0.9 and row["tags.t"] == "x" and row["data.train"] == "abc"
    assert flatten({"id": "x"})["experiment"] == DEFAULT_EXPERIMENT


def test_column_order():
    columns = ["data.d", "tags.t", "metrics.m", "params.b", "params.a", "unrelated", "run_id"]
    assert ordered_columns(columns) == [*BASE_COLUMNS, "params.a", "params.b", "metrics.m", "tags.t", "data.d"]


def test_build_frame_types():
    frame = build_frame([record(metrics={"acc": "0.5"}), record(metrics={"acc": 1})])
    assert str(frame["start_time"].dtype).startswith("datetime64") and frame["metrics.acc"].tolist() == [0.5, 1.0]
    assert list(build_frame([]).columns) == BASE_COLUMNS


def test_runs_table_follows_the_store(store_dir):
    store = get_store()
    table = RunsTable(store)
    assert table.update() and table.frame.empty
    assert not table.update()  # nothing written: nothing to do
    first, second = record(params={"a": 1}), record(params={"b": 2})
    store.ensure()
    store.journal.append([{"op": "put", "t": RUNS, "id": d["id"], "doc": d} for d in (first, second)])
    version = table.version
    assert table.update() and table.version == version + 1
    assert table.frame["run_id"].tolist() == [second["id"], first["id"]]  # newest first
    assert set(table.docs) == {first["id"], second["id"]}
    store.delete_run(second["id"])
    assert table.update()
    assert table.frame["run_id"].tolist() == [first["id"]]
    assert "params.b" not in table.frame.columns  # columns only the deleted run had go too


def test_models_and_outputs_are_columns_of_short_hashes():
    model = {"blob": "b" * 32, "hash": "1234567890abcdef" * 2, "format": "skops", "class": "x.Y"}
    skipped = {"skipped": "over the 500 MB limit", "size": 1, "class": "x.Big"}
    outputs = {"results/preds.csv": {"hash": "fedcba9876543210" * 2, "size": 3, "kept": None}}
    row = flatten(record(models={"clf": model, "big": skipped, "bare": {"blob": "c" * 32}}, outputs=outputs))
    assert row["models.clf"] == "1234567890ab" and row["models.bare"] == "c" * 12  # no hash: the blob's digest
    assert row["models.big"] is None  # not kept: nothing to identify
    assert row["outputs.results/preds.csv"] == "fedcba987654"
    columns = ["outputs.o", "models.m", "data.d", "params.p", "run_id"]
    assert ordered_columns(columns) == [*BASE_COLUMNS, "params.p", "data.d", "models.m", "outputs.o"]
    frame = build_frame([record(models={"clf": model}), record()])
    assert frame["models.clf"].tolist()[0] == "1234567890ab" and frame["models.clf"].isna().tolist() == [False, True]
