"""Typed group keys: param values as configuration keys and labels.

``depth=3`` and ``depth='3'`` are different settings with different labels (a string that reads as a number,
bool, None or ``<missing>`` is quoted); ``3`` and ``3.0`` are one setting; ``True`` is not ``1``; a param a run
did not record is :data:`MISSING`, distinct from an explicit ``None``.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_DERIVED = ("framework", "framework-default", "call")  # sources a param may repeat an inline one from


class Missing:
    """The value of a param a run did not record: distinct from an explicit None, shown as ``<missing>``."""

    _instance: Missing | None = None

    def __new__(cls) -> Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<missing>"


MISSING = Missing()


def norm_value(value: Any) -> Any:
    """A value usable as a dict key; NaN and None become None (seed keys, data sets, data hashes)."""
    if value is None:
        return None
    try:
        if isinstance(value, float) and math.isnan(value):
            return None
    except TypeError:
        pass
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            value = value.item()
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def param_value(value: Any) -> Any:
    """A param value as a group key: NaN (a frame's hole) is :data:`MISSING`, None stays None."""
    if isinstance(value, float) and math.isnan(value):
        return MISSING
    return norm_value(value)


def value_identity(value: Any) -> tuple[str, Any]:
    """What makes two param values the same setting: the value and its kind (3 == 3.0, '3' != 3, True != 1)."""
    if value is MISSING:
        return ("missing", None)
    if value is None:
        return ("none", None)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    if isinstance(value, str):
        return ("str", value)
    return (type(value).__name__, value)


_LOOKS_TYPED = re.compile(
    r"^\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|nan|inf|-inf|true|false|none|null|<missing>)\s*$", re.I
)


def format_value(value: Any) -> str:
    """A param value in a label: strings that read as another type are quoted (``'3'``), floats keep a point."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    if isinstance(value, str) and (_LOOKS_TYPED.match(value) or value != value.strip() or not value):
        return repr(value)
    return str(value)


def sort_key(value: Any) -> tuple[Any, ...]:
    if value is MISSING:
        return (3, 0.0, "")
    if value is None:
        return (2, 0.0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, f"{type(value).__name__}:{value}")


def group_label(names: Sequence[str], key: tuple[Any, ...]) -> str:
    if not names:
        return "all"
    return ", ".join(f"{n}={format_value(v)}" for n, v in zip(names, key, strict=True))


def parse_value(text: str) -> Any:
    """A value as a label writes it: ``3`` an int, ``0.1`` a float, ``'3'`` a string, ``None``, ``<missing>``."""
    t = text.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1]
    lowered = t.lower()
    if lowered == "<missing>":
        return MISSING
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(t)
    return t


def short_name(name: str) -> str:
    """The argument a derived param names: ``C`` for ``clf.C``, ``LogisticRegression.C`` and ``pipe.lr__C``."""
    return name.rsplit(".", 1)[-1].rsplit("__", 1)[-1]


def key_params(names: Sequence[str], sources: Iterable[Mapping[str, str] | None]) -> list[str]:
    """The params of ``names`` that make the default group key, given each run's ``param_sources`` (see the
    module docstring)."""
    per_run = [s for s in sources if s]
    if not per_run:
        return list(names)
    kept = []
    for name in names:
        seen = [s for s in per_run if name in s]
        if seen and (all(s[name] == "framework-default" for s in seen) or all(_repeats_inline(name, s) for s in seen)):
            continue
        kept.append(name)
    return kept


def _repeats_inline(name: str, sources: Mapping[str, str]) -> bool:
    short = short_name(name)
    return (
        short != name and sources[name] in _DERIVED and short in sources and not sources[short].startswith("framework")
    )
