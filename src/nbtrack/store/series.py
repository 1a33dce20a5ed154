"""A run's metric series as a compact blob: most of a full run's bytes were one timestamp per point.

The series a run logs is ``{name: {"step": [int], "value": [float | "nan" | "inf" | "-inf"], "time": [float]}}``
(non-finite values are kept as their ``repr``, as ``log_metric`` records them). :func:`encode` stores it as::

    b"NBS2" <4-byte big-endian length of H> H <binary sections>

where ``H`` is the zlib-compressed JSON ``{"t0": first time, "m": [metric, ...]}`` and each metric is
``{"n": name, "c": count, "s": first step (steps consecutive) or [step deltas], "d": [time deltas in ms],
"k": kind}``. Times are kept to the millisecond as offsets from ``t0`` (exact at ``t0``, within 0.5 ms
elsewhere). Values are kept exactly, in one of three forms chosen for that metric: ``"txt"`` (their
JSON text in ``H``, under ``"v"``: short decimals such as 0.9375 or 3.0, whose text compresses better than
their bytes), ``"f4"`` (every value is a float32, as ``loss.item()`` of a float32 tensor gives) or
``"f8"``; the binary forms are a zlib-compressed
section of ``"z"`` bytes, byte-shuffled (every first byte, then every second...) so the exponent bytes
compress together. Non-finite values survive every form.

:func:`decode` reads this and the JSON series blobs of earlier versions into the same dict, so
``Run.series`` and the MLflow mapping read old and new runs alike.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from array import array
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["MAGIC", "decode", "encode", "load"]

MAGIC = b"NBS2"
Series = dict[str, dict[str, list[Any]]]


def _deltas(numbers: list[int]) -> list[int]:
    return [b - a for a, b in zip([0, *numbers], numbers, strict=False)]


def _sums(deltas: list[int]) -> list[int]:
    out, total = [], 0
    for d in deltas:
        total += d
        out.append(total)
    return out


def _shuffle(raw: bytes, width: int) -> bytes:
    return b"".join(raw[i::width] for i in range(width))


def _unshuffle(data: bytes, width: int) -> bytes:
    out = bytearray(len(data))
    n = len(data) // width
    for i in range(width):
        out[i::width] = data[i * n : (i + 1) * n]
    return bytes(out)


def _is_float32(numbers: list[float]) -> bool:
    narrow = array("f", numbers)
    return all(a == b or (a != a and b != b) for a, b in zip(narrow, numbers, strict=True))


def _short(numbers: list[float]) -> bool:
    """Values written with few digits (0.9375, 3.0): their text compresses better than their bytes."""
    sample = numbers[:: max(1, len(numbers) // 16)]
    return sum(map(len, map(repr, sample))) <= 8 * len(sample)


def _values(numbers: list[float], raw: list[Any]) -> tuple[str, Any, bytes]:
    """The smaller exact form of one metric's values: (kind, JSON values or None, binary section)."""
    if _short(numbers):
        return "txt", [v if isinstance(v, str) else float(v) for v in raw], b""
    kind, code, width = ("f4", "f", 4) if _is_float32(numbers) else ("f8", "d", 8)
    return kind, None, zlib.compress(_shuffle(array(code, numbers).tobytes(), width))


def encode(series: Mapping[str, Mapping[str, list[Any]]]) -> bytes:
    """The compact blob of a run's series (see the module docstring)."""
    firsts = [points["time"][0] for points in series.values() if points["time"]]
    t0 = min(firsts) if firsts else 0.0
    metrics: list[dict[str, Any]] = []
    sections: list[bytes] = []
    for name, points in series.items():
        steps = list(map(int, points["step"]))
        count = len(steps)
        entry: dict[str, Any] = {"n": name, "c": count}
        consecutive = count > 0 and steps == list(range(steps[0], steps[0] + count))
        entry["s"] = steps[0] if consecutive else _deltas(steps)
        entry["d"] = _deltas([round((t - t0) * 1000) for t in points["time"]])
        numbers = list(map(float, points["value"]))  # "nan", "inf", "-inf" included
        kind, text, section = _values(numbers, list(points["value"]))
        entry["k"] = kind
        if text is not None:
            entry["v"] = text
        else:
            entry["z"] = len(section)
            sections.append(section)
        metrics.append(entry)
    header = zlib.compress(_json({"t0": t0, "m": metrics}))
    return MAGIC + struct.pack(">I", len(header)) + header + b"".join(sections)


def _json(obj: Any) -> bytes:
    """Compact UTF-8 JSON: orjson (a full run's header, 1,000 time deltas, took json.dumps ~0.3 ms, orjson
    0.02 ms), json where orjson refuses (a step delta beyond 64 bits, text that is not strict UTF-8).
    Either text reads back the same: ``decode`` parses with json."""
    try:
        return orjson.dumps(obj)
    except orjson.JSONEncodeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _finite_or_repr(x: float) -> float | str:
    return x if math.isfinite(x) else repr(x)


def decode(data: bytes) -> Series:
    """A series blob (this format or the JSON of earlier versions) as ``{name: {"step", "value", "time"}}``.

    ``ValueError`` when it is damaged."""
    try:
        return _decode(data)
    except (zlib.error, struct.error, KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"damaged series blob ({type(exc).__name__}: {exc})") from exc


def _decode(data: bytes) -> Series:
    if not data.startswith(MAGIC):
        old = json.loads(data)
        if not isinstance(old, dict):
            raise ValueError("a series blob holds a JSON object")
        return old
    (length,) = struct.unpack(">I", data[4:8])
    header = json.loads(zlib.decompress(data[8 : 8 + length]))
    t0 = float(header["t0"])
    at = 8 + length
    out: Series = {}
    for entry in header["m"]:
        count = int(entry["c"])
        spec = entry["s"]
        steps = list(range(spec, spec + count)) if isinstance(spec, int) else _sums(spec)
        times = [t0 + ms / 1000 for ms in _sums(entry["d"])]
        kind = entry["k"]
        if kind == "txt":
            values = list(entry["v"])
        else:
            width, code = (4, "f") if kind == "f4" else (8, "d")
            raw = _unshuffle(zlib.decompress(data[at : at + entry["z"]]), width)
            at += entry["z"]
            values = [_finite_or_repr(x) for x in array(code, raw)]
        if not (len(steps) == len(times) == len(values) == count):
            raise ValueError(f"series blob: metric {entry['n']!r} has inconsistent lengths")
        out[entry["n"]] = {"step": steps, "value": values, "time": times}
    return out


def load(store: Any, digest: str) -> Series:
    """The series blob ``digest`` of ``store`` (anything with ``get_blob``), decoded."""
    return decode(store.get_blob(digest))
