"""Content fingerprints of the data a run used: tables, arrays, files and directories.

``nbtrack.fingerprint(obj)`` returns a :class:`Fingerprint`: a small record with the algorithm name, a
128-bit content hash (``.hash``, 32 lowercase hex digits), the kind, the shape or size and, for tables,
the columns with their logical types. ``profile=True`` adds a statistical profile (see
:mod:`nbtrack.data.profiling`); runs record both.

Canonical encoding, algorithm ``xxh3-128/nbtrack-2``
-----------------------------------------------------

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

Table (DataFrame, Series, Index): ``b"nbtrack-table-2" + text(kind) + u64(rows) + u64(columns) +
u64(flags) + index + columns`` where flags bit 0 is "row order ignored". ``index`` is ``b"\\x00"`` for a
default index (a ``RangeIndex`` 0..n-1, or integers equal to it, unnamed) and ``b"\\x01" + u64(levels) +
(text(name) + text(T) + digest(level column stream))`` per level otherwise. Each column, in order, is
``text(name) + text(T) + digest(column stream)``. Names are typed: ``s:`` + str, ``i:`` + digits,
``f:`` + repr, ``b:`` + True/False, ``n:`` for None, ``t:`` + names joined by ``\\x1f`` for tuples,
``r:type:str`` otherwise. So every value, every name, every type and the column order count. A Series
is a one-column table named by its name; an Index is a table of its levels.

``order_insensitive=True`` sorts the rows into a canonical order first (lexicographically by the
per-column ranks of the values, as ``pd.factorize(sort=True)`` gives them) and sets flag bit 0; there an
unnamed index is ignored, and a named one is part of each row.

Array: ``b"nbtrack-array-2" + text(T) + u64(ndim) + u64(dim)... + nulls + values`` of the column stream
of the values in C order (F-ordered and strided arrays hash like their C-contiguous copy). With
``order_insensitive=True`` the rows (first axis) are put in the canonical order above and the hash is
xxh3-128 of ``b"unordered:" + digest(array stream)``.

File: xxh3-128 of its bytes, nothing else (``xxhsum -H2`` gives the same digest). Directory:
``b"nbtrack-dir-2" + u64(files) + (text(relative POSIX path) + u64(size) + digest(file))`` per file,
sorted by path: built from the files' hashes, like DVC's directory hashes.

Numeric columns are hashed straight from their buffers (only blocks that hold a NaN other than the
canonical one, or a -0.0, are rewritten); strings from pyarrow's offset and data buffers when pyarrow is
installed. A file is read in chunks (a progress bar on stderr past two seconds) and rehashed only when
its size, mtime or inode changed: the cache is kept in memory and, for files of 1 MiB and more, in
``$NBTRACK_CACHE_DIR`` (default ``~/.cache/nbtrack``).

:func:`fingerprint_data` is what tracking calls; :func:`set_fingerprinter` replaces it.
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import struct
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import xxhash

ALGORITHM = "xxh3-128/nbtrack-2"
FILE_CHUNK = 1 << 23  # 8 MiB reads
NUMERIC_BLOCK = 1 << 20  # bytes of a float column checked for NaN/-0.0 and hashed at a time
PROGRESS_AFTER = 2.0  # seconds of hashing before a progress bar is shown
RACY_SECONDS = 2.0  # a file modified this recently is not cached (its mtime may not change on the next write)
PERSIST_MIN_SIZE = 1 << 20  # files this large are cached on disk too
MAX_RECORD_COLUMNS = 5000  # column entries kept in a record; wider tables keep the first ones
_U64 = struct.Struct("<Q")


# the Fingerprint record ---------------------------------------------------------------------------


class Fingerprint(Mapping):
    """The fingerprint of one input: a read-only mapping over its JSON record.

    ``fp.hash`` is the 128-bit content hash in 32 lowercase hex digits; ``fp.to_dict()`` is the plain
    JSON record a run stores in ``run.data[name]``. ``fp["hash"]`` works too.
    """

    __slots__ = ("_record",)

    def __init__(self, record: Mapping[str, Any]) -> None:
        self._record = _plain(dict(record))

    @property
    def hash(self) -> str:
        return self._record["hash"]

    @property
    def algorithm(self) -> str:
        return self._record.get("algorithm", "")

    @property
    def kind(self) -> str:
        return self._record.get("kind", "")

    @property
    def shape(self) -> list[int] | None:
        return self._record.get("shape")

    @property
    def columns(self) -> list[dict[str, Any]]:
        return self._record.get("columns", [])

    @property
    def profile(self) -> dict[str, Any] | None:
        return self._record.get("profile")

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._record)

    def __getitem__(self, key: str) -> Any:
        return self._record[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._record)

    def __len__(self) -> int:
        return len(self._record)

    def __repr__(self) -> str:
        r = self._record
        if r.get("shape") is not None:
            size = "x".join(str(n) for n in r["shape"])
        elif r.get("size") is not None:
            size = f"{r['size']} bytes"
        else:
            size = ""
        extra = f" {r['format']}" if r.get("format") else ""
        return f"<Fingerprint {r.get('kind')}{extra} {size} {r.get('hash')} ({r.get('algorithm')})>"


def _plain(value: Any) -> Any:
    """A JSON-safe copy: numpy scalars become Python numbers, non-finite floats None, tuples lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    item = getattr(value, "item", None)  # numpy scalars
    if item is not None:
        return _plain(item())
    return str(value)


# helpers --------------------------------------------------------------------------------------------


def _pandas() -> Any:
    return sys.modules.get("pandas")


def _numpy() -> Any:
    return sys.modules.get("numpy")


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:  # pragma: no cover - pyarrow is optional
        return None
    return pyarrow


def is_data(obj: Any) -> bool:
    """True for objects that are fingerprinted as inputs: DataFrames, Series and numpy arrays."""
    module = type(obj).__module__
    if module.startswith("pandas"):
        pd = _pandas()
        return pd is not None and isinstance(obj, (pd.DataFrame, pd.Series))
    if module == "numpy":
        np = _numpy()
        return np is not None and isinstance(obj, np.ndarray)
    return False


def _text(h: Any, text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    h.update(_U64.pack(len(data)))
    h.update(data)


def _name_key(name: Any) -> str:
    """A column or index name as typed text: 1 and "1" are different names."""
    if name is None:
        return "n:"
    if isinstance(name, str):
        return "s:" + name
    if isinstance(name, bool) or type(name).__name__ == "bool_":
        return f"b:{bool(name)}"
    if isinstance(name, tuple):
        return "t:" + "\x1f".join(_name_key(part) for part in name)
    np = _numpy()
    if isinstance(name, int) or (np is not None and isinstance(name, np.integer)):
        return f"i:{int(name)}"
    if isinstance(name, float) or (np is not None and isinstance(name, np.floating)):
        return f"f:{float(name)!r}"
    return f"r:{type(name).__name__}:{name}"


def _name_text(name: Any) -> str:
    return name if isinstance(name, str) else str(name)


# numeric values ---------------------------------------------------------------------------------


def _little_endian(arr: Any) -> Any:
    if arr.dtype.byteorder == ">":
        return arr.astype(arr.dtype.newbyteorder("<"))
    return arr


def _hash_raw(h: Any, arr: Any) -> None:
    """Hash a 1-D array's values in order; contiguous arrays straight from their buffer."""
    np = _numpy()
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
    np = _numpy()
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
    np = _numpy()
    if arr.dtype.kind == "c":  # complex: the real and imaginary parts as floats
        arr = np.ascontiguousarray(_little_endian(arr)).view(f"<f{arr.dtype.itemsize // 2}")
    if arr.dtype.kind == "f":
        _hash_float(h, arr)
    else:
        _hash_raw(h, arr)


def _nulls(h: Any, mask: Any) -> None:
    np = _numpy()
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


def _arrow_chunks(values: Any) -> list[Any] | None:
    """pyarrow chunks of a string column (object, str, string, numpy U), or None without pyarrow/when not strings."""
    pa = _pyarrow()
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
    np = _numpy()
    pa = _pyarrow()
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

    np = _numpy()
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
    np = _numpy()
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
    np = _numpy()
    chunks = _arrow_chunks(values)
    if chunks is not None:
        _hash_arrow_strings(h, chunks)
        return
    obj = np.asarray(values, dtype=object)
    if mask is None:
        pd = _pandas()
        mask = pd.isna(obj) if pd is not None else np.array([v is None for v in obj], dtype=bool)
    _hash_object_strings(h, obj, mask)


# generic values ---------------------------------------------------------------------------------


def _scalar(h: Any, value: Any) -> None:
    np = _numpy()
    pd = _pandas()
    if value is None or (pd is not None and (value is pd.NA or value is pd.NaT)):
        h.update(b"n")
    elif isinstance(value, str):
        h.update(b"s")
        _text(h, value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        h.update(b"b" + _U64.pack(len(data)))
        h.update(data)
    elif isinstance(value, bool) or (np is not None and isinstance(value, np.bool_)):
        h.update(b"?\x01" if value else b"?\x00")
    elif isinstance(value, int) or (np is not None and isinstance(value, np.integer)):
        h.update(b"i")
        _text(h, str(int(value)))
    elif isinstance(value, float) or (np is not None and isinstance(value, np.floating)):
        number = float(value)
        if number != number:
            h.update(b"n")
        else:
            h.update(b"f" + struct.pack("<d", number + 0.0))
    else:
        h.update(b"r")
        _text(h, f"{type(value).__name__}:{value!r}")


def _hash_generic(h: Any, values: Any) -> None:
    h.update(b"\x00")
    for value in values:
        _scalar(h, value)


# columns ----------------------------------------------------------------------------------------


def _datetime_values(arr: Any, kind: str) -> tuple[str, Any]:
    """(logical type suffix, int64 view) of a numpy datetime64/timedelta64 array, in nanoseconds when possible."""
    np = _numpy()
    unit = np.datetime_data(arr.dtype)[0]
    if unit != "ns":
        target = np.dtype(f"{arr.dtype.kind}8[ns]")
        converted = arr.astype(target)
        if np.array_equal(converted.astype(arr.dtype).view("<i8"), arr.view("<i8")):
            return "", converted.view("<i8")
        return f"@{unit}", arr.view("<i8")
    return "", arr.view("<i8")


def _column_encoder(values: Any) -> tuple[str, Callable[[Any], None]]:
    """(logical type, function writing nulls+values to a hasher) for a Series/Index/1-D array."""
    np = _numpy()
    pd = _pandas()
    dtype = values.dtype
    if pd is not None and isinstance(dtype, pd.CategoricalDtype):
        return _categorical_encoder(values)
    if pd is not None and isinstance(dtype, pd.DatetimeTZDtype):
        naive = pd.Series(values).dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        suffix, ints = _datetime_values(naive, "M")
        return f"datetime[{dtype.tz}]{suffix}", lambda h: (h.update(b"\x00"), _hash_raw(h, ints))
    if isinstance(dtype, np.dtype):
        arr = np.asarray(values)
        kind = dtype.kind
        if kind in "biufc":
            name = "bool" if kind == "b" else dtype.name
            return name, lambda h: (h.update(b"\x00"), _hash_numeric(h, arr))
        if kind in "mM":
            suffix, ints = _datetime_values(arr, kind)
            name = ("datetime" if kind == "M" else "timedelta") + suffix
            return name, lambda h: (h.update(b"\x00"), _hash_raw(h, ints))
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
    pa = _pyarrow() if pd is not None and isinstance(dtype, getattr(pd, "ArrowDtype", ())) else None
    if pa is not None and is_arrow_string(pa, dtype.pyarrow_dtype):
        array = values.array if hasattr(values, "array") else values
        return "string", lambda h: _hash_strings(h, array)
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    if numpy_dtype is not None and numpy_dtype.kind in "biuf":
        series = pd.Series(values, copy=False)
        name = "bool" if numpy_dtype.kind == "b" else numpy_dtype.name
        if numpy_dtype.kind == "f":
            floats = series.to_numpy(dtype=numpy_dtype, na_value=np.nan)
            return name, lambda h: (h.update(b"\x00"), _hash_numeric(h, floats))
        mask = series.isna().to_numpy()
        ints = series.to_numpy(dtype=numpy_dtype, na_value=numpy_dtype.type(0))
        return name, lambda h: (_nulls(h, mask), _hash_numeric(h, ints))
    return str(dtype), lambda h: _hash_generic(h, np.asarray(values, dtype=object))


def _categorical_encoder(values: Any) -> tuple[str, Callable[[Any], None]]:
    np = _numpy()
    pd = _pandas()
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
    inner, write_inner = _column_encoder(taken)
    name = f"category[{inner}{', ordered' if cat.ordered else ''}]"

    def write(h: Any) -> None:
        _nulls(h, missing)
        _text(h, inner)
        h.update(_U64.pack(len(taken)))
        write_inner(h)

    return name, write


def _column_digest(values: Any) -> tuple[str, bytes]:
    ltype, write = _column_encoder(values)
    h = xxhash.xxh3_128()
    _text(h, ltype)
    h.update(_U64.pack(len(values)))
    write(h)
    return ltype, h.digest()


def logical_type(values: Any) -> str:
    """The logical type nbtrack records for a column (``float64``, ``string``, ``category[string]``...)."""
    return _column_encoder(values)[0]


# tables -----------------------------------------------------------------------------------------


def _is_default_index(index: Any, n: int) -> bool:
    pd = _pandas()
    np = _numpy()
    if index.nlevels != 1 or index.name is not None or len(index) != n:
        return False
    if isinstance(index, pd.RangeIndex):
        return index.start == 0 and index.step == 1
    if n == 0:
        return True
    if not (isinstance(index.dtype, np.dtype) and index.dtype.kind in "iu"):
        return False
    values = index.to_numpy()
    return bool(values[0] == 0 and values[-1] == n - 1 and (n < 2 or np.all(values[1:] > values[:-1])))


def _table_columns(obj: Any) -> tuple[str, Any, list[Any], list[Any]]:
    """(kind, index or None, column names, columns) of a DataFrame, Series or Index."""
    pd = _pandas()
    if isinstance(obj, pd.DataFrame):
        return "dataframe", obj.index, list(obj.columns), [obj.iloc[:, i] for i in range(obj.shape[1])]
    if isinstance(obj, pd.Series):
        return "series", obj.index, [obj.name], [obj]
    if isinstance(obj, pd.Index):
        return "index", None, list(obj.names), [obj.get_level_values(i) for i in range(obj.nlevels)]
    raise TypeError(f"not a table: {type(obj).__name__}")


def _rank_codes(column: Any) -> Any:
    """Integer ranks of a column's values (equal values, equal ranks; missing -1), independent of storage."""
    np = _numpy()
    pd = _pandas()
    ltype, _ = _column_encoder(column)
    series = pd.Series(column, copy=False).reset_index(drop=True)
    if ltype.startswith("float"):
        series = pd.Series(series.astype("float64").to_numpy(na_value=np.nan) + 0.0)  # -0.0 ranks as 0.0
    elif ltype.startswith("category"):
        series = pd.Series(np.asarray(series, dtype=object))  # by value, not by category order
    try:
        codes, _ = pd.factorize(series, sort=True)
    except TypeError:  # values that do not sort together: rank their canonical encodings
        encoded = []
        for value in np.asarray(series, dtype=object):
            h = xxhash.xxh3_128()
            _scalar(h, value)
            encoded.append(h.hexdigest())
        codes, _ = pd.factorize(np.asarray(encoded, dtype=object), sort=True)
    return codes


def _canonical_row_order(columns: list[Any], nrows: int) -> Any:
    """Row positions sorting the rows by the ranks of their values, first column first."""
    np = _numpy()
    if not columns:
        return np.arange(nrows)
    return np.lexsort([_rank_codes(column) for column in columns][::-1])


def _table_record(obj: Any, order_insensitive: bool = False) -> dict[str, Any]:
    pd = _pandas()
    kind, index, names, columns = _table_columns(obj)
    nrows, ncols = len(obj), len(columns)
    if index is None:
        include_index = False
    elif order_insensitive:
        include_index = any(name is not None for name in index.names)
    else:
        include_index = not _is_default_index(index, nrows)
    levels = [index.get_level_values(i) for i in range(index.nlevels)] if include_index else []
    if order_insensitive and nrows > 1:
        order = _canonical_row_order([*levels, *columns], nrows)
        levels = [level.take(order) for level in levels]
        columns = [pd.Series(column, copy=False).take(order) for column in columns]
    h = xxhash.xxh3_128()
    h.update(b"nbtrack-table-2")
    _text(h, kind)
    h.update(_U64.pack(nrows) + _U64.pack(ncols) + _U64.pack(1 if order_insensitive else 0))
    record: dict[str, Any] = {"algorithm": ALGORITHM, "hash": "", "kind": kind}
    if include_index:
        h.update(b"\x01" + _U64.pack(len(levels)))
        index_info = []
        for name, level in zip(index.names, levels, strict=True):
            ltype, digest = _column_digest(level)
            _text(h, _name_key(name))
            _text(h, ltype)
            h.update(digest)
            index_info.append({"name": None if name is None else _name_text(name), "type": ltype})
        record["index"] = index_info
    else:
        h.update(b"\x00")
    described = []
    for position, (name, column) in enumerate(zip(names, columns, strict=True)):
        ltype, digest = _column_digest(column)
        _text(h, _name_key(name))
        _text(h, ltype)
        h.update(digest)
        if position < MAX_RECORD_COLUMNS:
            described.append(
                {"name": None if name is None else _name_text(name), "type": ltype, "hash": digest.hex()[:16]}
            )
    record["hash"] = h.hexdigest()
    record["shape"] = [nrows, ncols] if kind == "dataframe" else [nrows]
    record["columns"] = described
    if ncols > MAX_RECORD_COLUMNS:
        record["columns_truncated"] = ncols - MAX_RECORD_COLUMNS
    if order_insensitive:
        record["order_insensitive"] = True
    return record


# arrays -----------------------------------------------------------------------------------------


def _array_record(arr: Any) -> dict[str, Any]:
    np = _numpy()
    flat = arr.reshape(-1) if arr.flags.c_contiguous else np.ravel(arr, order="C")
    ltype, write = _column_encoder(flat)
    h = xxhash.xxh3_128()
    h.update(b"nbtrack-array-2")
    _text(h, ltype)
    h.update(_U64.pack(arr.ndim) + b"".join(_U64.pack(n) for n in arr.shape))
    write(h)
    return {
        "algorithm": ALGORITHM,
        "hash": h.hexdigest(),
        "kind": "ndarray",
        "shape": list(arr.shape),
        "dtype": str(arr.dtype),
        "type": ltype,
    }


# files and directories ----------------------------------------------------------------------------


class _Progress:
    """A one-line progress bar on stderr, shown only once hashing has taken PROGRESS_AFTER seconds."""

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = max(total, 1)
        self.start = time.perf_counter()
        self.last = 0.0
        self.shown = False

    def update(self, done: int) -> None:
        now = time.perf_counter()
        elapsed = now - self.start
        if elapsed < PROGRESS_AFTER or (self.shown and now - self.last < 0.25):
            return
        self.last = now
        self.shown = True
        frac = min(done / self.total, 1.0)
        bar = "#" * int(frac * 20)
        rate = done / elapsed / 1e9 if elapsed > 0 else 0.0
        sys.stderr.write(
            f"\rnbtrack: hashing {self.label} [{bar:<20}] {frac:4.0%} "
            f"{done / 1e9:.2f}/{self.total / 1e9:.2f} GB {rate:.2f} GB/s"
        )
        sys.stderr.flush()

    def close(self, done: int) -> None:
        if self.shown:
            self.last = 0.0
            self.start -= PROGRESS_AFTER
            self.update(done)
            sys.stderr.write("\n")
            sys.stderr.flush()


def _read_hash(path: Path, progress: _Progress | None, done: int = 0) -> tuple[str, int]:
    h = xxhash.xxh3_128()
    buffer = bytearray(FILE_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buffer)
            if not n:
                break
            h.update(view[:n])
            done += n
            if progress is not None:
                progress.update(done)
    return h.hexdigest(), done


_FileKey = tuple[str, int, int, int, int]
_memory_cache: OrderedDict[_FileKey, dict[str, Any]] = OrderedDict()
_cache_lock = threading.Lock()
_MEMORY_ENTRIES = 4096


def cache_dir() -> Path:
    env = os.environ.get("NBTRACK_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nbtrack"


def _file_key(path: Path, st: os.stat_result) -> _FileKey:
    return (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


class _DiskCache:
    """File hashes in SQLite, keyed on path, size, mtime and inode."""

    FILE = "file-hashes-1.sqlite"

    def __init__(self) -> None:
        self.path = cache_dir() / self.FILE

    def _connect(self) -> Any:
        import sqlite3

        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=2.0)
        con.execute(
            "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
            "inode INTEGER, device INTEGER, algorithm TEXT, hash TEXT)"
        )
        return con

    def get(self, key: _FileKey) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        try:
            con = self._connect()
            try:
                row = con.execute(
                    "SELECT hash FROM files WHERE path=? AND size=? AND mtime_ns=? AND inode=? AND device=? "
                    "AND algorithm=?",
                    (*key, ALGORITHM),
                ).fetchone()
            finally:
                con.close()
        except Exception:
            return None
        return None if row is None else {"hash": row[0]}

    def put(self, key: _FileKey, entry: dict[str, Any]) -> None:
        try:
            con = self._connect()
            try:
                with con:
                    con.execute(
                        "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (*key, ALGORITHM, entry["hash"]),
                    )
            finally:
                con.close()
        except Exception:
            pass  # a cache that cannot be written only costs a rehash


def _cache_get(key: _FileKey) -> dict[str, Any] | None:
    with _cache_lock:
        entry = _memory_cache.get(key)
        if entry is not None:
            _memory_cache.move_to_end(key)
            return entry
    if key[1] >= PERSIST_MIN_SIZE:
        entry = _DiskCache().get(key)
        if entry is not None:
            with _cache_lock:
                _memory_cache[key] = entry
            return entry
    return None


def _cache_put(key: _FileKey, entry: dict[str, Any], started: float) -> None:
    if started - key[2] / 1e9 < RACY_SECONDS:
        return  # modified just before hashing: a write in the same mtime tick would go unnoticed
    with _cache_lock:
        _memory_cache[key] = entry
        _memory_cache.move_to_end(key)
        while len(_memory_cache) > _MEMORY_ENTRIES:
            _memory_cache.popitem(last=False)
    if key[1] >= PERSIST_MIN_SIZE:
        _DiskCache().put(key, entry)


def clear_file_cache() -> None:
    """Forget the in-memory file hashes (the on-disk cache stays; delete its directory to clear it)."""
    with _cache_lock:
        _memory_cache.clear()


def _file_entry(path: Path, progress: _Progress | None = None, done: int = 0) -> tuple[dict[str, Any], int]:
    """The cached {hash, ...} of a file, hashing it when its size, mtime or inode changed."""
    started = time.time()
    st = path.stat()
    key = _file_key(path, st)
    entry = _cache_get(key)
    if entry is not None:
        return entry, done + st.st_size
    digest, done = _read_hash(path, progress, done)
    after = path.stat()
    entry = {"hash": digest}
    if _file_key(path, after) == key:  # unchanged while we read it
        _cache_put(key, entry, started)
    return entry, done


def hash_file(path: str | os.PathLike[str]) -> str:
    """xxh3-128 hex digest of a file's bytes (cached on path, size, mtime and inode)."""
    path = Path(path)
    size = path.stat().st_size
    progress = _Progress(path.name, size)
    entry, done = _file_entry(path, progress)
    progress.close(done)
    return entry["hash"]


_MAGIC = (
    (b"PAR1", "parquet"),
    (b"\x93NUMPY", "npy"),
    (b"ARROW1", "feather"),
    (b"ORC", "orc"),
    (b"Obj\x01", "avro"),
    (b"\x89HDF\r\n\x1a\n", "hdf5"),
    (b"SQLite format 3\x00", "sqlite"),
)
_EXTENSIONS = {
    "csv": "csv",
    "tsv": "tsv",
    "tab": "tsv",
    "psv": "csv",
    "json": "json",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "parquet": "parquet",
    "pq": "parquet",
    "npy": "npy",
    "npz": "npz",
    "feather": "feather",
    "arrow": "feather",
    "ipc": "feather",
    "orc": "orc",
    "avro": "avro",
    "h5": "hdf5",
    "hdf5": "hdf5",
    "hdf": "hdf5",
    "pkl": "pickle",
    "pickle": "pickle",
    "xlsx": "excel",
    "xls": "excel",
    "txt": "text",
    "zip": "zip",
    "sqlite": "sqlite",
    "db": "sqlite",
    "xml": "xml",
    "yaml": "yaml",
    "yml": "yaml",
}
_COMPRESSION = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
_COMPRESSION_EXT = {"gz": "gzip", "bz2": "bz2", "xz": "xz", "zst": "zstd"}


def detect_format(path: str | os.PathLike[str]) -> tuple[str, str | None]:
    """(format, compression) of a file, from its first bytes and its name: ("csv", None), ("csv", "gzip")..."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        head = b""
    suffixes = [s.lstrip(".").lower() for s in path.suffixes]
    compression = next((name for magic, name in _COMPRESSION.items() if head.startswith(magic)), None)
    if compression is not None:
        inner = [s for s in suffixes if s not in _COMPRESSION_EXT]
        fmt = _EXTENSIONS.get(inner[-1]) if inner else None
        return fmt or compression, compression if fmt else None
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name, None
    if head.startswith(b"PK\x03\x04"):
        ext = suffixes[-1] if suffixes else ""
        return {"npz": "npz", "xlsx": "excel"}.get(ext, "zip"), None
    if head[:2] == b"\x80\x04" or head[:2] == b"\x80\x05" or head[:2] == b"\x80\x03":
        return "pickle", None
    ext = suffixes[-1] if suffixes else ""
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext], None
    if not head:
        return "empty", None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # a multi-byte character cut at the end of the sample is still text
        try:
            text = head[:-4].decode("utf-8")
        except UnicodeDecodeError:
            return "binary", None
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        lines = [line for line in stripped.splitlines() if line.strip()]
        if len(lines) > 1 and all(line.lstrip().startswith("{") for line in lines[:-1]):
            return "jsonl", None
        return "json", None
    lines = text.splitlines()[:20]
    if len(lines) > 1:
        for sep, name in ((",", "csv"), ("\t", "tsv"), (";", "csv")):
            counts = {line.count(sep) for line in lines[:-1] if line}
            if len(counts) == 1 and counts.pop() > 0:
                return name, None
    return "text", None


def _file_record(path: Path) -> dict[str, Any]:
    st = path.stat()
    fmt, compression = detect_format(path)
    record = {
        "algorithm": ALGORITHM,
        "hash": hash_file(path),
        "kind": "file",
        "path": str(path),
        "size": st.st_size,
        "format": fmt,
    }
    if compression:
        record["compression"] = compression
    return record


def _walk_files(path: Path) -> list[tuple[str, Path, int]]:
    found = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in files:
            file = Path(root) / name
            try:
                size = file.stat().st_size
            except OSError:
                continue  # a dangling link
            found.append((file.relative_to(path).as_posix(), file, size))
    found.sort(key=lambda item: item[0])
    return found


MAX_DIR_ENTRIES = 100


def _dir_record(path: Path) -> dict[str, Any]:
    files = _walk_files(path)
    total = sum(size for _, _, size in files)
    progress = _Progress(f"{path.name}/", total)
    h = xxhash.xxh3_128()
    h.update(b"nbtrack-dir-2" + _U64.pack(len(files)))
    done = 0
    entries = []
    for rel, file, size in files:
        entry, done = _file_entry(file, progress, done)
        _text(h, rel)
        h.update(_U64.pack(size))
        h.update(bytes.fromhex(entry["hash"]))
        if len(entries) < MAX_DIR_ENTRIES:
            entries.append({"path": rel, "size": size, "hash": entry["hash"]})
    progress.close(done)
    record = {
        "algorithm": ALGORITHM,
        "hash": h.hexdigest(),
        "kind": "directory",
        "path": str(path),
        "files": len(files),
        "size": total,
        "entries": entries,
    }
    if len(files) > MAX_DIR_ENTRIES:
        record["entries_truncated"] = len(files) - MAX_DIR_ENTRIES
    return record


# the entry points -------------------------------------------------------------------------------

_profile_cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
_PROFILE_CACHE_ENTRIES = 64


def _with_profile(record: dict[str, Any], obj: Any) -> dict[str, Any]:
    """Add the profile, reusing the one computed for the same content in this process."""
    from nbtrack.data import profiling

    key = f"{record['kind']}:{record.get('format')}:{record['hash']}"
    with _cache_lock:
        cached = _profile_cache.get(key)
        if cached is not None:
            _profile_cache.move_to_end(key)
    if cached is None:
        cached = _plain(profiling.profile(obj, record))
        with _cache_lock:
            _profile_cache[key] = cached
            while len(_profile_cache) > _PROFILE_CACHE_ENTRIES:
                _profile_cache.popitem(last=False)
    record["profile"] = copy.deepcopy(cached)
    return record


def fingerprint_data(obj: Any, profile: bool = False, order_insensitive: bool = False) -> dict[str, Any]:
    """The fingerprint record (a plain JSON dict) of a DataFrame, Series, Index, numpy array, file or directory."""
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj).expanduser()
        if path.is_dir():
            record = _dir_record(path)
        elif path.is_file():
            record = _file_record(path)
        else:
            raise FileNotFoundError(f"no file or directory {str(obj)!r} to fingerprint")
        target: Any = path
    else:
        pd = _pandas()
        np = _numpy()
        if pd is not None and isinstance(obj, (pd.DataFrame, pd.Series, pd.Index)):
            record = _table_record(obj, order_insensitive)
        elif np is not None and isinstance(obj, np.ndarray):
            if order_insensitive and obj.ndim >= 1 and len(obj) > 1:
                import pandas

                rows = obj.reshape(len(obj), -1)
                order = _canonical_row_order([pandas.Series(rows[:, i]) for i in range(rows.shape[1])], len(obj))
                obj = obj[order]
                record = _array_record(obj)
                record["hash"] = xxhash.xxh3_128(b"unordered:" + bytes.fromhex(record["hash"])).hexdigest()
                record["order_insensitive"] = True
            else:
                record = _array_record(obj)
        else:
            raise TypeError(f"cannot fingerprint an object of type {type(obj).__name__}")
        target = obj
    if profile:
        record = _with_profile(record, target)
    return _plain(record)


_fingerprinter: Callable[..., Mapping[str, Any]] = fingerprint_data
_takes_options = True


def set_fingerprinter(function: Callable[..., Mapping[str, Any]] | None) -> None:
    """Replace the function runs use to fingerprint inputs (None restores the built-in one).

    It is called as ``function(obj)``, or ``function(obj, profile=..., order_insensitive=...)`` when it
    accepts those keywords (or ``**kwargs``), and returns a JSON-able dict with at least ``hash``.
    """
    global _fingerprinter, _takes_options
    _fingerprinter = function or fingerprint_data
    try:
        params = inspect.signature(_fingerprinter).parameters.values()
    except (TypeError, ValueError):
        _takes_options = False
        return
    names = {p.name for p in params}
    _takes_options = {"profile", "order_insensitive"} <= names or any(p.kind is p.VAR_KEYWORD for p in params)


def fingerprint(obj: Any, *, profile: bool = False, order_insensitive: bool = False) -> Fingerprint:
    """Fingerprint a DataFrame, Series, Index, numpy array, or a file or directory path.

    The plain call computes the content hash only; ``profile=True`` adds the profile (row and null
    counts, numeric summaries and quantiles, top values) that checks compare. ``order_insensitive=True``
    gives a hash that ignores row order.
    """
    if _takes_options:
        record = _fingerprinter(obj, profile=profile, order_insensitive=order_insensitive)
    else:
        record = _fingerprinter(obj)
    return record if isinstance(record, Fingerprint) else Fingerprint(record)
