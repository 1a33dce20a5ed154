"""Content fingerprints of the data a run used: tables, arrays, files and directories.

The hash is xxHash3-128 over a canonical encoding nbtrack defines itself (so it is stable across
processes, sessions, ``PYTHONHASHSEED`` and pandas/numpy versions): every row counts, column names,
dtypes and column order count, NaN and -0.0 are canonicalized, strings hash as UTF-8 with lengths.

:func:`fingerprint_data` is what tracking calls; replace it with :func:`set_fingerprinter` to plug in
another scheme.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xxhash

ALGORITHM = "xxh3-128/nbtrack-1"
_CHUNK = 1 << 22


def _pandas():
    import sys

    return sys.modules.get("pandas")


def _numpy():
    import sys

    return sys.modules.get("numpy")


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


def _update_text(h: xxhash.xxh3_128, text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    h.update(struct.pack("<Q", len(data)))
    h.update(data)


def _hash_array(h: xxhash.xxh3_128, arr: Any) -> None:
    np = _numpy()
    arr = np.asarray(arr)
    _update_text(h, arr.dtype.str)
    h.update(struct.pack("<Q", arr.ndim) + b"".join(struct.pack("<Q", n) for n in arr.shape))
    kind = arr.dtype.kind
    if kind in "fc":
        nan = np.isnan(arr)
        if nan.any() or (arr == 0).any():
            arr = np.where(nan, np.nan, arr + 0.0)  # one NaN bit pattern, and -0.0 becomes 0.0
    if kind in "biufcmM":
        h.update(memoryview(np.ascontiguousarray(arr)).cast("B"))
        return
    if kind in "US":
        arr = arr.astype(object)
    for value in arr.ravel():
        _hash_scalar(h, value)


def _hash_scalar(h: xxhash.xxh3_128, value: Any) -> None:
    if isinstance(value, str):
        h.update(b"s")
        _update_text(h, value)
    elif value is None:
        h.update(b"n")
    elif isinstance(value, bytes):
        h.update(b"b" + struct.pack("<Q", len(value)))
        h.update(value)
    elif isinstance(value, float) and value != value:
        h.update(b"N")
    else:
        h.update(b"r")
        _update_text(h, f"{type(value).__name__}:{value!r}")


def _hash_column(h: xxhash.xxh3_128, series: Any) -> None:
    pd = _pandas()
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        _update_text(h, "category")
        values = series.astype(object).to_numpy()
        for value in values:
            _hash_scalar(h, None if value is pd.NA else value)
        return
    if dtype.kind in "biufcmM" and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        _hash_array(h, series.to_numpy(copy=False))
        return
    _update_text(h, str(dtype))
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        mask = series.isna().to_numpy()
        h.update(memoryview(mask.astype("u1")).cast("B"))
    for value in series.to_numpy(dtype=object):
        _hash_scalar(h, None if value is pd.NA or value is pd.NaT else value)


def _is_default_index(index: Any, n: int) -> bool:
    pd = _pandas()
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1 and len(index) == n


def _table_record(obj: Any) -> dict[str, Any]:
    pd = _pandas()
    frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
    h = xxhash.xxh3_128()
    h.update(b"nbtrack-table-1")
    h.update(struct.pack("<QQ", *frame.shape))
    if not _is_default_index(frame.index, len(frame)):
        h.update(b"index")
        index = frame.index
        for level in range(index.nlevels):
            _hash_column(h, pd.Series(index.get_level_values(level)))
    columns = []
    for position in range(frame.shape[1]):
        name = frame.columns[position]
        column = frame.iloc[:, position]
        _update_text(h, f"{type(name).__name__}:{name}")
        _hash_column(h, column)
        columns.append({"name": str(name), "dtype": str(column.dtype)})
    return {
        "algorithm": ALGORITHM,
        "hash": h.hexdigest(),
        "kind": "series" if isinstance(obj, pd.Series) else "dataframe",
        "shape": list(obj.shape),
        "columns": columns,
    }


def _array_record(arr: Any) -> dict[str, Any]:
    h = xxhash.xxh3_128()
    h.update(b"nbtrack-array-1")
    _hash_array(h, arr)
    return {"algorithm": ALGORITHM, "hash": h.hexdigest(), "kind": "ndarray", "shape": list(arr.shape),
            "dtype": str(arr.dtype)}


def hash_file(path: Path) -> str:
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _file_record(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"algorithm": ALGORITHM, "hash": hash_file(path), "kind": "file", "path": str(path),
            "size": st.st_size, "format": path.suffix.lstrip(".").lower() or None}


def _dir_record(path: Path) -> dict[str, Any]:
    h = xxhash.xxh3_128()
    h.update(b"nbtrack-dir-1")
    count = size = 0
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            file = Path(root) / name
            rel = file.relative_to(path).as_posix()
            _update_text(h, rel)
            h.update(bytes.fromhex(hash_file(file)))
            count += 1
            size += file.stat().st_size
    return {"algorithm": ALGORITHM, "hash": h.hexdigest(), "kind": "directory", "path": str(path),
            "files": count, "size": size}


def fingerprint_data(obj: Any) -> dict[str, Any]:
    """Fingerprint record of a DataFrame, Series, numpy array, file or directory."""
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        if path.is_dir():
            return _dir_record(path)
        if path.is_file():
            return _file_record(path)
        raise FileNotFoundError(f"no file or directory {str(obj)!r} to fingerprint")
    pd = _pandas()
    if pd is not None and isinstance(obj, (pd.DataFrame, pd.Series)):
        return _table_record(obj)
    np = _numpy()
    if np is not None and isinstance(obj, np.ndarray):
        return _array_record(obj)
    raise TypeError(f"cannot fingerprint an object of type {type(obj).__name__}")


_fingerprinter: Callable[[Any], dict[str, Any]] = fingerprint_data


def set_fingerprinter(function: Callable[[Any], dict[str, Any]] | None) -> None:
    """Replace the function runs use to fingerprint inputs (None restores the built-in one)."""
    global _fingerprinter
    _fingerprinter = function or fingerprint_data


def fingerprint(obj: Any) -> dict[str, Any]:
    """Fingerprint ``obj`` with the current fingerprinter."""
    return _fingerprinter(obj)
