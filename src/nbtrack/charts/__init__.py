"""Interactive charts as Vega-Lite v5 specs, built from runs and comparisons, shown the same way in
notebooks (a mimebundle JupyterLab renders), the panel and the JupyterLab views (the server sends the spec).

``nbtrack.compare(...).chart(kind)`` for a comparison's charts, :func:`chart_runs` for per-step curves of
runs, :func:`color_of` / :func:`colors_for` for the one colour per run or group that every view uses.
matplotlib stays for static and exported figures (:mod:`nbtrack.analysis.plots`).
"""

from nbtrack.charts.colors import PALETTE, color_of, colors_for
from nbtrack.charts.compared import KINDS, comparison_chart, group_colors
from nbtrack.charts.curves import chart_runs
from nbtrack.charts.spec import MIMETYPE, SCHEMA, Chart

__all__ = [
    "KINDS",
    "MIMETYPE",
    "PALETTE",
    "SCHEMA",
    "Chart",
    "chart_runs",
    "color_of",
    "colors_for",
    "comparison_chart",
    "group_colors",
]
