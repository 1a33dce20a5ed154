"""A runs frame as bytes and back, exactly: the codec of the frame cache beside a store.

Building the ``runs()`` frame of 100,000 runs in a fresh process costs ~1.4 s (flatten + DataFrame
construction); reading it back from this file costs tens of milliseconds. The file may come from another
user's store, so it holds only numbers, bytes and JSON (no pickle, nothing executable), and :func:`decode`
checks everything it reads: damaged, truncated, foreign or hostile bytes give ``None``, never an exception.
:func:`encode` gives ``None`` for a frame it cannot store exactly (it decodes what it wrote and compares),
and the caller then simply does not cache. Layout::

    nbtrack-frame 1\\n
    <xxh3-128 of everything after this line, 32 hex digits>\\n
    <header: one line of JSON>\\n
    <body: the columns' segments, one after the other, in column order>

The header: ``{"pandas": version, "rows": n, "start": i, "step": k, "names": dtype of the column labels,
"columns": [{"name", "dtype", "enc", "offset", "length"}]}`` (offsets into the body; the index is
``RangeIndex(start, start + n * step, step)``). Encodings, by dtype:

- ``raw``: numpy numbers, bools and datetimes (``datetime64[unit, UTC]`` too, as int64): little-endian.
- ``masked``: pandas' nullable Int*/UInt*/Float*/boolean: the values, raw, then the mask, one byte a row.
- ``utf8``: pyarrow-backed text: n + 1 int64 offsets, a null byte a row, then the UTF-8 text (an Arrow
  large_string's buffers: from JSON, building the column costs ~25 ms at 100,000 rows; from these, < 1 ms).
- ``json``: other text, a JSON list with null for missing; ``object``: ``[values, rows holding NaN]`` in
  JSON (JSON has one null: the second list tells float NaN from None).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import numpy as np
import orjson
import pandas as pd
import xxhash
from pandas.testing import assert_frame_equal, assert_index_equal

MAGIC = b"nbtrack-frame 1\n"
_HASH_END = len(MAGIC) + 33
MAX_ROWS = 1 << 40
HEADER = {"pandas", "rows", "start", "step", "names", "columns"}
ENTRY = {"name", "dtype", "enc", "offset", "length"}
UNITS = ("s", "ms", "us", "ns")
NUMPY = {"bool", "float16", "float32", "float64", *(f"{s}{b}" for s in ("int", "uint") for b in (8, 16, 32, 64))}
NUMPY.update(f"{kind}64[{unit}]" for kind in ("datetime", "timedelta") for unit in UNITS)
UTC = {f"datetime64[{unit}, UTC]": unit for unit in UNITS}
MASKED = {"boolean", "Float32", "Float64", *(f"{s}{b}" for s in ("Int", "UInt") for b in (8, 16, 32, 64))}
STORAGES = ("python", "pyarrow", "pyarrow_numpy")
LITTLE = sys.byteorder == "little"
TYPES: Any = (float, list, dict)  # compared with arrays of types element-wise (`== float` reads as a type test)
FLOAT, LIST, DICT = TYPES


def encode(frame: pd.DataFrame, texts: Mapping[str, tuple[np.ndarray, bytes]] | None = None) -> bytes | None:
    """The bytes of ``frame``; None when they would not decode to exactly ``frame``. Never raises.

    ``texts``: more text columns, each as ``(offsets, UTF-8)`` (n + 1 offsets into the bytes of its n rows,
    none missing), stored after the frame's as Arrow text: read back as columns by :func:`decode`, row by
    row by :func:`decode_parts`. 100,000 rows of JSON cost a few MB this way, against ~50 MB left in the
    process by as many Python strings and a column made of them."""
    try:
        extra = dict(texts or {})
        if any(name in frame.columns or type(name) is not str for name in extra):
            return None
        data = _encode(frame, extra)
        parts = decode_parts(data, texts=tuple(extra)) if data is not None else None
        if parts is None or not _same_frame(frame, parts[0]):
            return None
        for name, (offsets, text) in extra.items():
            back = parts[1][name]
            if not (np.array_equal(back._offsets, offsets) and bytes(back._text) == text and not back._nulls.any()):
                return None
        return data
    except Exception:
        return None


def decode(data: bytes | memoryview) -> pd.DataFrame | None:
    """The frame :func:`encode` wrote into ``data``; None for anything else. Never raises."""
    parts = decode_parts(data)
    return parts[0] if parts is not None else None


def decode_parts(
    data: bytes | memoryview, columns: Collection[str] | None = None, texts: Collection[str] = ()
) -> tuple[pd.DataFrame, dict[str, Texts]] | None:
    """Some of the frame in ``data``: the ``columns`` named (all when None; a name it lacks is left out),
    and each of ``texts`` (Arrow text columns) as :class:`Texts`, read row by row, not made a column.

    A filter needs a few columns of 100,000 rows and a few hundred of the saved rows' JSON: the others are
    not decoded. The whole file's hash and header are still checked; None for anything :func:`decode`
    declines, or a text column it does not hold as Arrow text. Never raises."""
    try:
        return _decode(data, columns, texts)
    except Exception:
        return None


class Texts:
    """An Arrow text column as stored (offsets, nulls, UTF-8), each row decoded only when asked for."""

    def __init__(self, offsets: np.ndarray, nulls: np.ndarray, text: bytes | memoryview) -> None:
        self._offsets, self._nulls, self._text = offsets, nulls, text

    def __len__(self) -> int:
        return len(self._nulls)

    def detached(self) -> Texts:
        """The same rows in memory of their own (these may be a view of the whole file's bytes)."""
        return Texts(self._offsets, self._nulls, bytes(self._text))

    def at(self, positions: Iterable[int]) -> list[str | None]:
        """The rows at ``positions``: None for a missing one, or one whose bytes are not UTF-8 (a hostile file)."""
        offsets, nulls, text, out = self._offsets, self._nulls, self._text, []
        for n in positions:
            try:
                out.append(None if nulls[n] else str(text[offsets[n] : offsets[n + 1]], "utf-8"))
            except UnicodeDecodeError:
                out.append(None)
        return out


def _spec(dtype: Any) -> tuple[str, str] | None:
    """(dtype token, encoding) for a dtype this codec stores exactly, else None."""
    if isinstance(dtype, np.dtype):
        if dtype.kind == "O":
            return "object", "object"
        return (dtype.name, "raw") if dtype.name in NUMPY and dtype.byteorder in "=|<" else None
    if isinstance(dtype, pd.DatetimeTZDtype):
        token = f"datetime64[{getattr(dtype, 'unit', 'ns')}, UTC]"
        return (token, "raw") if token in UTC and str(dtype.tz) == "UTC" else None
    if isinstance(dtype, pd.StringDtype):
        na = "NA" if dtype.na_value is pd.NA else "nan"
        if dtype.storage not in STORAGES or (na == "nan" and not math.isnan(dtype.na_value)):
            return None
        return f"string[{dtype.storage},{na}]", "utf8" if dtype.storage == "pyarrow" and LITTLE else "json"
    if type(dtype).__module__.startswith("pandas") and getattr(dtype, "name", None) in MASKED:
        return dtype.name, "masked"
    return None


def _dtype(token: str) -> Any:
    """The dtype a token names (only tokens :func:`_spec` gives); raises for any other."""
    if token in NUMPY or token == "object":
        return np.dtype(token)
    if token in UTC:
        return pd.DatetimeTZDtype(UTC[token], "UTC")
    if token in MASKED:
        return pd.api.types.pandas_dtype(token)
    storage, _, na = token.removeprefix("string[").removesuffix("]").partition(",")
    if token != f"string[{storage},{na}]" or storage not in STORAGES or na not in ("nan", "NA"):
        raise ValueError(token)
    if na == "NA" or storage == "pyarrow_numpy":  # pandas 2.1-2.2's NaN-missing text
        return pd.StringDtype(storage)
    return pd.StringDtype(storage, na_value=np.nan)


def _segment(series: pd.Series, enc: str) -> bytes:
    if enc == "raw":
        tz = isinstance(series.dtype, pd.DatetimeTZDtype)
        values = series.dt.tz_localize(None).to_numpy() if tz else series.to_numpy()
        little = values.dtype.newbyteorder("<")
        return np.ascontiguousarray(values, dtype=little).tobytes()
    if enc == "masked":
        data, mask = series.array._data, series.array._mask  # the values under the mask too: nothing is rewritten
        return np.ascontiguousarray(data, dtype=data.dtype.newbyteorder("<")).tobytes() + mask.tobytes()
    if enc == "utf8":
        import pyarrow as pa

        chunks = pa.chunked_array(series.array.__arrow_array__()).cast(pa.large_string())
        text = chunks.combine_chunks() if chunks.num_chunks != 1 else chunks.chunk(0)
        buffers = text.buffers()
        offsets = np.frombuffer(buffers[1], dtype="<i8")[text.offset : text.offset + len(text) + 1]
        start, end = int(offsets[0]), int(offsets[-1])
        body = memoryview(buffers[2])[start:end] if buffers[2] is not None else b""
        nulls = text.is_null().to_numpy(zero_copy_only=False).astype(np.bool_)
        return (offsets - start).astype("<i8").tobytes() + nulls.tobytes() + bytes(body)
    if enc == "json":
        return orjson.dumps(series.to_numpy(dtype=object, na_value=None).tolist())
    values = series.to_numpy(dtype=object)
    nan = [int(i) for i in np.flatnonzero(pd.isna(values)) if type(values[i]) is float]
    return orjson.dumps([values.tolist(), nan])


def _encode(frame: pd.DataFrame, texts: dict[str, tuple[np.ndarray, bytes]]) -> bytes | None:
    index, columns = frame.index, frame.columns
    if not isinstance(frame, pd.DataFrame) or not isinstance(index, pd.RangeIndex) or index.name is not None:
        return None
    if frame.attrs or not columns.is_unique or columns.name is not None or type(columns) is not pd.Index:
        return None
    names, specs = _spec(columns.dtype), [_spec(dtype) for dtype in frame.dtypes]
    if names is None or None in specs or not all(type(name) is str for name in columns):
        return None
    entries, segments, offset = [], [], 0
    for position, (name, spec) in enumerate(zip(columns, specs, strict=True)):
        assert spec is not None
        segment = _segment(frame.iloc[:, position], spec[1])
        entries.append({"name": name, "dtype": spec[0], "enc": spec[1], "offset": offset, "length": len(segment)})
        segments.append(segment)
        offset += len(segment)
    text_dtype = _spec(pd.StringDtype("pyarrow"))
    for name, (offsets, text) in texts.items():
        assert text_dtype is not None and LITTLE  # utf8 segments are little-endian Arrow buffers
        starts = np.ascontiguousarray(offsets, dtype="<i8")
        if len(starts) != len(frame) + 1 or starts[0] != 0 or starts[-1] != len(text) or (np.diff(starts) < 0).any():
            return None
        parts = (starts.tobytes(), bytes(len(starts) - 1), text)  # no row missing
        length = sum(map(len, parts))
        entries.append({"name": name, "dtype": text_dtype[0], "enc": "utf8", "offset": offset, "length": length})
        segments.extend(parts)
        offset += length
    header = {"pandas": pd.__version__, "rows": len(index), "start": index.start, "step": index.step}
    header.update(names=names[0], columns=entries)
    rest = orjson.dumps(header) + b"\n" + b"".join(segments)
    return MAGIC + xxhash.xxh3_128_hexdigest(rest).encode() + b"\n" + rest


def _int(value: Any, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValueError(value)
    return value


def _decode(
    data: bytes | memoryview, columns: Collection[str] | None, texts: Collection[str]
) -> tuple[pd.DataFrame, dict[str, Texts]] | None:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return None
    view = memoryview(data).cast("B") if isinstance(data, memoryview) else memoryview(data)
    if view[: len(MAGIC)] != MAGIC or len(view) < _HASH_END or view[_HASH_END - 1] != ord("\n"):
        return None
    if bytes(view[len(MAGIC) : _HASH_END - 1]) != xxhash.xxh3_128_hexdigest(view[_HASH_END:]).encode():
        return None
    end = line_end(view, _HASH_END)
    header, body = orjson.loads(view[_HASH_END:end] if end > 0 else b""), view[end + 1 :]
    if type(header) is not dict or set(header) != HEADER or header["pandas"] != pd.__version__:
        return None
    rows = _int(header["rows"], 0, MAX_ROWS if header["columns"] else 0)  # no columns: no length to bound rows by
    start, step = _int(header["start"], -(1 << 62), 1 << 62), _int(header["step"], -(1 << 62), 1 << 62)
    series, kept, found, offset = [], [], {}, 0
    for entry in header["columns"]:
        if type(entry) is not dict or set(entry) != ENTRY or type(entry["name"]) is not str:
            return None
        dtype, length = _dtype(str(entry["dtype"])), _int(entry["length"], 0, len(body) - offset)
        if entry["offset"] != offset or _spec(dtype) != (entry["dtype"], entry["enc"]):
            return None
        name, segment = entry["name"], body[offset : offset + length]
        if name in texts:
            if entry["enc"] != "utf8":
                return None
            texts_found = _texts(segment, rows)
            if texts_found is None:
                return None
            found[name] = texts_found
        elif columns is None or name in columns:
            series.append(_column(segment, dtype, entry["enc"], rows))
            kept.append(name)
        offset += length
    if offset != len(body) or any(column is None for column in series) or len(found) != len(set(texts)):
        return None
    names = pd.Index([entry["name"] for entry in header["columns"]], dtype=_dtype(str(header["names"])))
    index = pd.RangeIndex(start, start + rows * step, step)
    if len(index) != rows or not names.is_unique:
        return None
    frame = pd.concat(series, axis=1, ignore_index=True) if series else pd.DataFrame(index=index)
    frame.index, frame.columns = index, names[names.isin(kept)] if len(kept) < len(names) else names
    return frame, found


def line_end(view: memoryview, start: int) -> int:
    """Where the header line starting at ``start`` ends, -1 when it does not (a memoryview has no ``find``)."""
    at = start
    while at < len(view):
        found = bytes(view[at : at + 65536]).find(b"\n")
        if found >= 0:
            return at + found
        at += 65536
    return -1


def _texts(segment: memoryview, rows: int) -> Texts | None:
    offsets = _raw(segment[: 8 * (rows + 1)], np.dtype(np.int64), rows + 1)
    nulls = _raw(segment[8 * (rows + 1) : 9 * rows + 8], np.dtype(np.bool_), rows)
    text = segment[9 * rows + 8 :]  # a view: most rows are never read
    if offsets[0] != 0 or offsets[-1] != len(text) or (rows and (np.diff(offsets) < 0).any()):
        return None
    return Texts(offsets, nulls, text)


def _raw(segment: memoryview, dtype: np.dtype, rows: int) -> np.ndarray:
    if len(segment) != rows * dtype.itemsize:
        raise ValueError(len(segment))
    if dtype.kind == "b" and np.frombuffer(segment, dtype=np.uint8).max(initial=0) > 1:
        raise ValueError("a bool is the byte 0 or 1")  # numpy would keep any other byte as it is
    return np.frombuffer(segment, dtype=dtype.newbyteorder("<"), count=rows).astype(dtype)  # a copy


def _column(segment: memoryview, dtype: Any, enc: str, rows: int) -> pd.Series | None:
    if enc == "raw":
        utc = isinstance(dtype, pd.DatetimeTZDtype)
        values = pd.Series(_raw(segment, np.dtype(f"M8[{dtype.unit}]") if utc else dtype, rows), copy=False)
        return values.dt.tz_localize("UTC") if utc else values
    if enc == "masked":
        width = rows * dtype.numpy_dtype.itemsize
        values = _raw(segment[:width], dtype.numpy_dtype, rows)
        mask = _raw(segment[width:], np.dtype(np.bool_), rows)
        return pd.Series(dtype.construct_array_type()(values, mask), copy=False)
    if enc == "utf8":
        import pyarrow as pa

        offsets = _raw(segment[: 8 * (rows + 1)], np.dtype(np.int64), rows + 1)
        nulls = _raw(segment[8 * (rows + 1) : 9 * rows + 8], np.dtype(np.bool_), rows)
        text = np.frombuffer(segment[9 * rows + 8 :], dtype=np.uint8).copy()
        if offsets[0] != 0 or offsets[-1] != len(text):  # the text is the rows' and nothing else
            return None
        valid = pa.py_buffer(np.packbits(~nulls, bitorder="little"))
        buffers = [valid, pa.py_buffer(offsets), pa.py_buffer(text)]
        array = pa.Array.from_buffers(pa.large_string(), rows, buffers, null_count=int(nulls.sum()))
        array.validate(full=True)  # offsets in order and inside the text, the text UTF-8
        return pd.Series(array, dtype=dtype)
    items = orjson.loads(segment)
    if enc == "json":
        if len(items) != rows or not all(v is None or type(v) is str for v in items):
            return None
        return pd.Series(pd.array(items, dtype=dtype), copy=False)
    values, nan = items  # raises unless two items
    if type(values) is not list or len(values) != rows:
        return None
    if not all(type(i) is int and 0 <= i < rows and values[i] is None for i in nan):
        return None
    array = np.fromiter(values, dtype=object, count=rows)
    array[nan] = math.nan
    return pd.Series(array, dtype=object, copy=False)


def _same_value(a: Any, b: Any) -> bool:
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is float:
        return (a != a and b != b) or (a == b and math.copysign(1.0, a) == math.copysign(1.0, b))
    if kind is list:
        return len(a) == len(b) and all(map(_same_value, a, b))
    if kind is dict:
        return list(a) == list(b) and all(map(_same_value, a.values(), b.values()))
    return bool(a == b)


def _same_objects(mine: np.ndarray, theirs: np.ndarray) -> bool:
    """The same Python values, type for type (1 is not 1.0 nor True, None is not NaN), -0.0 not 0.0."""
    kinds = np.fromiter(map(type, mine), dtype=object, count=len(mine))
    if not (kinds == np.fromiter(map(type, theirs), dtype=object, count=len(theirs))).all():
        return False
    floats, nested = kinds == FLOAT, (kinds == LIST) | (kinds == DICT)
    plain = ~(floats | nested)
    if not (mine[plain] == theirs[plain]).all():
        return False
    a, b = mine[floats].astype(np.float64), theirs[floats].astype(np.float64)
    if not ((np.isnan(a) & np.isnan(b)) | (a.view(np.int64) == b.view(np.int64))).all():
        return False
    return all(map(_same_value, mine[nested], theirs[nested]))


def _same_frame(frame: pd.DataFrame, back: pd.DataFrame) -> bool:
    """``back`` is ``frame``: pandas' exact comparison, then numbers bit for bit and objects type for type.

    Arrow text is compared by Arrow (values and nulls), not by ``assert_frame_equal``: that converts each
    such column to Python strings (tens of ms a column at 100,000 rows: most of the whole check)."""
    text = [isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow" for dtype in frame.dtypes]
    rest = [position for position, is_text in enumerate(text) if not is_text]
    try:
        assert_index_equal(back.columns, frame.columns, exact=True, check_exact=True)
        if not back.dtypes.equals(frame.dtypes):
            return False
        # text columns left out (checked below), the rest as they are
        assert_frame_equal(back.iloc[:, rest], frame.iloc[:, rest], check_exact=True, check_index_type=True)
    except AssertionError:
        return False
    for position in range(frame.shape[1]):
        mine, theirs = frame.iloc[:, position], back.iloc[:, position]
        if text[position]:
            same = mine.array.__arrow_array__().equals(theirs.array.__arrow_array__())
        elif not isinstance(mine.dtype, np.dtype):
            continue
        elif mine.dtype.kind == "O":
            same = _same_objects(mine.to_numpy(), theirs.to_numpy())
        else:
            same = mine.to_numpy().tobytes() == theirs.to_numpy().tobytes()
        if not same:
            return False
    return True
