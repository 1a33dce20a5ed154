"""What the sidebar's list of runs needs beside the page of runs: a notebook's runs by its own id, and sparklines.

A notebook is named by its id (``metadata.nbtrack.id``, recorded on each run as ``notebook_id``) and by its
current file name: its runs are those with its id, and, for runs recorded before ids existed (no
``notebook_id``), those of the experiment its file name names. A sparkline is one metric's per-step series of a
run, downsampled here to at most :data:`SPARK_POINTS` values so a page of 50 runs stays small.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from nbtrack import values

SPARK_POINTS = 32
NOTEBOOK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # as nbtrack.capture.notebook writes them
_CACHED = 4096  # sparklines kept between requests: series blobs never change, polling asks again and again
_cache: OrderedDict[tuple[str, str], list[float | None]] = OrderedDict()


def is_notebook_id(value: str) -> bool:
    return NOTEBOOK_ID.fullmatch(value) is not None


def notebook_mask(frame: Any, docs: Mapping[str, Mapping[str, Any]], notebook_id: str, name: str | None) -> Any:
    """The rows of ``frame`` (a runs table) that belong to the notebook: its id, or no id and its name's experiment."""
    ids = frame["run_id"].map(lambda run_id: (docs.get(run_id) or {}).get("notebook_id"))
    mask = ids == notebook_id
    if name:
        mask |= ids.isna() & (frame["experiment"] == name)
    return mask


def experiments_in(frame: Any) -> list[dict[str, Any]]:
    """The experiments of ``frame``'s runs with their counts, the most runs first (then by name)."""
    counts = frame["experiment"].value_counts()
    ordered = sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
    return [{"name": str(name), "runs": int(n)} for name, n in ordered]


def downsample(points: list[float | None], size: int = SPARK_POINTS) -> list[float | None]:
    """At most ``size`` of ``points``, evenly spaced, keeping the first and the last."""
    if len(points) <= size:
        return list(points)
    last = len(points) - 1
    return [points[round(i * last / (size - 1))] for i in range(size)]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def sparkline(store: Any, doc: Mapping[str, Any], metric: str) -> list[float | None]:
    """The run's values of ``metric`` by step, downsampled (non-finite values as None); [] when none were logged."""
    digest = doc.get("series")
    if not isinstance(digest, str):
        return []
    key = (digest, metric)
    cached = _cache.get(key)
    if cached is not None:
        _cache.move_to_end(key)
        return cached
    from nbtrack.store.series import load

    try:
        series = load(store, digest)
    except (OSError, ValueError, KeyError):  # a blob gone since `nbtrack gc`, or unreadable: no sparkline
        return []
    points: list[float | None] = []
    for name, logged in series.items():
        if values.unescape_text(name) == metric:
            ordered = sorted(zip(logged["step"], logged["value"], strict=True), key=lambda p: p[0])
            points = downsample([_number(v) for _, v in ordered])
            break
    _cache[key] = points
    while len(_cache) > _CACHED:
        _cache.popitem(last=False)
    return points


def sparklines(store: Any, docs: Mapping[str, Mapping[str, Any]], run_ids: Iterable[str], metric: str | None) -> Any:
    """``{run id: points}`` for the runs that logged ``metric`` step by step (nothing without a metric)."""
    if not metric:
        return {}
    found = {run_id: sparkline(store, docs[run_id], metric) for run_id in run_ids if run_id in docs}
    return {run_id: points for run_id, points in found.items() if len(points) > 1}


def primary_metric(metrics: list[str], chosen: str | None, oldest: Mapping[str, Any] | None = None) -> str | None:
    """The one metric the sidebar shows: ``chosen`` when the runs have it, else the first metric the oldest
    matching run logged (``oldest``: its record; it does not change as runs arrive), else the most often logged."""
    if chosen and chosen in metrics:
        return chosen
    logged = (oldest or {}).get("metrics")
    for name in logged if isinstance(logged, dict) else ():
        if values.unescape_text(name) in metrics:
            return str(values.unescape_text(name))
    return metrics[0] if metrics else None
