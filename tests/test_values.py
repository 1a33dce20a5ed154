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


# issue 18, reproductions 6, 7 and 11: any string, any key, any shape, in bounded time ------------------


@pytest.mark.parametrize(
    "value",
    [
        "caf\udce9.csv",
        "\ud800",
        "a\\udce9 literal backslash",
        {"caf\udce9": 1},
        ["x\udcff", ("y\udc80",)],
        pathlib.Path("data/caf\udce9.csv"),
        {frozenset({1}): "x"},
        {(1, "a"): [1], 3: "int", None: 0, frozenset(): "empty"},
        {"__nbtrack__": "float", "v": "nan"},
        {"__nbtrack__:x": 1},
        frozenset({1, 2}),
        {frozenset({1}), frozenset({2})},
        10**400,
        -(2**64),
        2**63 - 1,
    ],
)
def test_odd_strings_keys_and_ints_round_trip_exactly(value):
    encoded, notes = values.encode(value)
    text = json.dumps(encoded, ensure_ascii=False, allow_nan=False).encode("utf-8")  # strict UTF-8, as records are
    decoded = values.decode(json.loads(text))
    assert notes == [] and decoded == value and type(decoded) is type(value)


def test_huge_ints_are_stored_as_text_of_any_size():
    big = 7**20_000  # beyond Python's 4,300-digit limit for int <-> decimal text
    encoded, notes = values.encode(big)
    assert notes == [] and encoded["base"] == 16 and values.decode(json.loads(json.dumps(encoded))) == big


@pytest.mark.parametrize("text", ["", "plain", "ünï😀", "caf\udce9", "\\", "__nbtrack__", "__nbtrack__:x", "\ud83d"])
def test_escape_text_is_lossless_and_leaves_plain_text_alone(text):
    escaped = values.escape_text(text)
    escaped.encode("utf-8")
    assert values.unescape_text(escaped) == text
    assert (escaped is text) == values.text_is_plain(text)


def test_old_records_with_a_set_key_decode(tmp_path):
    """What the encoder before issue 18 wrote for {frozenset({1}): 'x'}: a set as a dict key."""
    old = {"__nbtrack__": "dict", "v": [[{"__nbtrack__": "set", "v": [1]}, "x"]]}
    assert values.decode(old) == {frozenset({1}): "x"}


def test_damaged_tagged_values_read_as_text_never_raise():
    problems: list[str] = []
    for bad in ({"__nbtrack__": "ndarray", "v": "x"}, {"__nbtrack__": "int", "v": "nope"}, {"__nbtrack__": "set"}):
        decoded = values.decode(bad, problems)
        assert isinstance(decoded, values.StoredRepr) and decoded.type_name == values.UNREADABLE
    assert len(problems) == 3


def timed(fn):
    import time

    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def test_a_self_referencing_list_is_cut_where_it_recurs():
    a: list = []
    a.append(a)
    a.append(a)
    (encoded, notes), seconds = timed(lambda: values.encode(a, "param 'a'"))
    assert seconds < 0.1 and notes == ["param 'a' contains itself: the inner reference is stored as its repr"]
    assert values.decode(encoded) == ["[...]", "[...]"]


def test_exponentially_shared_lists_are_cut_by_visit_count():
    shared: list = []
    for _ in range(40):
        shared = [shared, shared]  # 2^40 items if printed
    (encoded, notes), seconds = timed(lambda: values.encode(shared))
    assert seconds < 0.1, seconds
    assert "more than 50,000 parts" in notes[0]
    assert isinstance(values.decode(encoded), values.StoredRepr) and len(encoded["v"]) < 2_000


def test_a_list_of_ten_million_ints_is_a_summary_in_bounded_time_and_memory():
    import tracemalloc

    big = list(range(10**7))
    tracemalloc.start()
    (encoded, notes), seconds = timed(lambda: values.encode(big))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert seconds < 1 and peak < 1_000_000, (seconds, peak)
    assert "list of 10,000,000 items" in notes[0]
    assert encoded["v"].startswith("10,000,000 items: [0, 1, 2") and len(encoded["v"]) < 2_000


def test_a_slow_repr_costs_at_most_half_a_second_per_value():
    import time

    class Slow:
        def __repr__(self):
            time.sleep(3)
            return "slow"

    (encoded, _notes), seconds = timed(lambda: values.encode([Slow() for _ in range(20)]))
    assert seconds < 1.0, seconds
    assert "repr took longer than the 0.5 s" in encoded[0]["v"] and "repr not called" in encoded[-1]["v"]
