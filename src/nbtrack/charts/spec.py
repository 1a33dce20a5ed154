"""The :class:`Chart` object and what every Vega-Lite spec of nbtrack shares: the v5 schema, JSON-safe data
values, the colour scale of runs or groups and the tooltip fields.

Specs are plain dicts (Vega-Lite v5, rendered natively by JupyterLab 4 as ``application/vnd.vegalite.v5+json``
and by the sidebar with vega-embed). Data values go in as JSON numbers and strings: NaN and inf become null,
and nothing is HTML (Vega draws text as SVG text; the tooltip handler escapes it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
MIMETYPE = "application/vnd.vegalite.v5+json"
NUMBER_FORMAT = ".4~g"
WIDTH = 420
HEIGHT = 260


class Chart:
    """An interactive chart: ``.spec`` (a Vega-Lite v5 dict), ``.colors`` (``{run or group: colour}``, the
    colours the runs table uses too) and ``.kind``. Displays as a Vega-Lite chart in JupyterLab, as text
    elsewhere; ``.to_json()`` for other renderers."""

    def __init__(self, spec: dict[str, Any], kind: str, colors: Mapping[str, str], title: str = "") -> None:
        self.spec = spec
        self.kind = kind
        self.colors = dict(colors)
        self.title = title

    def to_dict(self) -> dict[str, Any]:
        """``{"spec", "colors", "kind"}``, what the server's charts endpoint sends."""
        return {"spec": self.spec, "colors": self.colors, "kind": self.kind}

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.spec, indent=indent, ensure_ascii=False, allow_nan=False)

    def __repr__(self) -> str:
        what = f": {self.title}" if self.title else ""
        return f"<nbtrack Chart {self.kind}{what} ({len(self.colors)} colours)>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {MIMETYPE: self.spec, "text/plain": repr(self)}


def safe(value: Any) -> Any:
    """``value`` as JSON: NaN/inf -> None, numpy scalars -> Python, containers recursively, others as str."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [safe(v) for v in value]
    if hasattr(value, "item"):
        try:
            return safe(value.item())
        except (ValueError, AttributeError, TypeError):
            pass
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return str(value)


def color_encoding(field: str, colors: Mapping[str, str], title: str | None = None, legend: bool = True) -> dict:
    """A nominal colour channel with the explicit domain and range of ``colors``, so the same key has the
    same colour in every chart whatever else it shows."""
    domain = list(colors)
    enc: dict[str, Any] = {
        "field": field,
        "type": "nominal",
        "scale": {"domain": domain, "range": [colors[k] for k in domain]},
        "title": title or field,
    }
    if not legend:
        enc["legend"] = None
    return enc


def tooltip(*fields: tuple[str, str] | tuple[str, str, str]) -> list[dict[str, Any]]:
    """Tooltip channel entries from ``(field, title)`` or ``(field, title, "q")`` for a formatted number."""
    out = []
    for entry in fields:
        field, title = entry[0], entry[1]
        item: dict[str, Any] = {"field": field, "title": title}
        if len(entry) > 2:
            item.update(type="quantitative", format=NUMBER_FORMAT)
        else:
            item["type"] = "nominal"
        out.append(item)
    return out


def base(title: str, description: str = "") -> dict[str, Any]:
    """The top of a spec: schema, title, a description (what screen readers get), container-fitting width."""
    return {
        "$schema": SCHEMA,
        "title": title,
        "description": description or title,
        "config": {"view": {"stroke": None}, "legend": {"labelLimit": 240, "symbolOpacity": 1}},
    }


def panel(spec: dict[str, Any]) -> dict[str, Any]:
    """A single view's size (the sidebar's renderer may make it fit its container)."""
    return {"width": WIDTH, "height": HEIGHT, **spec}


def combine(title: str, panels: Sequence[dict[str, Any]], description: str = "") -> dict[str, Any]:
    """One panel as the spec itself, several stacked (``vconcat``), under one title."""
    top = base(title, description)
    if len(panels) == 1:
        return {**top, **panels[0]}
    return {**top, "vconcat": list(panels), "resolve": {"scale": {"color": "shared"}}}
