import datetime as dt
import json
import math
import pathlib

import numpy as np
import pytest

from nbtrack import values


def roundtrip(value):
    encoded, notes = values.encode(value)
    json.dumps(encoded, allow_nan=False)  # must be strict JSON
    return values.decode(json.loads(json.dumps(encoded))), notes


@pytest.mark.parametrize(
    "value",
    [
        0,
        -1,
        2**100,
        1.5,
        -0.0,
        "text",
        "",
        None,
        True,
        [1, "a", None],
        {"a": [1, 2]},
        (1, 2),
        {1, 2},
        b"\x00\xff",
        dt.datetime(2026, 1, 2, 3, 4, 5),
        dt.date(2026, 1, 2),
        pathlib.Path("a/b.csv"),
        {1: "int key", (2, 3): "tuple key"},
        1 + 2j,
        {"__nbtrack__": "user key"},
    ],
)
def test_lossless_roundtrip(value):
    decoded, notes = roundtrip(value)
    assert notes == []
    assert decoded == value
    assert type(decoded) is type(value)


def test_negative_zero_keeps_sign():
    decoded, _ = roundtrip(-0.0)
    assert math.copysign(1, decoded) == -1


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats(value):
    decoded, notes = roundtrip(value)
    assert notes == []
    assert (math.isnan(decoded) and math.isnan(value)) or decoded == value


def test_numpy_scalars_and_arrays():
    decoded, notes = roundtrip({"a": np.float32(0.5), "b": np.int64(7), "c": np.arange(6, dtype="int16").reshape(2, 3)})
    assert notes == []
    assert decoded["a"] == 0.5 and decoded["b"] == 7
    assert decoded["c"].dtype == np.int16 and decoded["c"].shape == (2, 3)
    assert (decoded["c"] == np.arange(6).reshape(2, 3)).all()


def test_unserializable_object_becomes_repr_with_note():
    class Thing:
        def __repr__(self):
            return "<Thing 42>"

    decoded, notes = roundtrip(Thing())
    assert decoded == "<Thing 42>" and isinstance(decoded, values.StoredRepr)
    assert len(notes) == 1 and "Thing" in notes[0]


def test_broken_repr_never_raises():
    class Broken:
        def __repr__(self):
            raise RuntimeError("boom")

    decoded, notes = roundtrip(Broken())
    assert "repr failed" in decoded and notes


def test_huge_value_truncated_with_note():
    decoded, notes = roundtrip("x" * 2_000_000)
    assert len(decoded) < 5_000
    assert any("limit" in note for note in notes)


def test_big_array_stored_as_summary():
    decoded, notes = roundtrip(np.zeros(50_000))
    assert isinstance(decoded, values.StoredRepr) and notes


@pytest.mark.parametrize("value,expected", [(1, 1.0), (np.float64(0.25), 0.25), (np.array(3.0), 3.0), (True, 1.0)])
def test_to_float(value, expected):
    assert values.to_float(value) == expected


@pytest.mark.parametrize("value", ["0.5", [1.0], np.array([1.0, 2.0]), None])
def test_to_float_rejects_non_numbers(value):
    with pytest.raises(TypeError):
        values.to_float(value)


# literal_or_text -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.1", 0.1), ("3", 3), ("True", True), ("None", None), ("'quoted'", "quoted"), ("[1, 2]", [1, 2])],
)
def test_literal_or_text_reads_literals(text, value):
    assert values.literal_or_text(text) == value


@pytest.mark.parametrize("text", ["adam", "1 +", "__import__('os')", "", "a=b", "(" * 500])
def test_literal_or_text_keeps_anything_else_as_text(text):
    assert values.literal_or_text(text) == text


def test_literal_or_text_accept_narrows_the_literals_kept():
    assert values.literal_or_text("[1, 2]", values.is_scalar) == "[1, 2]"
    assert values.literal_or_text("2.5", values.is_scalar) == 2.5
    assert values.literal_or_text("{1, 2}", lambda v: isinstance(v, list)) == "{1, 2}"
