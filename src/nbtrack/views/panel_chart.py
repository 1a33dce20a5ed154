"""The panel's comparison chart: the interactive Vega-Lite chart of the comparison, else a static PNG.

With :mod:`nbtrack.charts` (``Comparison.chart(kind, metric)`` returning an object with
``_repr_mimebundle_``), the chart goes into an :class:`ipywidgets.Output` as a ``display_data`` output carrying
the mimebundle (``application/vnd.vegalite.v5+json``), so JupyterLab renders it with its own Vega renderer:
the same chart as in a notebook cell and in the JupyterLab views. Without it (or for kinds only matplotlib
draws), the comparison's matplotlib figure is shown as a PNG at its natural size, never stretched.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
from typing import Any

import ipywidgets as widgets

PNG_KINDS = ("box", "diff", "curves", "parallel", "matrix", "cd")  # what Comparison.plot draws
DPI = 90
VEGA_LITE = "application/vnd.vegalite.v5+json"


def chart_kinds() -> tuple[str, ...]:
    """The kinds offered: the interactive chart kinds when :mod:`nbtrack.charts` is there, else the PNG ones."""
    try:
        charts = importlib.import_module("nbtrack.charts")  # another branch's module: optional until merged
    except ImportError:
        return PNG_KINDS
    return tuple(charts.KINDS)


class ChartView:
    """Shows one chart of a comparison in ``output`` (Vega-Lite) or ``image`` (PNG); one of them is visible."""

    def __init__(self) -> None:
        self.output = widgets.Output(layout={"display": "none", "max_width": "100%"})
        self.output.add_class("nbtrack-chart")
        self.image = widgets.Image(format="png", layout={"display": "none", "max_width": "100%"})
        self.box = widgets.VBox([self.output, self.image], layout={"align_items": "flex-start"})

    @property
    def bundle(self) -> dict[str, Any] | None:
        """The mimebundle shown in ``output`` (None when the PNG fallback, or nothing, is shown)."""
        return dict(self.output.outputs[0]["data"]) if self.output.outputs else None

    def clear(self) -> None:
        self.output.outputs = ()
        self.output.layout.display = "none"
        self.image.value = b""
        self.image.layout.display = "none"

    def draw(self, comparison: Any, kind: str, metric: str | None) -> None:
        """Draw ``kind`` of ``comparison``; an error propagates (after clearing) for the panel to show."""
        self.clear()
        make = getattr(comparison, "chart", None)
        if callable(make) and kind in chart_kinds():
            chart = make(kind, metric=metric)
            bundle = chart._repr_mimebundle_()
            data = bundle[0] if isinstance(bundle, tuple) else bundle
            self.output.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)
            self.output.layout.display = ""
            return
        fig = comparison.plot(kind=kind, metric=metric)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI)
        width, _height = fig.get_size_inches() * DPI
        _close_figure(fig)
        self.image.value = buffer.getvalue()
        self.image.width = str(round(float(width)))  # its natural width: shown 1:1, shrunk only to fit
        self.image.layout.display = ""


def _close_figure(fig: Any) -> None:
    """Drop a figure from pyplot's list if it is there (figures made with pyplot would pile up)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        with contextlib.suppress(Exception):
            pyplot.close(fig)
