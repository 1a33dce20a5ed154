"""The frame file codec (nbtrack.query.frame_file): what encode writes decodes to exactly the frame it was
given (dtypes, column order, index, and the Python type of every object cell); encode declines what it cannot
store exactly; decode declines, never raises on, any bytes it did not write."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import orjson
import pandas as pd
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from nbtrack.query import frame_file
from nbtrack.query.frame_file import MAGIC, decode, encode
from nbtrack.query.table import build_frame
from nbtrack.values import StoredRepr

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),  # -0.0, huge and tiny included
    st.sampled_from([-0.0, 0.0, 1e308, -5e-324, 2.0**53 + 1, "", "ünï ✓", "a\x00b", "日本"]),
    st.text(max_size=8),
)
NESTED = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
)
VALUES = st.one_of(SCALARS, st.just(math.nan), NESTED)
KEYS = st.sampled_from(["lr", "opt", "n", "ü", "mixed", "x y"])
RECORD = st.fixed_dictionaries(
    {
        "experiment": st.sampled_from(["a", "ünï", None, ""]),
        "name": st.one_of(st.none(), st.text(max_size=5)),
        "status": st.sampled_from(["finished", "failed", "running"]),
        "start_time": st.one_of(st.none(), st.floats(0, 4e9)),
        "end_time": st.one_of(st.none(), st.floats(0, 4e9)),
        "duration": st.one_of(st.none(), st.floats(0, 1e6)),
        "params": st.dictionaries(KEYS, VALUES, max_size=4),
        "metrics": st.dictionaries(KEYS, st.one_of(st.floats(), st.integers(-10, 10), st.none()), max_size=3),
        "tags": st.dictionaries(st.sampled_from(["stage", "k"]), st.one_of(st.text(max_size=4), SCALARS), max_size=2),
    }
)


def records(drawn: list[dict]) -> list[dict]:
    return [{**record, "id": f"run{i:04d}"} for i, record in enumerate(drawn)]


def shape(value):
    """A value with its type spelled out all the way down (repr tells -0.0 from 0.0, NaN is 'nan')."""
    if isinstance(value, list):
        return ["list", [shape(v) for v in value]]
    if isinstance(value, dict):
        return ["dict", [[k, shape(v)] for k, v in value.items()]]
    return [type(value).__name__, repr(value)]


def assert_same(back: pd.DataFrame | None, frame: pd.DataFrame) -> None:
    assert back is not None
    assert_frame_equal(back, frame, check_exact=True, check_index_type=True, check_column_type=True)
    assert list(back.columns) == list(frame.columns)
    assert isinstance(back.index, pd.RangeIndex)
    for name in frame.columns:
        if frame[name].dtype == object:
            assert [shape(v) for v in back[name]] == [shape(v) for v in frame[name]], name
        elif isinstance(frame[name].dtype, np.dtype):
            assert back[name].to_numpy().tobytes() == frame[name].to_numpy().tobytes(), name


def round_trip(frame: pd.DataFrame) -> bytes:
    data = encode(frame)
    assert data is not None
    assert_same(decode(data), frame)
    return data


@settings(max_examples=150, deadline=None)
@given(st.lists(RECORD, max_size=8))
def test_build_frame_round_trips_exactly(drawn):
    round_trip(build_frame(records(drawn)))


def test_empty_and_one_row_frames():
    empty = build_frame([])
    assert len(empty) == 0 and len(empty.columns) == 7
    round_trip(empty)
    one = build_frame(records([{"status": "finished", "start_time": 1.7e9, "params": {"a": None, "b": math.nan}}]))
    round_trip(one)
    assert one["params.b"].dtype == float  # a lone NaN is a float column: the object case is below


def test_object_columns_keep_types_none_and_nan():
    cells = [1, 1.0, True, None, math.nan, -0.0, "", "ü", [1, [2.5, None]], {"k": {"j": False}}, 2**63 - 1, 1e308]
    frame = pd.DataFrame({"x": pd.Series(cells, dtype=object), "y": pd.Series([None] * len(cells), dtype=object)})
    round_trip(frame)
    back = decode(encode(frame))
    assert back["x"][3] is None and math.isnan(back["x"][4]) and math.copysign(1, back["x"][5]) == -1


def test_other_dtypes():
    frame = pd.DataFrame(
        {
            "f32": np.array([1.5, -0.0, np.nan], np.float32),
            "f16": np.array([1.5, -0.0, np.inf], np.float16),
            "i32": np.array([1, -2, 3], np.int32),
            "u8": np.array([1, 2, 255], np.uint8),
            "u64": np.array([0, 1, 2**64 - 1], np.uint64),
            "Int64": pd.array([1, None, 3], dtype="Int64"),
            "UInt16": pd.array([1, None, 3], dtype="UInt16"),
            "boolean": pd.array([True, None, False], dtype="boolean"),
            "Float64": pd.array([1.5, None, -0.0], dtype="Float64"),
            "bool": [True, False, True],
            "naive": pd.Series(np.array([0, 1, -(2**62)], "M8[s]")),
            "delta": pd.Series(np.array([0, 1, 2], "m8[ns]")),
            "utc_ms": pd.to_datetime([1, 2, None], unit="ms", utc=True),
            "utc_ns": pd.to_datetime([1.5, 2.25, None], unit="s", utc=True).as_unit("ns"),
            "inf": [math.inf, -math.inf, math.nan],
            "str_python": pd.Series(["a", None, "ü"], dtype=pd.StringDtype("python", na_value=np.nan)),
            "string_arrow": pd.Series(["a", None, ""], dtype=pd.StringDtype("pyarrow")),
            "string_python": pd.Series([None, None, "ü"], dtype=pd.StringDtype("python")),
        }
    )
    round_trip(frame)
    round_trip(frame.iloc[:0].reset_index(drop=True))
    round_trip(pd.DataFrame({"x": [1, 2, 3]}, index=pd.RangeIndex(10, 16, 2)))


def test_sliced_and_chunked_arrow_text():
    text = pd.Series(["α", None, "bb", "", "c" * 100] * 3, dtype="str")
    round_trip(pd.DataFrame({"t": text.iloc[3:11].reset_index(drop=True)}))
    round_trip(pd.DataFrame({"t": pd.concat([text, text], ignore_index=True)}))


class Custom:
    pass


@pytest.mark.parametrize(
    "cell",
    [
        (1, 2),
        Custom(),
        {1, 2},
        b"x",
        StoredRepr("x", "T"),
        2**70,
        math.inf,
        -math.inf,
        [math.nan],
        {"a": (1,)},
        {1: "a"},
        np.float64(1.5),
        pd.Timestamp(0),
        "\ud800",
    ],
)
def test_encode_declines_what_it_cannot_store_exactly(cell):
    assert encode(pd.DataFrame({"ok": [1, 2], "x": pd.Series([cell, "s"], dtype=object)})) is None


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"x": [1, 2]}, index=[0, 1]),
        pd.DataFrame({"x": [1, 2]}, index=pd.RangeIndex(2, name="i")),
        pd.DataFrame({"x": pd.Categorical(["a", "b"])}),
        pd.DataFrame([[1, 2]], columns=["a", "a"]),
        pd.DataFrame([[1, 2]], columns=[0, 1]),
        pd.DataFrame({"t": pd.to_datetime([1], unit="s").tz_localize("Europe/Paris")}),
        pd.DataFrame({"c": [1 + 2j]}),
        pd.DataFrame({"p": pd.period_range("2020", periods=2)}),
        pd.DataFrame({"x": np.array([1, 2], ">i8")}),
        pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "b"), ("a", "c")])),
    ],
)
def test_encode_declines_unknown_shapes_and_dtypes(frame):
    assert encode(frame) is None


def test_encode_never_raises():
    for thing in (None, 1, "frame", pd.Series([1]), [{"a": 1}]):
        assert encode(thing) is None  # type: ignore[arg-type]
    frame = pd.DataFrame({"x": [1]})
    frame.attrs["why"] = "attrs are not stored"
    assert encode(frame) is None


@pytest.fixture(scope="module")
def small() -> bytes:
    docs = records(
        [
            {
                "status": "finished",
                "start_time": 1.5,
                "params": {"a": i, "b": [i, "x"] if i else None},
                "tags": {"k": "ü" * i},
            }
            for i in range(3)
        ]
    )
    data = encode(build_frame(docs))
    assert data is not None
    return data


def split(data: bytes) -> tuple[dict, bytes]:
    end = data.index(b"\n", len(MAGIC) + 33)
    return orjson.loads(data[len(MAGIC) + 33 : end]), data[end + 1 :]


def reseal(header: object, body: bytes) -> bytes:
    """A file with a valid hash around whatever header and body: what a hostile writer can make."""
    rest = json.dumps(header).encode() + b"\n" + body  # json: ints past 64 bits too
    return MAGIC + xxhash.xxh3_128_hexdigest(rest).encode() + b"\n" + rest


def test_reseal_of_an_unchanged_file_decodes(small):
    assert decode(reseal(*split(small))) is not None
    assert decode(bytearray(small)) is not None and decode(memoryview(small)) is not None


def test_decode_declines_truncated_and_flipped(small):
    for cut in range(len(small)):
        assert decode(small[:cut]) is None, cut
    for position in range(len(small)):
        damaged = bytearray(small)
        damaged[position] ^= 0x01
        assert decode(bytes(damaged)) is None, position
    assert decode(small + b"\0") is None


def test_decode_declines_other_formats():
    assert decode(b"nbtrack-frame 2\n" + encode(pd.DataFrame({"x": [1]}))[len(MAGIC) :]) is None
    for junk in (b"", b"\x80\x04\x95", b"PAR1", MAGIC, MAGIC + b"0" * 32 + b"\n", "nbtrack-frame 1\n", None, 3):
        assert decode(junk) is None  # type: ignore[arg-type]


def hostile_headers(header: dict, body: bytes):
    """Headers (and bodies) a hostile writer could seal with a valid hash."""
    first = header["columns"][0]
    yield {**header, "rows": 2**40}, body
    yield {**header, "rows": 10**30}, body
    yield {**header, "rows": 2**40, "columns": []}, b""  # no column to bound the rows by
    yield {**header, "rows": -1}, body
    yield {**header, "rows": True}, body
    yield {**header, "step": 0}, body
    yield {**header, "start": 2**70}, body
    yield {**header, "pandas": "0.0.1"}, body
    yield {**header, "extra": 1}, body
    yield {**header, "names": "V1000000000"}, body
    yield {**header, "columns": "many"}, body
    yield {**header, "columns": header["columns"] * 2}, body * 2  # duplicate names
    yield {**header, "columns": [{**first, "length": 2**62}, *header["columns"][1:]]}, body
    yield {**header, "columns": [{**first, "offset": 1}, *header["columns"][1:]]}, body
    yield {**header, "columns": [{**first, "extra": 0}, *header["columns"][1:]]}, body
    for dtype in ("V1000000000", "float128", "object]", "string[pyarrow]", "string[x,nan]", "category", "O", "<f8"):
        yield {**header, "columns": [{**first, "dtype": dtype}, *header["columns"][1:]]}, body
    for enc in ("json", "raw", "object", "pickle"):
        yield {**header, "columns": [{**first, "enc": enc}, *header["columns"][1:]]}, body
    yield [header], body
    yield header, body[:-1]
    yield header, body + b"x"


def test_decode_declines_hostile_headers(small):
    header, body = split(small)
    for hostile, hostile_body in hostile_headers(header, body):
        assert decode(reseal(hostile, hostile_body)) is None, hostile


def test_decode_declines_hostile_segments():
    frame = pd.DataFrame({"t": pd.Series(["ab", None, "c"], dtype="str"), "o": pd.Series([1, None, "x"], dtype=object)})
    header, body = split(encode(frame))
    text, objects = header["columns"]
    text_body, object_body = body[: text["length"]], body[text["length"] :]
    assert np.frombuffer(text_body[:32], "<i8").tolist() == [0, 2, 2, 3]  # "ab", null, "c"

    def with_segments(t: bytes, o: bytes) -> bytes:
        columns = [{**text, "length": len(t)}, {**objects, "offset": len(t), "length": len(o)}]
        return reseal({**header, "columns": columns}, t + o)

    assert decode(with_segments(text_body, object_body)) is not None
    for bad in ([0, 5, 2, 3], [0, 2, 2, 99], [-1, 2, 2, 3], [0, 2, 2, 2]):  # backwards, past or short of the text
        assert decode(with_segments(np.array(bad, "<i8").tobytes() + text_body[32:], object_body)) is None, bad
    assert decode(with_segments(text_body[:-3] + b"\xff\xfe\x80", object_body)) is None  # not UTF-8
    assert decode(with_segments(text_body[:-2] + b"\xc3\xbc"[:1] + b"c", object_body)) is None  # cut in a character
    assert decode(with_segments(text_body[:32] + b"\x02\x00\x00" + text_body[35:], object_body)) is None  # bool 2
    for junk in (
        b'[[1,null,"x"],[7]]',
        b'[[1,null,"x"],[0]]',
        b'[[1,null,"x"],[1.0]]',
        b"[[1,null],[]]",
        b'[[1,null,"x"]]',
        b"{}",
        b"[" * 5000 + b"]" * 5000,
        b'[[1,null,"x"],[1],3]',
    ):
        assert decode(with_segments(text_body, junk)) is None, junk
    assert decode(with_segments(text_body, b'[[1,null,"x"],[1]]'))["o"].map(type).tolist() == [int, float, str]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=64))
def test_decode_never_raises_on_random_bytes(noise, tail):
    assert decode(noise) is None
    assert decode(MAGIC + noise) is None
    header = orjson.dumps(
        {
            "pandas": pd.__version__,
            "rows": 3,
            "start": 0,
            "step": 1,
            "names": "object",
            "columns": [{"name": "x", "dtype": "object", "enc": "object", "offset": 0, "length": len(tail)}],
        }
    )
    rest = header + b"\n" + tail
    decode(MAGIC + xxhash.xxh3_128_hexdigest(rest).encode() + b"\n" + rest)  # sealed noise: any answer, no raise


def test_decoded_frame_owns_its_memory():
    frame = pd.DataFrame({"x": [1.5, 2.5], "t": pd.Series(["a", "b"], dtype="str")})
    data = bytearray(encode(frame))
    back = decode(data)
    data[:] = bytes(len(data))
    assert_same(back, frame)


def test_a_realistic_frame_round_trips():
    rng = random.Random(7)
    docs = []
    for i in range(3000):
        start = 1.7e9 + i * 3.7 + rng.random()
        params = {"lr": rng.random(), "seed": rng.choice([i, None, "auto", 1.5, True, math.nan]), "bs": 32}
        docs.append(
            {
                "id": f"r{i:05d}",
                "status": "finished",
                "start_time": start,
                "end_time": start + 4.2,
                "params": params,
                "metrics": {"loss": rng.random()},
                "tags": {"stage": rng.choice("ab")},
            }
        )
    round_trip(build_frame(docs))
    assert frame_file.LITTLE  # the utf8 encoding was exercised above (a big-endian host falls back to JSON)


def test_decode_parts_gives_the_columns_asked_and_text_columns_row_by_row():
    frame = pd.DataFrame(
        {
            "run_id": pd.array(["c", "b", "a"], dtype="string[pyarrow]"),
            "x": [1.5, None, 2.0],
            "o": [1, "a", None],
            "rows": pd.array(['[0,"c"]', None, '[0,"ü"]'], dtype="string[pyarrow]"),
        }
    )
    data = encode(frame)
    assert data is not None
    parts = frame_file.decode_parts(data, {"x", "run_id", "not there"}, texts=("rows",))
    assert parts is not None
    some, texts = parts
    assert_frame_equal(some, frame[["run_id", "x"]], check_exact=True)
    assert texts["rows"].at([2, 1, 0]) == ['[0,"ü"]', None, '[0,"c"]']
    assert texts["rows"].detached().at([0]) == ['[0,"c"]']
    everything, _ = frame_file.decode_parts(memoryview(data), texts=("rows",))
    assert_frame_equal(everything, frame[["run_id", "x", "o"]], check_exact=True)
    assert frame_file.decode_parts(data, texts=("o",)) is None  # not Arrow text: no rows to read one by one
    assert frame_file.decode_parts(data, texts=("missing",)) is None
    assert frame_file.decode_parts(data[:-1], {"x"}) is None  # the whole file's hash is checked all the same


def test_encode_stores_extra_text_columns_given_as_offsets_and_bytes():
    frame = pd.DataFrame({"run_id": pd.array(["b", "a"], dtype="string[pyarrow]"), "x": [1, 2]})
    text = '[0,"b"][0,"ü"]'.encode()
    offsets = np.array([0, 7, len(text)], dtype=np.int64)
    data = encode(frame, {"rows": (offsets, text)})
    assert data is not None
    some, texts = frame_file.decode_parts(data, texts=("rows",))
    assert_frame_equal(some, frame, check_exact=True)
    assert texts["rows"].at([1, 0]) == ['[0,"ü"]', '[0,"b"]']
    assert decode(data)["rows"].tolist() == ['[0,"b"]', '[0,"ü"]']  # a plain text column to decode()
    assert encode(frame, {"rows": (offsets[:-1], text)}) is None  # offsets for another number of rows
    assert encode(frame, {"rows": (np.array([0, 9, 7]), text)}) is None  # offsets out of order
    assert encode(frame, {"rows": (offsets, text + b"x")}) is None  # bytes past the last row
    assert encode(frame, {"x": (offsets, text)}) is None  # a name the frame already has
