"""Content fingerprints of the data a run used: tables, arrays, files and directories.

``nbtrack.fingerprint(obj)`` returns a :class:`Fingerprint`: a small record with the algorithm name, a
128-bit content hash (``.hash``, 32 lowercase hex digits), the kind, the shape or size and, for tables,
the columns with their logical types. ``profile=True`` adds a statistical profile (see
:mod:`nbtrack.data.profiling`); runs record both.

How each kind is hashed is specified in :mod:`nbtrack.data.encoding` (columns) and
:mod:`nbtrack.data.hashing` (tables, arrays, files, directories); :mod:`nbtrack.data.file_cache` keeps file
hashes, :mod:`nbtrack.data.formats` tells file formats apart.

:func:`fingerprint_data` is what tracking calls; :func:`set_fingerprinter` replaces it.
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import xxhash

from nbtrack.data import profiling
from nbtrack.data.encoding import ALGORITHM, loaded_numpy, loaded_pandas
from nbtrack.data.hashing import array_record, canonical_row_order, dir_record, file_record, table_record

__all__ = ["ALGORITHM", "Fingerprint", "fingerprint", "fingerprint_data", "is_data", "set_fingerprinter"]

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


def is_data(obj: Any) -> bool:
    """True for objects that are fingerprinted as inputs: DataFrames, Series and numpy arrays."""
    module = type(obj).__module__
    if module.startswith("pandas"):
        pd = loaded_pandas()
        return pd is not None and isinstance(obj, (pd.DataFrame, pd.Series))
    if module == "numpy":
        np = loaded_numpy()
        return np is not None and isinstance(obj, np.ndarray)
    return False


# the entry points -------------------------------------------------------------------------------

_profile_lock = threading.Lock()
_profile_cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
_PROFILE_CACHE_ENTRIES = 64


def _with_profile(record: dict[str, Any], obj: Any) -> dict[str, Any]:
    """Add the profile, reusing the one computed for the same content in this process."""

    key = f"{record['kind']}:{record.get('format')}:{record['hash']}"
    with _profile_lock:
        cached = _profile_cache.get(key)
        if cached is not None:
            _profile_cache.move_to_end(key)
    if cached is None:
        cached = _plain(profiling.profile(obj, record))
        with _profile_lock:
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
            record = dir_record(path)
        elif path.is_file():
            record = file_record(path)
        else:
            raise FileNotFoundError(f"no file or directory {str(obj)!r} to fingerprint")
        target: Any = path
    else:
        pd = loaded_pandas()
        np = loaded_numpy()
        if pd is not None and isinstance(obj, (pd.DataFrame, pd.Series, pd.Index)):
            record = table_record(obj, order_insensitive)
        elif np is not None and isinstance(obj, np.ndarray):
            if order_insensitive and obj.ndim >= 1 and len(obj) > 1:
                import pandas

                rows = obj.reshape(len(obj), -1)
                order = canonical_row_order([pandas.Series(rows[:, i]) for i in range(rows.shape[1])], len(obj))
                obj = obj[order]
                record = array_record(obj)
                record["hash"] = xxhash.xxh3_128(b"unordered:" + bytes.fromhex(record["hash"])).hexdigest()
                record["order_insensitive"] = True
            else:
                record = array_record(obj)
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
