"""Content hashes of tables, arrays, files and directories, built on the column streams of
:mod:`nbtrack.data.encoding`; algorithm ``xxh3-128/nbtrack-2``.

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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xxhash

from nbtrack.data.encoding import (
    ALGORITHM,
    U64,
    column_digest,
    column_encoder,
    loaded_numpy,
    loaded_pandas,
    name_key,
    name_text,
    write_scalar,
    write_text,
)
from nbtrack.data.file_cache import Progress, file_entry, hash_file, walk_files
from nbtrack.data.formats import detect_format

MAX_RECORD_COLUMNS = 5000  # column entries kept in a record; wider tables keep the first ones
MAX_DIR_ENTRIES = 100


# tables -----------------------------------------------------------------------------------------


def _is_default_index(index: Any, n: int) -> bool:
    pd = loaded_pandas()
    np = loaded_numpy()
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


def table_columns(obj: Any) -> tuple[str, Any, list[Any], list[Any]]:
    """(kind, index or None, column names, columns) of a DataFrame, Series or Index."""
    pd = loaded_pandas()
    if isinstance(obj, pd.DataFrame):
        return "dataframe", obj.index, list(obj.columns), [obj.iloc[:, i] for i in range(obj.shape[1])]
    if isinstance(obj, pd.Series):
        return "series", obj.index, [obj.name], [obj]
    if isinstance(obj, pd.Index):
        return "index", None, list(obj.names), [obj.get_level_values(i) for i in range(obj.nlevels)]
    raise TypeError(f"not a table: {type(obj).__name__}")


def _rank_codes(column: Any) -> Any:
    """Integer ranks of a column's values (equal values, equal ranks; missing -1), independent of storage."""
    np = loaded_numpy()
    pd = loaded_pandas()
    ltype, _ = column_encoder(column)
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
            write_scalar(h, value)
            encoded.append(h.hexdigest())
        codes, _ = pd.factorize(np.asarray(encoded, dtype=object), sort=True)
    return codes


def canonical_row_order(columns: list[Any], nrows: int) -> Any:
    """Row positions sorting the rows by the ranks of their values, first column first."""
    np = loaded_numpy()
    if not columns:
        return np.arange(nrows)
    return np.lexsort([_rank_codes(column) for column in columns][::-1])


def table_record(obj: Any, order_insensitive: bool = False) -> dict[str, Any]:
    pd = loaded_pandas()
    kind, index, names, columns = table_columns(obj)
    nrows, ncols = len(obj), len(columns)
    if index is None:
        include_index = False
    elif order_insensitive:
        include_index = any(name is not None for name in index.names)
    else:
        include_index = not _is_default_index(index, nrows)
    levels = [index.get_level_values(i) for i in range(index.nlevels)] if include_index else []
    if order_insensitive and nrows > 1:
        order = canonical_row_order([*levels, *columns], nrows)
        levels = [level.take(order) for level in levels]
        columns = [pd.Series(column, copy=False).take(order) for column in columns]
    h = xxhash.xxh3_128()
    h.update(b"nbtrack-table-2")
    write_text(h, kind)
    h.update(U64.pack(nrows) + U64.pack(ncols) + U64.pack(1 if order_insensitive else 0))
    record: dict[str, Any] = {"algorithm": ALGORITHM, "hash": "", "kind": kind}
    if include_index:
        h.update(b"\x01" + U64.pack(len(levels)))
        index_info = []
        for name, level in zip(index.names, levels, strict=True):
            ltype, digest = column_digest(level)
            write_text(h, name_key(name))
            write_text(h, ltype)
            h.update(digest)
            index_info.append({"name": None if name is None else name_text(name), "type": ltype})
        record["index"] = index_info
    else:
        h.update(b"\x00")
    described = []
    for position, (name, column) in enumerate(zip(names, columns, strict=True)):
        ltype, digest = column_digest(column)
        write_text(h, name_key(name))
        write_text(h, ltype)
        h.update(digest)
        if position < MAX_RECORD_COLUMNS:
            described.append(
                {"name": None if name is None else name_text(name), "type": ltype, "hash": digest.hex()[:16]}
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


def array_record(arr: Any) -> dict[str, Any]:
    np = loaded_numpy()
    flat = arr.reshape(-1) if arr.flags.c_contiguous else np.ravel(arr, order="C")
    ltype, write = column_encoder(flat)
    h = xxhash.xxh3_128()
    h.update(b"nbtrack-array-2")
    write_text(h, ltype)
    h.update(U64.pack(arr.ndim) + b"".join(U64.pack(n) for n in arr.shape))
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


def file_record(path: Path) -> dict[str, Any]:
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


def dir_record(path: Path) -> dict[str, Any]:
    files = walk_files(path)
    total = sum(size for _, _, size in files)
    progress = Progress(f"{path.name}/", total)
    h = xxhash.xxh3_128()
    h.update(b"nbtrack-dir-2" + U64.pack(len(files)))
    done = 0
    entries: list[dict[str, Any]] = []
    for rel, file, size in files:
        entry, done = file_entry(file, progress, done)
        write_text(h, rel)
        h.update(U64.pack(size))
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
