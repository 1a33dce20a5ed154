"""``runs(where=...)`` filters the kept runs table, then builds the chosen runs again: the same rows, columns
and dtypes as filtering a table built from scratch, whatever the records and the expression."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbtrack
from nbtrack import ids
from nbtrack.errors import QueryError
from nbtrack.query.select import select
from nbtrack.query.table import build_frame
from nbtrack.store.local import Store

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-2, 2),
    st.sampled_from(["adam", "sgd", "ünï", ""]),
)
KEYS = st.sampled_from(["lr", "opt", "n", "ü"])
RECORD = st.fixed_dictionaries(
    {
        "experiment": st.sampled_from(["a", "b", None]),
        "status": st.sampled_from(["finished", "failed"]),
        "params": st.dictionaries(KEYS, VALUES, max_size=3),
        "metrics": st.dictionaries(KEYS, st.floats(-1, 1), max_size=2),
        "tags": st.dictionaries(st.sampled_from(["stage", "k"]), st.sampled_from(["x", "y"]), max_size=2),
    }
)
COLUMN = st.sampled_from(
    ["params.lr", "params.opt", "params['n']", "metrics.lr", "tags.stage", "duration", "status", "params.ü", "nope"]
)
CONSTANT = st.sampled_from(["0", "1", "0.5", "'adam'", "'x'", "None", "True", "['adam', 'sgd']"])
COMPARISON = st.builds(
    lambda c, op, v: f"{c} {op} {v}", COLUMN, st.sampled_from(["==", "!=", "<", ">=", "in", "not in"]), CONSTANT
)
WHERE = st.one_of(
    COMPARISON,
    st.builds(lambda a, op, b: f"({a}) {op} ({b})", COMPARISON, st.sampled_from(["and", "or"]), COMPARISON),
    st.builds(lambda a: f"not ({a})", COMPARISON),
    st.builds(lambda c: f"{c} * 2 > 1", COLUMN),
)


def whole_table(store: Store, experiment: str | None, where: str) -> pd.DataFrame:
    """The path runs() took before: build every run's row, filter, then rebuild the chosen runs."""
    docs = store.run_docs()
    frame = build_frame(docs.values())
    rows = select(frame, experiment=experiment, where=where).rows
    if len(rows) < len(frame):
        rows = build_frame(docs[run_id] for run_id in rows["run_id"])
    return rows.reset_index(drop=True)


def outcome(call):
    try:
        return call(), None
    except QueryError as exc:
        return None, str(exc)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(RECORD, max_size=12), where=WHERE, experiment=st.sampled_from([None, "a"]))
def test_pushed_down_filter_gives_the_rows_of_the_whole_table_filter(tmp_path_factory, records, where, experiment):
    store = Store(tmp_path_factory.mktemp("s"))
    for record in records:
        store.put_run({"id": ids.new_run_id(), **record})
    new, new_error = outcome(lambda: nbtrack.runs(experiment=experiment, where=where, store=store))
    old, old_error = outcome(lambda: whole_table(store, experiment, where))
    assert new_error == old_error
    if old is not None:
        pd.testing.assert_frame_equal(new, old)


def test_an_unknown_column_is_named_with_every_known_one(tmp_path):
    store = Store(tmp_path)
    store.put_run({"id": ids.new_run_id(), "params": {"lr": 0.1}, "metrics": {"acc": 0.9}})
    with pytest.raises(QueryError, match=r"unknown column 'params\.nope'.*params\.lr, metrics\.acc|metrics\.acc"):
        nbtrack.runs(where="params.nope > 1", store=store)
