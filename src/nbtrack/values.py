"""Turn arbitrary Python values into JSON the store can hold, and back, without silent loss.

Plain JSON values pass through. Values JSON cannot hold are wrapped in a tagged object
``{"__nbtrack__": kind, ...}`` that :func:`decode` turns back into the original value (NaN and
infinities, ints beyond 64 bits, text with lone surrogates, tuples, sets, bytes, datetimes, paths,
numpy scalars and arrays, dicts whose keys are not plain text, including a key named ``__nbtrack__``).
What has no lossless form is stored as a bounded repr (:mod:`nbtrack.reprs`) and reported, so the
caller can warn once in a sentence.

Cost is bounded by what is visited, not by nesting: at most :data:`MAX_VISITS` parts per value, each
container at most :data:`MAX_ARRAY_ITEMS` items, a self-reference is cut where it recurs. Text that is
not a value (names, a run's name, its code) uses :func:`escape_text`: a plain string stays itself,
one that holds lone surrogates (file names read with ``os.listdir``) or starts with :data:`TAG`
gets a prefix and backslash escapes, so every string survives strict UTF-8 JSON and reads back exactly.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import pathlib
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from nbtrack.errors import NbtrackError
from nbtrack.reprs import REPR_LIMIT, REPR_SECONDS, bounded_repr, type_name

TAG = "__nbtrack__"
MAX_VALUE_BYTES = 1_000_000  # one stored value; larger ones are stored as a bounded repr with a warning
MAX_ARRAY_ITEMS = 10_000  # arrays, lists, tuples, sets and dicts above this are stored as a summary
MAX_VISITS = 50_000  # parts of one value visited at most (shared parts count each time they are reached)
INT_BITS = 63  # ints beyond int64 are stored as text
__all__ = [
    "ESCAPED",
    "MAX_ARRAY_ITEMS",
    "MAX_VALUE_BYTES",
    "MAX_VISITS",
    "REPR_LIMIT",
    "TAG",
    "UNREADABLE",
    "Encoder",
    "StoredRepr",
    "decode",
    "encode",
    "escape_text",
    "escape_tree",
    "is_scalar",
    "literal_or_text",
    "printable",
    "repr_record",
    "safe_repr",
    "text_is_plain",
    "to_float",
    "unescape_text",
    "unescape_tree",
]


class _Over(NbtrackError):
    """The value is too big or too shared to store exactly: stored as a summary instead."""


# text -------------------------------------------------------------------------------------------

ESCAPED = TAG + ":"  # the prefix of escaped text
_UNSAFE = re.compile("[\\\\\ud800-\udfff]")
_ESCAPE = re.compile(r"\\(\\|u[0-9a-f]{4})")


def text_is_plain(text: str) -> bool:
    """True when ``text`` goes into strict UTF-8 JSON as itself (no lone surrogates, not escape-like)."""
    return not text.startswith(TAG) and (text.isascii() or _utf8(text))


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _escape_body(text: str) -> str:
    return _UNSAFE.sub(lambda m: "\\\\" if m.group() == "\\" else f"\\u{ord(m.group()):04x}", text)


def _unescape_body(text: str) -> str:
    return _ESCAPE.sub(lambda m: "\\" if m.group(1) == "\\" else chr(int(m.group(1)[1:], 16)), text)


def escape_text(text: str) -> str:
    """``text`` as a string strict UTF-8 JSON holds; :func:`unescape_text` gives it back exactly."""
    return text if text_is_plain(text) else ESCAPED + _escape_body(text)


def unescape_text(text: str) -> str:
    """Inverse of :func:`escape_text` (plain strings come back as they are)."""
    return _unescape_body(text[len(ESCAPED) :]) if text.startswith(ESCAPED) else text


def printable(text: str) -> str:
    """``text`` with lone surrogates shown as ``\\udce9``: for frames and screens, whose text must be UTF-8
    (pandas' Arrow-backed strings refuse surrogates). Records keep the text exactly."""
    return text if text.isascii() or _utf8(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def escape_tree(obj: Any) -> Any:
    """Plain JSON data (dicts, lists, text) with every key and string passed through :func:`escape_text`;
    the very same object when nothing needed it (so checking costs one walk and no copy)."""
    if isinstance(obj, str):
        return escape_text(obj)
    if isinstance(obj, list):
        items = [escape_tree(v) for v in obj]
        return obj if all(a is b for a, b in zip(items, obj, strict=True)) else items
    if isinstance(obj, dict):
        pairs = [(escape_text(k) if isinstance(k, str) else k, escape_tree(v)) for k, v in obj.items()]
        same = all(k is k2 and v is v2 for (k, v), (k2, v2) in zip(pairs, obj.items(), strict=True))
        return obj if same else dict(pairs)
    return obj


def unescape_tree(obj: Any) -> Any:
    """Inverse of :func:`escape_tree` (a copy of the containers)."""
    if isinstance(obj, str):
        return unescape_text(obj)
    if isinstance(obj, list):
        return [unescape_tree(v) for v in obj]
    if isinstance(obj, dict):
        return {unescape_text(k) if isinstance(k, str) else k: unescape_tree(v) for k, v in obj.items()}
    return obj


# encoding ---------------------------------------------------------------------------------------


class Encoder:
    """Encodes values and collects one-line notes about anything it could not keep exactly."""

    def __init__(self, max_visits: int = MAX_VISITS) -> None:
        self.notes: list[str] = []
        self.max_visits = max_visits
        self._visits = 0
        self._size = 0
        self._path: set[int] = set()  # ids of the containers being encoded, to cut self-references
        self._seen: dict[int, tuple[Any, Any, int, int]] = {}  # id -> (value, encoded, visits, size), done
        self._what = "value"
        self._deadline = 0.0  # foreign __repr__ calls of one value share REPR_SECONDS

    def encode(self, value: Any, what: str = "value") -> Any:
        self._visits = self._size = 0
        self._seen = {}
        self._what = what
        self._deadline = time.monotonic() + REPR_SECONDS
        encoded = self._encode_bounded(value, what)
        self.notes = list(dict.fromkeys(self.notes))  # one note per kind of problem
        return encoded

    def _encode_bounded(self, value: Any, what: str) -> Any:
        try:
            encoded = self._encode(value)
            size = _approx_size(encoded) if self._size > MAX_VALUE_BYTES // 4 else self._size
            if size > MAX_VALUE_BYTES:
                raise _Over(f"{what} is {size:,} bytes, over the {MAX_VALUE_BYTES:,}-byte limit: stored truncated")
        except _Over as over:
            self.notes.append(str(over))
            return self._repr(value)
        except RecursionError:
            self.notes.append(f"{what} is nested too deeply: stored as repr")
            return self._repr(value)
        return encoded

    def _repr(self, value: Any) -> dict[str, Any]:
        return repr_record(value, deadline=self._deadline)

    def _grow(self, size: int) -> None:
        self._size += size
        if self._size > MAX_VALUE_BYTES:
            raise _Over(f"{self._what} is over the {MAX_VALUE_BYTES:,}-byte limit: stored truncated")

    def _encode(self, value: Any) -> Any:
        self._visits += 1
        if self._visits > self.max_visits:
            raise _Over(f"{self._what} has more than {self.max_visits:,} parts (counting shared ones): stored cut")
        if isinstance(value, StoredRepr):  # read back from a record: store it as the repr it was
            return {TAG: "repr", "type": value.type_name, "v": escape_text(str(value))}
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            self._grow(len(value) + 2)
            return value if value.isascii() or _utf8(value) else _text(value)
        if isinstance(value, int):
            return self._int(int(value))  # int subclasses (IntEnum...) become plain ints
        if isinstance(value, float):
            self._grow(8)
            if math.isfinite(value):
                return float(value)
            return {TAG: "float", "v": repr(float(value))}  # 'nan', 'inf', '-inf'
        if isinstance(value, (list, tuple, set, frozenset, Mapping)):
            return self._container(value)
        if isinstance(value, (bytes, bytearray)):
            self._grow(len(value) * 4 // 3 + 2)
            return {TAG: "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
        if isinstance(value, _dt.datetime):
            return {TAG: "datetime", "v": value.isoformat()}
        if isinstance(value, _dt.date):
            return {TAG: "date", "v": value.isoformat()}
        if isinstance(value, pathlib.PurePath):
            return {TAG: "path", "v": self._encode(str(value))}
        if isinstance(value, complex):
            return {TAG: "complex", "v": [repr(value.real), repr(value.imag)]}
        numpy_value = self._encode_numpy(value)
        if numpy_value is not NotImplemented:
            return numpy_value
        self.notes.append(f"{self._what} of type {type(value).__name__} has no JSON form: stored as its repr")
        return self._repr(value)

    def _int(self, value: int) -> Any:
        bits = value.bit_length()
        self._grow(bits // 3 + 2)
        if bits <= INT_BITS:
            return value
        if bits <= 10_000:  # decimal text Python reads back (it refuses more than 4,300 digits)
            return {TAG: "int", "v": str(value)}
        return {TAG: "int", "v": format(value, "x"), "base": 16}

    def _container(self, value: Any) -> Any:
        try:
            count = len(value)
        except Exception:
            count = -1
        if count > MAX_ARRAY_ITEMS:
            kind = type(value).__name__
            raise _Over(f"{self._what} is a {kind} of {count:,} items (over {MAX_ARRAY_ITEMS:,}): stored as a summary")
        if id(value) in self._path:
            note = f"{self._what} contains itself: the inner reference is stored as its repr"
            if note not in self.notes:
                self.notes.append(note)
            return {TAG: "repr", "type": type_name(value), "v": "[...]" if isinstance(value, list) else "{...}"}
        seen = self._seen.get(id(value))
        if seen is not None and seen[0] is value:  # a part shared with one already encoded: reuse it, but count
            _, encoded, visits, size = seen  # what it costs
            self._visits += visits
            self._grow(size)
            if self._visits > self.max_visits:
                raise _Over(f"{self._what} has more than {self.max_visits:,} parts (counting shared ones): stored cut")
            return encoded
        visits, size = self._visits, self._size
        self._path.add(id(value))
        try:
            self._grow(2)
            encoded = self._container_items(value)
        finally:
            self._path.discard(id(value))
        self._seen[id(value)] = (value, encoded, self._visits - visits, self._size - size)  # value: kept alive,
        # so a temporary (an array's tolist()) cannot free its id for another one
        return encoded

    def _container_items(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._encode(v) for v in value]
        if isinstance(value, tuple):
            return {TAG: "tuple", "v": [self._encode(v) for v in value]}
        if isinstance(value, (set, frozenset)):
            items = sorted((self._encode(v) for v in value), key=_sort_key)
            if isinstance(value, frozenset):
                return {TAG: "set", "v": items, "frozen": True}
            return {TAG: "set", "v": items}
        return self._mapping(value)

    def _mapping(self, value: Mapping[Any, Any]) -> Any:
        try:
            pairs = list(value.items())
        except Exception:
            self.notes.append(f"{self._what} could not be iterated: stored as repr")
            return self._repr(value)
        if all(isinstance(k, str) and text_is_plain(k) for k, _ in pairs):
            return {k: self._encode(v) for k, v in pairs}
        # keys that are not plain text (ints, tuples, frozensets, surrogates, "__nbtrack__"): pairs, typed
        return {TAG: "dict", "v": [[self._encode(k), self._encode(v)] for k, v in pairs]}

    def _encode_numpy(self, value: Any) -> Any:
        module = type(value).__module__
        if not module.startswith("numpy"):
            return NotImplemented
        import numpy as np

        if isinstance(value, np.generic):
            item = value.item()
            if isinstance(item, (bytes, str, bool, int, float, complex)) or item is None:
                return self._encode(item)
            return NotImplemented
        if isinstance(value, np.ndarray):
            if value.size > MAX_ARRAY_ITEMS:
                raise _Over(
                    f"{self._what} is an array of {value.size:,} items (over {MAX_ARRAY_ITEMS:,}): stored as a summary"
                )
            if value.dtype.kind not in "biufcUSM?":
                self.notes.append(f"{self._what} is an array of dtype {value.dtype}: stored as repr")
                return self._repr(value)
            return {
                TAG: "ndarray",
                "dtype": value.dtype.str,
                "shape": list(value.shape),
                "v": self._encode(value.ravel().tolist()),
            }
        return NotImplemented


def _text(value: str) -> dict[str, Any]:
    return {TAG: "str", "v": _escape_body(value)}


def _sort_key(item: Any) -> str:
    return json.dumps(item, sort_keys=True, ensure_ascii=True)


def _approx_size(encoded: Any) -> int:
    return len(json.dumps(encoded, ensure_ascii=False, separators=(",", ":"), default=str))


def safe_repr(value: Any, limit: int = REPR_LIMIT) -> str:
    """A ``repr`` that never raises, takes bounded time and returns at most about ``limit`` characters."""
    return bounded_repr(value, limit)


def repr_record(value: Any, limit: int = REPR_LIMIT, deadline: float | None = None) -> dict[str, Any]:
    """The tagged record of a value kept only as its (bounded) repr; it reads back as a :class:`StoredRepr`."""
    try:
        size = f"{len(value):,} items: " if isinstance(value, (list, tuple, set, frozenset, dict)) else ""
    except Exception:
        size = ""
    text = size + bounded_repr(value, limit, deadline)
    return {TAG: "repr", "type": escape_text(type_name(value)), "v": escape_text(text)}


_INT_LIMIT = 2**INT_BITS
_PLAIN_TEXT = MAX_VALUE_BYTES // 8  # ASCII text this long stays under the limit however JSON escapes it


def encode(value: Any, what: str = "value") -> tuple[Any, list[str]]:
    """Encode one value; returns the JSON form and the notes about anything not kept exactly."""
    kind = type(value)  # the scalars most params are, which the Encoder returns as they are: no Encoder to make
    if (
        value is None
        or kind is bool
        or (kind is float and math.isfinite(value))
        or (kind is int and -_INT_LIMIT < value < _INT_LIMIT)
        or (kind is str and len(value) <= _PLAIN_TEXT and value.isascii())
    ):
        return value, []
    encoder = Encoder()
    return encoder.encode(value, what), encoder.notes


class StoredRepr(str):
    """A value that could only be kept as its ``repr``; ``.type_name`` says what it was."""

    type_name: str = ""

    def __new__(cls, text: str, type_name: str) -> StoredRepr:
        obj = super().__new__(cls, text)
        obj.type_name = type_name
        return obj


UNREADABLE = "nbtrack.unreadable"  # the type_name of a stored value this release cannot read back


def decode(value: Any, problems: list[str] | None = None) -> Any:
    """Inverse of :func:`encode` for everything that was stored losslessly. Never raises: a tagged value
    that cannot be read back (damaged, or from a newer release) becomes a :class:`StoredRepr` of its JSON,
    typed :data:`UNREADABLE`, and a sentence in ``problems`` when given."""
    if isinstance(value, list):
        return [decode(v, problems) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get(TAG)
    if kind is None:
        return {k: decode(v, problems) for k, v in value.items()}
    try:
        return _decode_tagged(kind, value, problems)
    except Exception as exc:
        text = json.dumps(value, ensure_ascii=True, default=str)[:REPR_LIMIT]
        if problems is not None:
            problems.append(f"a stored {str(kind)[:40]!r} value could not be read back ({type(exc).__name__})")
        return StoredRepr(text, UNREADABLE)


def _decode_tagged(kind: Any, value: dict[str, Any], problems: list[str] | None) -> Any:
    inner: Any = value.get("v")  # its type depends on the tag
    if kind == "str":
        return _unescape_body(inner)
    if kind == "int":
        return int(inner, 16 if value.get("base") == 16 else 10)
    if kind == "float":
        return float(inner)
    if kind == "tuple":
        return tuple(decode(v, problems) for v in inner)
    if kind == "set":
        items = {_hashable(decode(v, problems)) for v in inner}
        return frozenset(items) if value.get("frozen") else items
    if kind == "dict":
        return {_hashable(decode(k, problems)): decode(v, problems) for k, v in inner}
    if kind == "bytes":
        return base64.b64decode(inner)
    if kind == "datetime":
        return _dt.datetime.fromisoformat(inner)
    if kind == "date":
        return _dt.date.fromisoformat(inner)
    if kind == "path":
        return pathlib.Path(decode(inner, problems))
    if kind == "complex":
        return complex(float(inner[0]), float(inner[1]))
    if kind == "ndarray":
        import numpy as np

        return np.array(decode(inner, problems), dtype=np.dtype(value["dtype"])).reshape(value["shape"])
    if kind == "repr":
        return StoredRepr(unescape_text(inner), unescape_text(value.get("type", "")))
    return value


def _hashable(value: Any) -> Any:
    """A decoded dict key or set item that must be hashable: lists as tuples, sets as frozensets."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, set):
        return frozenset(value)  # a set key written before sets recorded "frozen"
    if isinstance(value, dict):
        return StoredRepr(safe_repr(value), "builtins.dict")
    try:
        hash(value)
    except TypeError:
        return StoredRepr(safe_repr(value), type_name(value))
    return value


def to_float(value: Any) -> float:
    """A metric value as a float: ints, floats, bools, numpy scalars, 0-d arrays and tensors."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int) and value.bit_length() > 1023:
        raise OverflowError(f"an int of {value.bit_length():,} bits is beyond the float range metrics are kept in")
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
