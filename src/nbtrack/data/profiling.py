"""Profiles stored with fingerprints: small statistical summaries that checks compare between runs.

A table's profile holds the row count and, per column, its logical type and null count, plus:

- numeric columns: ``mean``, ``std`` (ddof=1), ``min``, ``max`` over the finite values (``infinite``
  counts the others), and ``q``: quantiles at evenly spaced probabilities ``i / (len(q) - 1)`` (101 of
  them, 21 for tables wider than 100 columns). Quantiles are exact up to 262,144 values and computed on
  a fixed-seed random sample of that many values beyond (``sample`` then says so); the extremes are
  exact. From ``q`` checks compute Wasserstein distances without the raw data.
- string, categorical, boolean and object columns: ``distinct`` (exact cardinality) and ``top``: the
  20 most frequent values (5 for wide tables) with their counts, values cut at 64 characters.
- datetime and timedelta columns: ``min`` and ``max``.

About 1.3 KB per numeric column as JSON, less for the others; at most 500 columns are profiled
(``truncated`` counts the others). A file's profile holds its detected format, size and, for tabular
formats, the parsed schema (Parquet, ORC and Arrow from their metadata, CSV/TSV/JSON lines from their
first 1,000 rows, NPY from its header).
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from nbtrack.data.encoding import arrow_chunks, is_arrow_string, logical_type
from nbtrack.data.file_cache import walk_files
from nbtrack.data.formats import detect_format
from nbtrack.data.hashing import table_columns

QUANTILES = 101
COMPACT_QUANTILES = 21
TOP_VALUES = 20
COMPACT_TOP_VALUES = 5
COMPACT_AFTER = 100  # columns
MAX_COLUMNS = 500
SAMPLE = 1 << 18  # 262,144 values: quantiles within about 0.1% in rank
MAX_VALUE_CHARS = 64
SCHEMA_ROWS = 1000
PARALLEL_CELLS = 2_000_000  # profile columns in threads past this many cells

NUMERIC_TYPES = frozenset(
    [f"int{bits}" for bits in (8, 16, 32, 64)]
    + [f"uint{bits}" for bits in (8, 16, 32, 64)]
    + ["float16", "float32", "float64"]
)


def is_numeric_type(ltype: str | None) -> bool:
    return ltype in NUMERIC_TYPES


def is_categorical_type(ltype: str | None) -> bool:
    if not ltype:
        return False
    return ltype in ("string", "bool", "object") or ltype.startswith("category")


def _round(x: float) -> float:
    return float(f"{x:.7g}") + 0.0  # + 0.0: no -0.0


def _cut(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


# numeric ----------------------------------------------------------------------------------------


def numeric_values(values: Any) -> tuple[Any, int]:
    """(non-missing values as a numpy array, null count)."""
    import numpy as np
    import pandas as pd

    dtype = values.dtype
    if isinstance(dtype, np.dtype):
        arr = np.asarray(values)
        if arr.dtype.kind == "f" and len(arr) and np.isnan(arr.min()):
            keep = ~np.isnan(arr)
            return arr[keep], int(len(arr) - np.count_nonzero(keep))
        return arr, 0
    series = pd.Series(values, copy=False)
    present = series.dropna()
    return present.to_numpy(dtype=dtype.numpy_dtype), int(len(series) - len(present))


_positions: dict[int, Any] = {}
_positions_lock = threading.Lock()


def _sample_positions(n: int) -> Any:
    """SAMPLE sorted positions in range(n), drawn with a fixed seed (shared by the columns of a table)."""
    import numpy as np

    with _positions_lock:
        positions = _positions.get(n)
        if positions is None:
            if len(_positions) >= 4:
                _positions.clear()
            positions = _positions[n] = np.sort(np.random.default_rng(0).integers(0, n, SAMPLE))
        return positions


def _moments(arr: Any, block: int = 1 << 18) -> tuple[float, float]:
    """(mean, std with ddof=1) in one cache-friendly pass: per-block moments combined (Chan et al.)."""
    import numpy as np

    count, mean, m2 = 0, 0.0, 0.0
    for start in range(0, len(arr), block):
        part = arr[start : start + block].astype(np.float64, copy=False)
        k = len(part)
        part_mean = float(part.mean())
        deviations = part - part_mean
        np.multiply(deviations, deviations, out=deviations)  # not a BLAS dot: no extra threads
        part_m2 = float(deviations.sum())
        total = count + k
        delta = part_mean - mean
        mean += delta * k / total
        m2 += part_m2 + delta * delta * count * k / total
        count = total
    return mean, (m2 / (count - 1)) ** 0.5 if count > 1 else 0.0


def _numeric_profile(values: Any, quantiles: int) -> dict[str, Any]:
    import numpy as np

    arr, nulls = numeric_values(values)
    out: dict[str, Any] = {"nulls": nulls}
    if len(arr) == 0:
        return out
    lo, hi = arr.min(), arr.max()
    if arr.dtype.kind == "f" and not (np.isfinite(lo) and np.isfinite(hi)):
        finite = np.isfinite(arr)
        out["infinite"] = int(len(arr) - np.count_nonzero(finite))
        arr = arr[finite]
        if len(arr) == 0:
            return out
        lo, hi = arr.min(), arr.max()
    as_float = arr.dtype.kind == "f"
    mean, std = _moments(arr)
    out["mean"] = mean
    out["std"] = std
    out["min"] = float(lo) + 0.0 if as_float else int(lo)
    out["max"] = float(hi) + 0.0 if as_float else int(hi)
    sample = arr
    if len(arr) > SAMPLE:
        sample = arr[_sample_positions(len(arr))]
        out["sample"] = SAMPLE
    q = np.quantile(sample.astype(np.float64, copy=False), np.linspace(0.0, 1.0, quantiles))
    q[0], q[-1] = float(lo), float(hi)  # the extremes are known exactly
    out["q"] = [_round(x) for x in q.tolist()]
    return out


# categorical ------------------------------------------------------------------------------------


def _top_indices(counts: Any, k: int) -> list[int]:
    """Positions of the k largest counts, largest first (ties: first position first)."""
    import numpy as np

    counts = np.asarray(counts)
    chosen = np.argpartition(-counts, k)[:k] if len(counts) > k else np.arange(len(counts))
    return sorted(chosen.tolist(), key=lambda i: (-int(counts[i]), i))


def _top(keys: list[Any], counts: Any, k: int) -> list[list[Any]]:
    return [[_cut(keys[i]), int(counts[i])] for i in _top_indices(counts, k)]


def _arrow_value_counts(values: Any) -> tuple[Any, Any, int, int] | None:
    """(top candidate keys, counts, distinct, nulls) of a string column through pyarrow, or None."""

    chunks = arrow_chunks(values)
    if chunks is None:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    data = pa.chunked_array(chunks, type=chunks[0].type) if chunks else pa.chunked_array([], pa.large_string())
    nulls = int(data.null_count)
    counted = pc.value_counts(data)
    keys = counted.field("values")
    counts = counted.field("counts").to_numpy(zero_copy_only=False)
    if keys.null_count:
        valid = keys.is_valid()
        keys = keys.filter(valid)
        counts = counts[valid.to_numpy(zero_copy_only=False)]
    return keys, counts, len(counts), nulls


def _categorical_profile(values: Any, ltype: str, top: int) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    if ltype.startswith("category"):
        cat = values.array if hasattr(values, "array") else pd.Categorical(values)
        codes = np.asarray(cat.codes)
        present = codes[codes >= 0]
        counts = np.bincount(present, minlength=len(cat.categories))
        used = np.flatnonzero(counts)
        keys = [cat.categories[i] for i in used]
        return {"nulls": int(len(codes) - len(present)), "distinct": len(used), "top": _top(keys, counts[used], top)}
    if ltype == "bool":
        series = pd.Series(values, copy=False)
        present = series.dropna().to_numpy(dtype=bool)
        trues = int(np.count_nonzero(present))
        pairs = [(key, count) for key, count in (("True", trues), ("False", len(present) - trues)) if count]
        top_values = [[key, count] for key, count in sorted(pairs, key=lambda pair: -pair[1])]
        return {"nulls": int(len(series) - len(present)), "distinct": len(pairs), "top": top_values}
    if ltype == "string":
        counted = _arrow_value_counts(values.array if hasattr(values, "array") else values)
        if counted is not None:
            keys, counts, distinct, nulls = counted
            chosen = _top_indices(counts, top)
            taken = keys.take(chosen).to_pylist() if chosen else []
            return {
                "nulls": nulls,
                "distinct": distinct,
                "top": [[_cut(key), int(counts[i])] for key, i in zip(taken, chosen, strict=True)],
            }
    series = pd.Series(np.asarray(values, dtype=object), copy=False)
    nulls = int(series.isna().sum())
    try:
        counts = series.value_counts(dropna=True, sort=False)
    except TypeError:  # unhashable values
        counts = series.dropna().map(repr).value_counts(sort=False)
    return {"nulls": nulls, "distinct": len(counts), "top": _top(list(counts.index), counts.to_numpy(), top)}


def _temporal_profile(values: Any) -> dict[str, Any]:
    import pandas as pd

    series = pd.Series(values, copy=False)
    present = series.dropna()
    out: dict[str, Any] = {"nulls": int(len(series) - len(present))}
    if len(present):
        out["min"] = str(present.min())
        out["max"] = str(present.max())
    return out


def column_profile(name: Any, values: Any, ltype: str | None = None, *, compact: bool = False) -> dict[str, Any]:
    """The profile of one column (a Series, Index or 1-D array)."""
    import numpy as np
    import pandas as pd

    ltype = ltype or logical_type(values)
    out: dict[str, Any] = {"name": None if name is None else str(name), "type": ltype}
    if is_numeric_type(ltype) and ltype != "float16":
        out.update(_numeric_profile(values, COMPACT_QUANTILES if compact else QUANTILES))
    elif ltype == "float16":
        out.update(_numeric_profile(np.asarray(values, dtype=np.float32), COMPACT_QUANTILES if compact else QUANTILES))
    elif is_categorical_type(ltype):
        out.update(_categorical_profile(values, ltype, COMPACT_TOP_VALUES if compact else TOP_VALUES))
    elif ltype.startswith(("datetime", "timedelta")):
        out.update(_temporal_profile(values))
    else:
        with contextlib.suppress(TypeError, ValueError):  # e.g. numpy structured values have no nulls
            out["nulls"] = int(pd.isna(np.asarray(values, dtype=object)).sum())
    return out


# tables, arrays, files --------------------------------------------------------------------------


def table_profile(names: list[Any], columns: list[Any], types: list[str | None], rows: int) -> dict[str, Any]:
    total = len(columns)
    count = min(total, MAX_COLUMNS)
    compact = total > COMPACT_AFTER

    def one(i: int) -> dict[str, Any]:
        return column_profile(names[i], columns[i], types[i], compact=compact)

    workers = min(count, os.cpu_count() or 1, 4)
    if workers > 1 and rows * count >= PARALLEL_CELLS:
        # numpy and pyarrow release the GIL; the slow (hash-table) columns start first
        order = sorted(range(count), key=lambda i: not is_categorical_type(types[i] or "object"))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nbtrack-profile") as pool:
            done = dict(zip(order, pool.map(one, order), strict=True))
        profiles = [done[i] for i in range(count)]
    else:
        profiles = [one(i) for i in range(count)]
    out: dict[str, Any] = {"rows": rows, "columns": profiles}
    if total > count:
        out["truncated"] = total - count
    return out


def _array_profile(arr: Any) -> dict[str, Any]:
    import numpy as np

    if arr.ndim == 1:
        return table_profile(["values"], [arr], [None], len(arr))
    if arr.ndim == 2 and arr.shape[1] <= MAX_COLUMNS:
        columns = [np.ascontiguousarray(arr[:, i]) for i in range(arr.shape[1])]
        return table_profile(list(range(arr.shape[1])), columns, [None] * arr.shape[1], arr.shape[0])
    flat = arr.reshape(-1)
    out = table_profile(["*"], [flat], [None], len(flat))
    out["flattened"] = True
    return out


def _arrow_type_name(t: Any) -> str:
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return f"{'u' if pa.types.is_unsigned_integer(t) else ''}int{t.bit_width}"
    if pa.types.is_floating(t):
        return f"float{t.bit_width}"
    if is_arrow_string(pa, t):
        return "string"
    if pa.types.is_timestamp(t):
        return f"datetime[{t.tz}]" if t.tz else "datetime"
    if pa.types.is_duration(t):
        return "timedelta"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_dictionary(t):
        return f"category[{_arrow_type_name(t.value_type)}{', ordered' if t.ordered else ''}]"
    return str(t)


def _arrow_schema(schema: Any) -> list[dict[str, Any]]:
    return [{"name": field.name, "type": _arrow_type_name(field.type)} for field in schema]


def _frame_schema(frame: Any) -> list[dict[str, Any]]:

    return [{"name": str(name), "type": logical_type(frame.iloc[:, i])} for i, name in enumerate(frame.columns)]


def file_schema(path: Path, fmt: str, compression: str | None = None) -> dict[str, Any] | None:
    """The parsed schema of a tabular file: {"columns": [...], "rows"?: n, "from": how}."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        meta = pq.read_metadata(path)
        return {"columns": _arrow_schema(meta.schema.to_arrow_schema()), "rows": meta.num_rows, "from": "metadata"}
    if fmt == "feather":
        import pyarrow as pa

        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_file(source)
            rows = sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
            return {"columns": _arrow_schema(reader.schema), "rows": rows, "from": "metadata"}
    if fmt == "orc":
        from pyarrow import orc

        reader = orc.ORCFile(str(path))
        return {"columns": _arrow_schema(reader.schema), "rows": reader.nrows, "from": "metadata"}
    if fmt in ("csv", "tsv"):
        import pandas as pd

        sep = "\t" if fmt == "tsv" else ","
        frame = pd.read_csv(path, nrows=SCHEMA_ROWS, sep=sep, compression=compression or "infer")
        if frame.shape[1] == 1 and ";" in str(frame.columns[0]):  # a semicolon-separated file
            frame = pd.read_csv(path, nrows=SCHEMA_ROWS, sep=";", compression=compression or "infer")
        return {"columns": _frame_schema(frame), "from": f"first {SCHEMA_ROWS} rows"}
    if fmt == "jsonl":
        import pandas as pd

        frame = pd.read_json(path, lines=True, nrows=SCHEMA_ROWS, compression=compression or "infer")
        return {"columns": _frame_schema(frame), "from": f"first {SCHEMA_ROWS} rows"}
    if fmt == "npy" and compression is None:
        import numpy as np

        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = reader(f)
        return {"dtype": str(dtype), "shape": list(shape), "fortran_order": bool(fortran), "from": "header"}
    return None


def _file_profile(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"format": record.get("format"), "size": record.get("size")}
    if record.get("compression"):
        out["compression"] = record["compression"]
    try:
        schema = file_schema(path, record.get("format") or "", record.get("compression"))
    except Exception as exc:  # unreadable, or the reader's library is missing
        out["schema_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    else:
        if schema is not None:
            out["schema"] = schema
    return out


def _dir_profile(path: Path, record: dict[str, Any]) -> dict[str, Any]:

    formats: dict[str, int] = {}
    for _, file, _ in walk_files(path)[:1000]:
        fmt = detect_format(file)[0]
        formats[fmt] = formats.get(fmt, 0) + 1
    return {"files": record.get("files"), "size": record.get("size"), "formats": formats}


def profile(obj: Any, record: dict[str, Any]) -> dict[str, Any]:
    """The profile of ``obj`` whose fingerprint record is ``record``."""
    kind = record.get("kind")
    if kind == "file":
        return _file_profile(Path(obj), record)
    if kind == "directory":
        return _dir_profile(Path(obj), record)
    if kind == "ndarray":
        return _array_profile(obj)

    _, _, names, columns = table_columns(obj)
    types = [c.get("type") for c in record.get("columns", [])]
    types += [None] * (len(columns) - len(types))
    return table_profile(names, columns, types, len(obj))
