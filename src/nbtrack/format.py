"""How nbtrack writes numbers, sizes, durations, times and statuses for people: one place, so the panel, the
CLI, the cell summary, comparisons and push/pull reports agree (and the sidebar's TypeScript mirrors it).

- :func:`number`: integers exactly, other reals to 4 significant digits (``digits``), ``inf``/``-inf``,
  a dash for missing values;
- :func:`size`: bytes in decimal units (``912 B``, ``1.5 MB``), as file managers and MLflow show them;
- :func:`duration`: ``0.52 s``, ``3m 04.1s``, ``2h 05m``;
- :func:`timestamp`: local time as ``2024-05-01 14:30:00`` (:data:`TIME_FORMAT`);
- :func:`status_label`, :data:`STATUS_COLORS`, :data:`STATUS_ICONS`: one colour and one icon per run status.

Only the standard library: this module is imported by code that must stay light.
"""

from __future__ import annotations

import math
import numbers
import time
from typing import Any

MISSING = "–"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
STATUS_COLORS = {
    "finished": "#1a7f37",
    "failed": "#cf222e",
    "interrupted": "#9a6700",
    "running": "#0969da",
    "abandoned": "#57606a",
}
STATUS_ICONS = {"finished": "✓", "failed": "✗", "interrupted": "■", "running": "…", "abandoned": "?"}
NEUTRAL_COLOR = "#57606a"


def is_missing(value: Any) -> bool:
    """None or a float NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: Any, digits: int = 4, missing: str = MISSING) -> str:
    """A number for a table cell or a sentence: ``3``, ``0.1235``, ``1.235e+06``, ``inf``; ``missing`` for
    None and NaN; anything that is not a number as ``str``."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if value is None:
        return missing
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return missing
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def size(nbytes: Any) -> str:
    """A byte count in decimal units: ``912 B``, ``1.5 KB``, ``3.2 MB``, ``1,204.0 GB``; ``?`` when unknown."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, (int, float)):
        return "?"
    amount = float(nbytes)
    for unit in ("B", "KB", "MB"):
        if amount < 1000:
            return f"{amount:,.0f} {unit}" if unit == "B" else f"{amount:,.1f} {unit}"
        amount /= 1000
    return f"{amount:,.1f} GB"


def duration(seconds: Any) -> str:
    """Seconds as ``0.52 s`` (under a minute), ``3m 04.1s`` (under an hour) or ``2h 05m``."""
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return str(seconds)
    if math.isnan(s):
        return MISSING
    if s < 60:
        return f"{s:.2f} s"
    if s < 3600:
        return f"{int(s // 60)}m {s % 60:04.1f}s"
    return f"{int(s // 3600)}h {int(s % 3600 // 60):02d}m"


def timestamp(value: Any) -> str:
    """Seconds since the epoch, a ``datetime`` or a pandas ``Timestamp`` as local time (:data:`TIME_FORMAT`)."""
    try:
        seconds = float(value) if isinstance(value, (int, float)) else value.timestamp()
        return time.strftime(TIME_FORMAT, time.localtime(seconds))
    except (AttributeError, OverflowError, ValueError, OSError, TypeError):
        return str(value)


def status_color(status: Any) -> str:
    return STATUS_COLORS.get(str(status), NEUTRAL_COLOR)


def status_label(status: Any) -> str:
    """``✓ finished``, ``✗ failed``...: the status with its icon."""
    icon = STATUS_ICONS.get(str(status))
    return f"{icon} {status}" if icon else str(status)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending with ``…`` when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
