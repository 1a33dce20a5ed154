"""Records of earlier releases brought to the current schema (nbtrack.run_migrations), as plain dicts.

test_run.py reads the 0.1.0 fixture store through ``Run.from_doc``; here each step is checked on its own.
"""

from __future__ import annotations

import pytest

from nbtrack.run_migrations import MIGRATIONS, SCHEMA, migrate, schema_of

OLD = {
    "id": "01hzzzzzzzzzzzzzzzzzzzzzzz",
    "experiment": "e",
    "name": "r",
    "status": "finished",
    "params": {"lr": 0.1},
    "metrics": {"acc": 0.9},
    "tags": {},
    "data": {},
}


def test_a_format_1_record_becomes_the_current_schema_keeping_every_key():
    doc = {**OLD, "format": 1, "unknown_to_us": {"x": [1, 2]}, "future": None}
    out = migrate(doc)
    assert out["schema"] == SCHEMA and "format" not in out
    assert out == {**OLD, "unknown_to_us": {"x": [1, 2]}, "future": None, "schema": SCHEMA}
    assert doc["format"] == 1 and "schema" not in doc  # the input is not changed


def test_a_record_without_any_version_is_schema_1():
    assert schema_of(OLD) == 1
    out = migrate(OLD)
    assert out == {**OLD, "schema": SCHEMA}
    assert migrate(out) == out  # migrating twice changes nothing


@pytest.mark.parametrize(
    ("doc", "version"),
    [
        ({"schema": 2}, 2),
        ({"schema": 7, "format": 1}, 7),  # schema wins over the old key
        ({"format": 1}, 1),
        ({"format": True}, 1),  # a bool is not a version
        ({"schema": "2", "format": 1}, 1),
        ({"schema": None}, 1),
        ({}, 1),
    ],
)
def test_schema_of(doc, version):
    assert schema_of(doc) == version


def test_a_record_from_a_newer_release_is_left_as_it_is():
    newer = {**OLD, "schema": SCHEMA + 1, "format": 1, "shiny": True}
    assert migrate(newer) == newer and migrate(newer) is not newer


def test_every_version_below_the_current_one_has_a_step():
    assert sorted(MIGRATIONS) == list(range(1, SCHEMA))
    for version, step in MIGRATIONS.items():
        assert schema_of(step({**OLD, "format": version})) == version + 1
