"""The canonical encoding of one column of values, algorithm ``xxh3-128/nbtrack-2`` (the column part; tables,
arrays, files and directories are in :mod:`nbtrack.data.hashing`).

Hashes are xxHash3-128 (seed 0) over byte streams defined here, never over Python's ``hash()``, pickles
or ``pd.util.hash_pandas_object`` (which ignores column names and changed between pandas versions), so
the same content gives the same hash in any process, session, ``PYTHONHASHSEED`` and pandas/numpy
version, and whatever the memory layout (contiguous or strided, C or Fortran order, chunked or not).
Notation: ``u64(x)`` is 8 bytes little-endian; ``text(s)`` is ``u64(len(b)) + b`` with ``b`` the UTF-8
bytes of ``s`` (lone surrogates kept with ``surrogatepass``); ``digest(stream)`` is the 16-byte xxh3-128
digest of a stream (the bytes of its hex digest).

Column stream, for a column of ``n`` values of logical type ``T``: ``text(T) + u64(n) + nulls + values``.

- ``nulls``: ``b"\\x00"`` when no value is missing, else ``b"\\x01"`` followed by the missing-value mask
  packed 8 values a byte, least significant bit first (``np.packbits(mask, bitorder="little")``).
- ``bool``: one byte per value (0 or 1; a missing value is 0).
- ``int8`` ... ``int64``, ``uint8`` ... ``uint64``: the values little-endian, two's complement (a missing
  value is 0). numpy and nullable (``Int64``, arrow) integers of one width share one logical type.
- ``float16/32/64``, ``complex64/128``: IEEE-754 little-endian, every NaN written as the quiet NaN
  ``0x7ff8000000000000`` (``0x7fc00000``, ``0x7e00`` for the narrower widths) and -0.0 as 0.0. Missing
  float values are NaN (nullable ``Float64``'s NA hashes as NaN), so ``nulls`` is always ``b"\\x00"``.
- ``datetime`` / ``datetime[TZ]`` (instants in UTC for a time zone TZ) and ``timedelta``: int64
  nanoseconds, NaT as -2**63, whatever unit pandas/numpy stores (second, milli, micro, nano) so the same
  instants hash alike; ``datetime@UNIT`` with values in that unit when they do not fit nanoseconds.
- ``string`` (object columns holding only str, pandas ``str``/``string`` dtypes, python- or
  arrow-backed, arrow string types, numpy ``U``): ``n`` u64 UTF-8 byte lengths (0 for a missing value),
  then the UTF-8 bytes of all values concatenated. Object- and arrow-backed columns hash alike.
- ``category[T]`` (``category[T, ordered]``): ``nulls`` from the codes, then the column stream of the
  values (the categories taken by the codes, a missing value filled with the first present value)
  as type ``T``: categoricals hash by their values, not by codes, category order or unused categories.
- anything else (``object`` with mixed types, periods, intervals...): ``nulls`` is ``b"\\x00"`` and each
  value is a tag byte and its bytes: ``n`` missing (None, NaN, NA, NaT); ``s`` + text (str);
  ``b`` + u64 length + bytes; ``?`` + one byte (bool); ``i`` + text(decimal digits) (int); ``f`` + the
  canonical float64 bytes (float); ``r`` + text(``type-name:repr``) for the rest.

Numeric columns are hashed straight from their buffers (only blocks that hold a NaN other than the
canonical one, or a -0.0, are rewritten); strings from pyarrow's offset and data buffers when pyarrow is
installed.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from typing import Any

import xxhash

ALGORITHM = "xxh3-128/nbtrack-2"  # names this encoding; a change to it is a new algorithm
NUMERIC_BLOCK = 1 << 20  # bytes of a float column checked for NaN/-0.0 and hashed at a time

U64 = struct.Struct("<Q")


# helpers --------------------------------------------------------------------------------------------


def loaded_pandas() -> Any:
    return sys.modules.get("pandas")


def loaded_numpy() -> Any:
    return sys.modules.get("numpy")


def optional_pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:  # pragma: no cover - pyarrow is optional
        return None
    return pyarrow


def write_text(h: Any, text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    h.update(U64.pack(len(data)))
    h.update(data)


def name_key(name: Any) -> str:
    """A column or index name as typed text: 1 and "1" are different names."""
    if name is None:
        return "n:"
    if isinstance(name, str):
        return "s:" + name
    if isinstance(name, bool) or type(name).__name__ == "bool_":
        return f"b:{bool(name)}"
    if isinstance(name, tuple):
        return "t:" + "\x1f".join(name_key(part) for part in name)
    np = loaded_numpy()
    if isinstance(name, int) or (np is not None and isinstance(name, np.integer)):
        return f"i:{int(name)}"
    if isinstance(name, float) or (np is not None and isinstance(name, np.floating)):
        return f"f:{float(name)!r}"
    return f"r:{type(name).__name__}:{name}"


def name_text(name: Any) -> str:
    return name if isinstance(name, str) else str(name)


# numeric values ---------------------------------------------------------------------------------


def _little_endian(arr: Any) -> Any:
    if arr.dtype.byteorder == ">":
        return arr.astype(arr.dtype.newbyteorder("<"))
    return arr


def _hash_raw(h: Any, arr: Any) -> None:
    """Hash a 1-D array's values in order; contiguous arrays straight from their buffer."""
    np = loaded_numpy()
    arr = _little_endian(arr)
    if arr.flags.c_contiguous:
        h.update(arr)
        return
    step = max(1, NUMERIC_BLOCK // max(arr.itemsize, 1))
    for start in range(0, len(arr), step):
        h.update(np.ascontiguousarray(arr[start : start + step]))


_NEG_ZERO_INT = {8: "<i8", 4: "<i4", 2: "<i2"}


def _hash_float(h: Any, arr: Any) -> None:
    """Hash 1-D float values block by block, rewriting only blocks with a NaN or -0.0."""
    np = loaded_numpy()
    arr = _little_endian(arr)
    itype = np.dtype(_NEG_ZERO_INT[arr.itemsize])
    neg_zero = np.iinfo(itype).min
    step = max(1, NUMERIC_BLOCK // arr.itemsize)
    for start in range(0, len(arr), step):
        block = arr[start : start + step]
        if not block.flags.c_contiguous:
            block = np.ascontiguousarray(block)
        if np.isnan(block.min()) or block.view(itype).min() == neg_zero:
            block = np.where(np.isnan(block), np.nan, block + 0).astype(block.dtype, copy=False)
        h.update(block)


def _hash_numeric(h: Any, arr: Any) -> None:
    np = loaded_numpy()
    if arr.dtype.kind == "c":  # complex: the real and imaginary parts as floats
        arr = np.ascontiguousarray(_little_endian(arr)).view(f"<f{arr.dtype.itemsize // 2}")
    if arr.dtype.kind == "f":
        _hash_float(h, arr)
    else:
        _hash_raw(h, arr)


def _nulls(h: Any, mask: Any) -> None:
    np = loaded_numpy()
    if mask is None or not mask.any():
        h.update(b"\x00")
        return
    h.update(b"\x01")
    h.update(np.packbits(np.asarray(mask, dtype=bool), bitorder="little"))


# strings ------------------------------------------------------------------------------------------


def is_arrow_string(pa: Any, t: Any) -> bool:
    """string, large_string or string_view (the last only in pyarrow >= 16)."""
    is_view = getattr(pa.types, "is_string_view", None)
    return pa.types.is_string(t) or pa.types.is_large_string(t) or bool(is_view and is_view(t))


def arrow_chunks(values: Any) -> list[Any] | None:
    """pyarrow chunks of a string column (object, str, string, numpy U), or None without pyarrow/when not strings."""
    pa = optional_pyarrow()
    if pa is None:
        return None
    try:
        if hasattr(values, "__arrow_array__"):
            data = values.__arrow_array__()
        else:
            data = pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowException, UnicodeError, TypeError, ValueError):
        return None
    chunks = list(data.chunks) if isinstance(data, pa.ChunkedArray) else [data]
    out = []
    for chunk in chunks:
        if not is_arrow_string(pa, chunk.type):
            return None
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            chunk = chunk.cast(pa.large_string())  # string_view
        out.append(chunk)
    return out


def _string_parts(chunk: Any) -> tuple[Any, Any, int, int]:
    """(lengths int64, data buffer, start, end) of one arrow string chunk, zero-copy where possible."""
    np = loaded_numpy()
    pa = optional_pyarrow()
    n = len(chunk)
    buffers = chunk.buffers()
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    if buffers[1] is None or n == 0:
        return np.zeros(n, dtype="<i8"), None, 0, 0
    offsets = np.frombuffer(buffers[1], dtype=width)[chunk.offset : chunk.offset + n + 1]
    lengths = np.diff(offsets).astype("<i8", copy=False)
    return lengths, buffers[2], int(offsets[0]), int(offsets[-1])


def _hash_arrow_strings(h: Any, chunks: list[Any]) -> None:
    import pyarrow.compute as pc

    np = loaded_numpy()
    if any(c.null_count for c in chunks):
        mask = np.concatenate([c.is_null().to_numpy(zero_copy_only=False) for c in chunks])
    else:
        mask = None
    _nulls(h, mask)
    parts = []
    for chunk in chunks:
        lengths, data, lo, hi = _string_parts(chunk)
        if chunk.null_count:
            null = chunk.is_null().to_numpy(zero_copy_only=False)
            if lengths[null].any():  # a null slot covering bytes: rebuild with empty strings
                chunk = pc.fill_null(chunk, "")
                lengths, data, lo, hi = _string_parts(chunk)
        h.update(lengths)
        parts.append((data, lo, hi))
    for data, lo, hi in parts:
        if data is not None and hi > lo:
            h.update(memoryview(data)[lo:hi])


def _hash_object_strings(h: Any, values: Any, mask: Any) -> None:
    """Strings without pyarrow: numpy/str vectorized joins, no Python loop per value."""
    np = loaded_numpy()
    _nulls(h, mask)
    if mask is not None and mask.any():
        values = np.where(mask, "", values)
    joined = "".join(values.tolist())
    data = joined.encode("utf-8", "surrogatepass")
    if len(data) == len(joined):  # ASCII: byte lengths are character lengths
        lengths = np.fromiter(map(len, values), dtype="<i8", count=len(values))
    else:
        encoded = (s.encode("utf-8", "surrogatepass") for s in values.tolist())
        lengths = np.fromiter(map(len, encoded), dtype="<i8", count=len(values))
    h.update(lengths)
    h.update(data)


def _hash_strings(h: Any, values: Any, mask: Any = None) -> None:
    """values: a pandas string array, an object array of str/None, or a numpy U array."""
    np = loaded_numpy()
    chunks = arrow_chunks(values)
    if chunks is not None:
        _hash_arrow_strings(h, chunks)
        return
    obj = np.asarray(values, dtype=object)
    if mask is None:
        pd = loaded_pandas()
        mask = pd.isna(obj) if pd is not None else np.array([v is None for v in obj], dtype=bool)
    _hash_object_strings(h, obj, mask)


# generic values ---------------------------------------------------------------------------------


def write_scalar(h: Any, value: Any) -> None:
    np = loaded_numpy()
    pd = loaded_pandas()
    if value is None or (pd is not None and (value is pd.NA or value is pd.NaT)):
        h.update(b"n")
    elif isinstance(value, str):
        h.update(b"s")
        write_text(h, value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        h.update(b"b" + U64.pack(len(data)))
        h.update(data)
    elif isinstance(value, bool) or (np is not None and isinstance(value, np.bool_)):
        h.update(b"?\x01" if value else b"?\x00")
    elif isinstance(value, int) or (np is not None and isinstance(value, np.integer)):
        h.update(b"i")
        write_text(h, str(int(value)))
    elif isinstance(value, float) or (np is not None and isinstance(value, np.floating)):
        number = float(value)
        if number != number:
            h.update(b"n")
        else:
            h.update(b"f" + struct.pack("<d", number + 0.0))
    else:
        h.update(b"r")
        write_text(h, f"{type(value).__name__}:{value!r}")


def _hash_generic(h: Any, values: Any) -> None:
    h.update(b"\x00")
    for value in values:
        write_scalar(h, value)


# columns ----------------------------------------------------------------------------------------


def _datetime_values(arr: Any, kind: str) -> tuple[str, Any]:
    """(logical type suffix, int64 view) of a numpy datetime64/timedelta64 array, in nanoseconds when possible."""
    np = loaded_numpy()
    unit = np.datetime_data(arr.dtype)[0]
    if unit != "ns":
        target = np.dtype(f"{arr.dtype.kind}8[ns]")
        converted = arr.astype(target)
        if np.array_equal(converted.astype(arr.dtype).view("<i8"), arr.view("<i8")):
            return "", converted.view("<i8")
        return f"@{unit}", arr.view("<i8")
    return "", arr.view("<i8")


def _without_nulls(write: Callable[[Any, Any], None], values: Any) -> Callable[[Any], None]:
    """An encoder writing ``nulls`` = no missing value, then the values."""

    def encode(h: Any) -> None:
        h.update(b"\x00")
        write(h, values)

    return encode


def _with_nulls(write: Callable[[Any, Any], None], values: Any, mask: Any) -> Callable[[Any], None]:
    """An encoder writing the missing-value mask, then the values."""

    def encode(h: Any) -> None:
        _nulls(h, mask)
        write(h, values)

    return encode


def column_encoder(values: Any) -> tuple[str, Callable[[Any], None]]:
    """(logical type, function writing nulls+values to a hasher) for a Series/Index/1-D array."""
    np = loaded_numpy()
    pd = loaded_pandas()
    dtype = values.dtype
    if pd is not None and isinstance(dtype, pd.CategoricalDtype):
        return _categorical_encoder(values)
    if pd is not None and isinstance(dtype, pd.DatetimeTZDtype):
        naive = pd.Series(values).dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        suffix, ints = _datetime_values(naive, "M")
        return f"datetime[{dtype.tz}]{suffix}", _without_nulls(_hash_raw, ints)
    if isinstance(dtype, np.dtype):
        arr = np.asarray(values)
        kind = dtype.kind
        if kind in "biufc":
            name = "bool" if kind == "b" else dtype.name
            return name, _without_nulls(_hash_numeric, arr)
        if kind in "mM":
            suffix, ints = _datetime_values(arr, kind)
            name = ("datetime" if kind == "M" else "timedelta") + suffix
            return name, _without_nulls(_hash_raw, ints)
        if kind == "U":
            return "string", lambda h: _hash_strings(h, arr)
        if kind == "O":
            inferred = pd.api.types.infer_dtype(arr, skipna=True) if pd is not None else ""
            if inferred == "string":
                return "string", lambda h: _hash_strings(h, arr)
        return ("object" if kind == "O" else dtype.str), lambda h: _hash_generic(h, np.asarray(values, dtype=object))
    # pandas extension dtypes
    if pd is not None and isinstance(dtype, pd.StringDtype):
        array = values.array if hasattr(values, "array") else values
        return "string", lambda h: _hash_strings(h, array)
    pa = optional_pyarrow() if pd is not None and isinstance(dtype, getattr(pd, "ArrowDtype", ())) else None
    if pa is not None and is_arrow_string(pa, dtype.pyarrow_dtype):
        array = values.array if hasattr(values, "array") else values
        return "string", lambda h: _hash_strings(h, array)
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    if numpy_dtype is not None and numpy_dtype.kind in "biuf":
        series = pd.Series(values, copy=False)
        name = "bool" if numpy_dtype.kind == "b" else numpy_dtype.name
        if numpy_dtype.kind == "f":
            floats = series.to_numpy(dtype=numpy_dtype, na_value=np.nan)
            return name, _without_nulls(_hash_numeric, floats)
        mask = series.isna().to_numpy()
        ints = series.to_numpy(dtype=numpy_dtype, na_value=numpy_dtype.type(0))
        return name, _with_nulls(_hash_numeric, ints, mask)
    return str(dtype), lambda h: _hash_generic(h, np.asarray(values, dtype=object))


def _categorical_encoder(values: Any) -> tuple[str, Callable[[Any], None]]:
    np = loaded_numpy()
    pd = loaded_pandas()
    if isinstance(values, pd.Categorical):
        cat = values
    elif isinstance(getattr(values, "array", None), pd.Categorical):
        cat = values.array
    else:
        cat = pd.Categorical(values)
    codes = np.asarray(cat.codes)
    missing = codes < 0
    present = np.flatnonzero(~missing)
    if len(present):
        filled = np.where(missing, codes[present[0]], codes) if missing.any() else codes
        taken = cat.categories.take(filled)
    else:
        taken = cat.categories[:0]
    inner, write_inner = column_encoder(taken)
    name = f"category[{inner}{', ordered' if cat.ordered else ''}]"

    def write(h: Any) -> None:
        _nulls(h, missing)
        write_text(h, inner)
        h.update(U64.pack(len(taken)))
        write_inner(h)

    return name, write


def column_digest(values: Any) -> tuple[str, bytes]:
    ltype, write = column_encoder(values)
    h = xxhash.xxh3_128()
    write_text(h, ltype)
    h.update(U64.pack(len(values)))
    write(h)
    return ltype, h.digest()


def logical_type(values: Any) -> str:
    """The logical type nbtrack records for a column (``float64``, ``string``, ``category[string]``...)."""
    return column_encoder(values)[0]
