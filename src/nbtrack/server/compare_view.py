"""What the comparison view needs beside ``Comparison.to_dict()``: the headline sentences, hover help for every
column, and the group-by control (the params it can choose, the ones in force, the default ``compare()``
picks, and a warning when a param gives every run a group of its own)."""

from __future__ import annotations

from typing import Any

from nbtrack.analysis.column_help import column_help
from nbtrack.analysis.grouping import configure, is_seed_like
from nbtrack.analysis.headline import headlines
from nbtrack.analysis.loading import load_frame


def parse_by(by: Any) -> list[str] | None:
    """The ``by`` query argument as param names (``params.`` prefix dropped); None (compare's default) when empty."""
    if by is None:
        return None
    names = [str(b).strip().removeprefix("params.") for b in ([by] if isinstance(by, str) else by)]
    names = [n for part in names for n in part.split(",") if n.strip()]
    return [n.strip() for n in names] or None


def view_extras(cmp: Any, run_ids: list[str], store: Any, by: list[str] | None) -> dict[str, Any]:
    """``headline``, ``column_help`` and ``group_by`` for the compare response of ``run_ids``."""
    frame, source = load_frame(run_ids, store, "finished")
    params = [c[len("params.") :] for c in frame.columns if c.startswith("params.")]
    options = [p for p in params if frame[f"params.{p}"].astype(str).nunique(dropna=False) > 1]
    default = configure(frame, None, (), None, source).label_params
    current = list(by) if by else list(default)
    group_by = {
        "by": current,
        "default": list(default),
        "options": sorted(set(options) | set(current), key=lambda p: (is_seed_like(p), p)),
        "warnings": singleton_warnings(cmp, current, frame),
    }
    return {
        "headline": [h.to_dict() for h in headlines(cmp)],
        "column_help": column_help(cmp),
        "group_by": group_by,
    }


def singleton_warnings(cmp: Any, by: list[str], frame: Any) -> list[str]:
    """A sentence when grouping by ``by`` leaves every run in a group of its own, naming the param to blame
    (one with a different value in every run, e.g. a continuous learning rate) and what to group by instead."""
    groups = cmp.groups
    if not len(groups) or len(frame) < 3:
        return []
    first = groups[groups["metric"] == cmp.metrics[0]]
    sizes = first["n"].astype(int) + first["n_failed"].astype(int)
    if len(first) < 3 or int(sizes.max()) > 1:
        return []
    unique = [p for p in by if f"params.{p}" in frame and frame[f"params.{p}"].astype(str).nunique() == len(frame)]
    rest = [p for p in by if p not in unique]
    instead = f"group by {', '.join(rest)} only" if rest else "choose a param with repeated values"
    if unique:
        blame = ", ".join(unique)
        return [
            f"Every run is its own group because {blame} has a different value in every run: {instead} "
            f"in Group by, or round {blame} to a few levels when logging it."
        ]
    return [f"Every run is its own group ({len(first)} groups of one run): group by fewer params in Group by."]
