"""Turn arbitrary Python values into JSON the store can hold, and back, without silent loss.

Plain JSON values pass through. Values JSON cannot hold are wrapped in a tagged object
``{"__nbtrack__": kind, ...}`` that :func:`decode` turns back into the original value (NaN and
infinities, tuples, sets, bytes, datetimes, paths, numpy scalars and arrays, dicts whose keys are not
strings). What has no lossless form is stored as a truncated ``repr`` and reported, so the caller can
warn once in a sentence.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import math
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

TAG = "__nbtrack__"
MAX_VALUE_BYTES = 1_000_000  # one stored value; larger ones are truncated with a warning
MAX_ARRAY_ITEMS = 10_000  # arrays above this are stored as a summary repr
MAX_DEPTH = 50
REPR_LIMIT = 1_000


class Encoder:
    """Encodes values and collects one-line notes about anything it could not keep exactly."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def encode(self, value: Any, what: str = "value") -> Any:
        encoded = self._encode(value, what, 0)
        size = _approx_size(encoded)
        if size > MAX_VALUE_BYTES:
            self.notes.append(f"{what} is {size:,} bytes, over the {MAX_VALUE_BYTES:,}-byte limit: stored truncated")
            return _repr_record(value, limit=REPR_LIMIT)
        return encoded

    def _encode(self, value: Any, what: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            self.notes.append(f"{what} is nested deeper than {MAX_DEPTH} levels: stored as repr")
            return _repr_record(value)
        if isinstance(value, StoredRepr):  # read back from a record: store it as the repr it was
            return {TAG: "repr", "type": value.type_name, "v": str(value)}
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return int(value)  # int subclasses (IntEnum...) become plain ints
        if isinstance(value, float):
            if math.isfinite(value):
                return float(value)
            return {TAG: "float", "v": repr(float(value))}  # 'nan', 'inf', '-inf'
        if isinstance(value, (list, tuple)):
            items = [self._encode(v, what, depth + 1) for v in value]
            if isinstance(value, list):
                return items
            return {TAG: "tuple", "v": items}
        if isinstance(value, (set, frozenset)):
            items = [self._encode(v, what, depth + 1) for v in value]
            with contextlib.suppress(TypeError):
                items.sort(key=_sort_key)
            return {TAG: "set", "v": items}
        if isinstance(value, Mapping):
            try:
                keys_are_text = all(isinstance(k, str) for k in value)
                pairs = list(value.items())
            except Exception:
                self.notes.append(f"{what} could not be iterated: stored as repr")
                return _repr_record(value)
            if keys_are_text and TAG not in value:
                return {k: self._encode(v, what, depth + 1) for k, v in pairs}
            return {
                TAG: "dict",
                "v": [[self._encode(k, what, depth + 1), self._encode(v, what, depth + 1)] for k, v in pairs],
            }
        if isinstance(value, (bytes, bytearray)):
            return {TAG: "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
        if isinstance(value, _dt.datetime):
            return {TAG: "datetime", "v": value.isoformat()}
        if isinstance(value, _dt.date):
            return {TAG: "date", "v": value.isoformat()}
        if isinstance(value, pathlib.PurePath):
            return {TAG: "path", "v": str(value)}
        if isinstance(value, complex):
            return {TAG: "complex", "v": [repr(value.real), repr(value.imag)]}
        numpy_value = self._encode_numpy(value, what, depth)
        if numpy_value is not NotImplemented:
            return numpy_value
        self.notes.append(f"{what} of type {type(value).__name__} has no JSON form: stored as its repr")
        return _repr_record(value)

    def _encode_numpy(self, value: Any, what: str, depth: int) -> Any:
        module = type(value).__module__
        if not module.startswith("numpy"):
            return NotImplemented
        import numpy as np

        if isinstance(value, np.generic):
            item = value.item()
            if isinstance(item, (bytes, str, bool, int, float, complex)) or item is None:
                return self._encode(item, what, depth + 1)
            return NotImplemented
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biufcUSM?" or value.size > MAX_ARRAY_ITEMS:
                if value.size > MAX_ARRAY_ITEMS:
                    self.notes.append(
                        f"{what} is an array of {value.size:,} items (over {MAX_ARRAY_ITEMS:,}): stored as a summary"
                    )
                else:
                    self.notes.append(f"{what} is an array of dtype {value.dtype}: stored as repr")
                return _repr_record(value)
            return {
                TAG: "ndarray",
                "dtype": value.dtype.str,
                "shape": list(value.shape),
                "v": self._encode(value.ravel().tolist(), what, depth + 1),
            }
        return NotImplemented


def _sort_key(item: Any) -> tuple[str, str]:
    return (type(item).__name__, repr(item))


def _approx_size(encoded: Any) -> int:
    import json

    return len(json.dumps(encoded, ensure_ascii=False, separators=(",", ":"), default=str))


def safe_repr(value: Any, limit: int = REPR_LIMIT) -> str:
    """``repr`` that never raises and never returns more than ``limit`` characters."""
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break tracking
        text = f"<{type(value).__name__} object; repr failed: {type(exc).__name__}>"
    if not isinstance(text, str):
        text = f"<{type(value).__name__} object>"
    if len(text) > limit:
        text = text[:limit] + f"... [{len(text) - limit:,} more characters]"
    return text


def _repr_record(value: Any, limit: int = REPR_LIMIT) -> dict[str, Any]:
    return {TAG: "repr", "type": f"{type(value).__module__}.{type(value).__qualname__}", "v": safe_repr(value, limit)}


def encode(value: Any, what: str = "value") -> tuple[Any, list[str]]:
    """Encode one value; returns the JSON form and the notes about anything not kept exactly."""
    encoder = Encoder()
    return encoder.encode(value, what), encoder.notes


class StoredRepr(str):
    """A value that could only be kept as its ``repr``; ``.type_name`` says what it was."""

    type_name: str = ""

    def __new__(cls, text: str, type_name: str) -> StoredRepr:
        obj = super().__new__(cls, text)
        obj.type_name = type_name
        return obj


def decode(value: Any) -> Any:
    """Inverse of :func:`encode` for everything that was stored losslessly."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(TAG)
    if kind is None:
        return {k: decode(v) for k, v in value.items()}
    inner: Any = value.get("v")  # its type depends on the tag
    if kind == "float":
        return float(inner)
    if kind == "tuple":
        return tuple(decode(v) for v in inner)
    if kind == "set":
        return {_hashable(decode(v)) for v in inner}
    if kind == "dict":
        return {_hashable(decode(k)): decode(v) for k, v in inner}
    if kind == "bytes":
        return base64.b64decode(inner)
    if kind == "datetime":
        return _dt.datetime.fromisoformat(inner)
    if kind == "date":
        return _dt.date.fromisoformat(inner)
    if kind == "path":
        return pathlib.Path(inner)
    if kind == "complex":
        return complex(float(inner[0]), float(inner[1]))
    if kind == "ndarray":
        import numpy as np

        return np.array(decode(inner), dtype=np.dtype(value["dtype"])).reshape(value["shape"])
    if kind == "repr":
        return StoredRepr(inner, value.get("type", ""))
    return value


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def to_float(value: Any) -> float:
    """A metric value as a float: ints, floats, bools, numpy scalars, 0-d arrays and tensors."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item):
        try:
            value = item()
        except Exception as exc:
            raise TypeError(f"metric value of type {type(value).__name__} is not a single number") from exc
        if isinstance(value, (int, float, bool)):
            return float(value)
    raise TypeError(f"metric value must be a number, not {type(value).__name__}")


def is_scalar(value: Any) -> bool:
    """A number, text, a bool or None."""
    return value is None or isinstance(value, (int, float, str, bool))


def literal_or_text(text: str, accept: Callable[[Any], bool] | None = None) -> Any:
    """What someone typed as a value (``--param lr=0.1``, a tag in the panel, a script argument, a param
    MLflow stores as text): the Python literal it spells, else the text itself.

    ``accept`` narrows the literals kept (e.g. :func:`is_scalar`); a literal it refuses stays text. Parsing
    uses ``ast.literal_eval``, so nothing is ever executed.
    """
    import ast

    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return value if accept is None or accept(value) else text
