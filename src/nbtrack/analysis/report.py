"""How a :class:`~nbtrack.analysis.comparison.Comparison` reads: plain text for terminals and HTML for notebooks
(tables, with inline SVG intervals sharing one axis per table so bars compare by eye)."""

from __future__ import annotations

import html
import math
from typing import Any

from nbtrack import format as fmt
from nbtrack.analysis.best import summary_line
from nbtrack.analysis.grouping import slice_rows
from nbtrack.analysis.tasks import html_block, text_lines
from nbtrack.analysis.verdicts import MIN_RUNS


def headline(cmp: Any) -> str:
    """One line: how many runs, groups and metrics the comparison covers."""
    n_runs = cmp.runs["run_id"].nunique() if len(cmp.runs) else 0
    n_groups = cmp.groups["group"].nunique() if len(cmp.groups) else 0
    return (
        f"nbtrack comparison · {n_runs} runs in {n_groups} group{'s' * (n_groups != 1)} · "
        f"{len(cmp.metrics)} metric{'s' * (len(cmp.metrics) != 1)}: {', '.join(cmp.metrics)}"
    )


def direction_text(cmp: Any, metric: str) -> str:
    """``higher is better`` or ``lower is better``, marked as a guess with its override unless it was given."""
    text = f"{'higher' if cmp.directions[metric] else 'lower'} is better"
    given = any(n.startswith(f"{metric}: ") and "(given)" in n for n in cmp.notes)
    return text if given else f"{text}, guessed from the name: pass higher_is_better= to override"


def comparison_text(cmp: Any) -> str:
    """Plain-text rendering for terminals."""
    lines = [headline(cmp), f"  failure policy: {getattr(cmp, 'failure_policy', 'worst')}"]
    lines += [f"  {n}" for n in cmp.notes]
    for metric in cmp.metrics:
        for dataset in cmp.datasets(metric):
            g = slice_rows(cmp.groups, metric, dataset)
            p = slice_rows(cmp.pairs, metric, dataset)
            title = f"{metric} ({direction_text(cmp, metric)})"
            if dataset is not None:
                title += f" on {cmp.dataset_name}={dataset}"
            lines += ["", title, _text_groups(g, cmp.confidence)]
            if len(p):
                ref = p["reference"].iloc[0]
                lines += ["", f"against {ref}:", _text_pairs(p, cmp.confidence)]
            best_line = summary_line(getattr(cmp, "best", None), metric, dataset)
            lines += [best_line] if best_line else []
    if cmp.friedman is not None:
        lines += ["", "across data sets (Friedman, Nemenyi):"]
        for row in cmp.friedman.itertuples(index=False):
            lines.append(
                f"  {row.metric}: {row.n_datasets} data sets x {row.k} configurations, "
                f"chi2 = {_num(row.statistic)}, {_p_is(row.p_value)}; "
                f"Iman-Davenport F = {_num(row.iman_davenport)}, {_p_is(row.p_value_f)}; "
                f"critical difference of ranks = {_num(row.cd)}"
            )
            ranks = cmp.ranks[cmp.ranks["metric"] == row.metric]
            lines.append(
                "    average ranks: " + ", ".join(f"{r.group} {r.avg_rank:.2f}" for r in ranks.itertuples(index=False))
            )
    lines += text_lines(getattr(cmp, "tasks", None), cmp.dataset_name)
    if cmp.warnings:
        lines += ["", "warnings:"] + [f"  - {w}" for w in cmp.warnings]
    return "\n".join(lines)


# muted text on the theme's secondary text colour (readable in dark too); the fallback serves pages without it
_MUTED = "color:var(--jp-ui-font-color2, #57606a)"


def comparison_html(cmp: Any) -> str:
    """HTML rendering for notebooks: tables with inline SVG intervals on a shared axis."""
    esc = html.escape
    parts = [
        f'<div class="nbtrack-compare" style="font-size:12px">'
        f'<div style="font-weight:600;margin-bottom:4px">{esc(headline(cmp))}</div>'
        f'<div style="{_MUTED}">failure policy: {esc(getattr(cmp, "failure_policy", "worst"))}</div>'
    ]
    parts.append("".join(f'<div style="{_MUTED}">{esc(n)}</div>' for n in cmp.notes))
    if cmp.warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in cmp.warnings)
        parts.append(
            f'<div style="background:#fff8c5;border:1px solid #d4a72c;padding:4px 8px;margin:6px 0;'
            f'color:#24292f"><b>Warnings</b><ul style="margin:2px 0">{items}</ul></div>'
        )
    for metric in cmp.metrics:
        for dataset in cmp.datasets(metric):
            g = slice_rows(cmp.groups, metric, dataset)
            p = slice_rows(cmp.pairs, metric, dataset)
            title = f"{metric} · {direction_text(cmp, metric)}"
            if dataset is not None:
                title += f" · {cmp.dataset_name}={dataset}"
            parts.append(f'<h4 style="margin:8px 0 2px">{esc(title)}</h4>')
            parts.append(_html_groups(g, cmp.confidence))
            if len(p):
                parts.append(
                    f'<div style="margin-top:4px">Against the reference '
                    f"<b>{esc(str(p['reference'].iloc[0]))}</b>:</div>"
                )
                parts.append(_html_pairs(p, cmp.confidence))
            best_line = summary_line(getattr(cmp, "best", None), metric, dataset)
            parts.append(f"<div>{esc(best_line)}</div>" if best_line else "")
    if cmp.friedman is not None:
        parts.append('<h4 style="margin:8px 0 2px">Across data sets (Friedman test, Nemenyi post-hoc)</h4>')
        for row in cmp.friedman.itertuples(index=False):
            ranks = cmp.ranks[cmp.ranks["metric"] == row.metric]
            cells = "".join(
                f"<tr><td>{esc(str(r.group))}</td><td>{r.avg_rank:.2f}</td></tr>" for r in ranks.itertuples(index=False)
            )
            parts.append(
                f"<div>{esc(str(row.metric))}: {row.n_datasets} data sets × {row.k} configurations, "
                f"χ² = {esc(_num(row.statistic))}, {esc(_p_is(row.p_value))}; critical difference "
                f"{esc(_num(row.cd))}</div><table><tr><th>group</th><th>average rank</th></tr>{cells}</table>"
            )
    parts.append(html_block(getattr(cmp, "tasks", None), cmp.dataset_name))
    parts.append("</div>")
    return "".join(parts)


# helpers ----------------------------------------------------------------------------------------------


def _num(x: Any, digits: int = 4) -> str:
    return fmt.number(x, digits)


def _p(x: Any) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(x):
        return "–"
    return "<0.0001" if x < 1e-4 else f"{x:.4f}" if x < 0.01 else f"{x:.3f}"


def _p_is(x: Any) -> str:
    text = _p(x)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _ci(lo: Any, hi: Any) -> str:
    return f"[{_num(lo)}, {_num(hi)}]"


def _runs_needed(x: Any) -> str:
    import pandas as pd

    return "" if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)) else str(int(x))


def _text_groups(g: Any, confidence: float) -> str:
    import pandas as pd

    pct = f"{confidence:.0%}"
    shown = pd.DataFrame(
        {
            "group": [f"{lab} *" if ref else lab for lab, ref in zip(g["group"], g["is_reference"], strict=True)],
            "n": g["n"].astype(int),
            "failed": g["n_failed"].astype(int) if "n_failed" in g else 0,
            "mean": g["mean"].map(_num),
            f"{pct} CI": [_ci(a, b) for a, b in zip(g["ci_low"], g["ci_high"], strict=True)],
            "std": g["std"].map(_num),
            "median": g["median"].map(_num),
            "iqm": g["iqm"].map(_num),
            f"iqm {pct} CI": [_ci(a, b) for a, b in zip(g["iqm_ci_low"], g["iqm_ci_high"], strict=True)],
            "min": g["min"].map(_num),
            "max": g["max"].map(_num),
            "same data": g["same_data"].map(lambda v: "?" if v is None or v is pd.NA else "yes" if v else "NO"),
        }
    )
    return shown.to_string(index=False) + "\n(* reference)"


def _text_pairs(p: Any, confidence: float) -> str:
    import pandas as pd

    pct = f"{confidence:.0%}"
    shown = pd.DataFrame(
        {
            "group": p["group"],
            "diff": p["diff"].map(_num),
            f"{pct} CI": [_ci(a, b) for a, b in zip(p["diff_ci_low"], p["diff_ci_high"], strict=True)],
            "P(better)": p["p_better"].map(lambda v: _num(v, 3)),
            f"P {pct} CI": [
                f"[{_num(a, 3)}, {_num(b, 3)}]"
                for a, b in zip(p["p_better_ci_low"], p["p_better_ci_high"], strict=True)
            ],
            "test": p["test"],
            "p": p["p_value"].map(_p),
            "p adj": p["p_adjusted"].map(_p),
            "g": p["effect_size"].map(lambda v: _num(v, 3)),
            "±margin": p["margin"].map(_num),
            "verdict": p["verdict"],
            "runs needed": p["runs_needed"].map(_runs_needed),
        }
    )
    flags = [f"  {gr}: {f}" for gr, f in zip(p["group"], p["flag"], strict=True) if f]
    if flags:
        return shown.to_string(index=False) + "\nflags:\n" + "\n".join(flags)
    return shown.to_string(index=False)


_VERDICT_STYLE = {
    "better": "background:#dafbe1;color:#1a7f37",
    "worse": "background:#ffebe9;color:#cf222e",
    "no difference": "background:#eaeef2;color:#57606a",
    "inconclusive": "background:#fff8c5;color:#9a6700",
    "needs more runs": "background:#fff8c5;color:#9a6700",
}


def _bar(
    lo: float, hi: float, mid: float, lo_axis: float, hi_axis: float, zero: bool = False, color: str = "#0969da"
) -> str:
    """An inline SVG interval on a shared axis (so bars of one table compare by eye)."""
    width, height = 120, 12
    if not all(math.isfinite(v) for v in (lo, hi, mid, lo_axis, hi_axis)) or hi_axis <= lo_axis:
        return ""

    def x(v: float) -> float:
        return 2 + (width - 4) * (min(max(v, lo_axis), hi_axis) - lo_axis) / (hi_axis - lo_axis)

    zero_line = ""
    if zero and lo_axis <= 0 <= hi_axis:
        zero_line = f'<line x1="{x(0):.1f}" y1="0" x2="{x(0):.1f}" y2="{height}" stroke="#8c959f"/>'
    return (
        f'<svg width="{width}" height="{height}" style="vertical-align:middle">{zero_line}'
        f'<line x1="{x(lo):.1f}" y1="6" x2="{x(hi):.1f}" y2="6" stroke="{color}" stroke-width="2"/>'
        f'<circle cx="{x(mid):.1f}" cy="6" r="2.5" fill="{color}"/></svg>'
    )


def _axis(*columns: Any, zero: bool = False) -> tuple[float, float]:
    import numpy as np

    vals = np.concatenate([np.asarray(c, dtype=float) for c in columns])
    vals = vals[np.isfinite(vals)]
    if zero:
        vals = np.append(vals, 0.0)
    if not vals.size:
        return (math.nan, math.nan)
    lo, hi = float(vals.min()), float(vals.max())
    pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 1.0
    return lo - pad, hi + pad


_TABLE = 'style="border-collapse:collapse;font-size:12px"'
_TD = 'style="padding:1px 6px;text-align:right"'
_TDL = 'style="padding:1px 6px;text-align:left"'


def _html_groups(g: Any, confidence: float) -> str:
    import pandas as pd

    esc = html.escape
    lo_axis, hi_axis = _axis(g["ci_low"], g["ci_high"], g["mean"])
    head = [
        "group",
        "n",
        "failed",
        "mean",
        f"{confidence:.0%} CI of the mean",
        "",
        "std",
        "median",
        "IQM",
        f"IQM {confidence:.0%} CI",
        "min",
        "max",
        "same data",
    ]
    rows = []
    for r in g.to_dict(orient="records"):
        same = r["same_data"]
        same_text = (
            "?" if same is None or same is pd.NA else "yes" if same else '<b style="color:#cf222e">different</b>'
        )
        label = esc(str(r["group"])) + (" <i>(reference)</i>" if r["is_reference"] else "")
        small = ' style="color:#9a6700" title="fewer than 5 runs"' if r["n"] < MIN_RUNS else ""
        rows.append(
            f"<tr><td {_TDL}>{label}</td><td {_TD}><span{small}>{int(r['n'])}</span></td>"
            f"<td {_TD}>{int(r.get('n_failed', 0))}</td>"
            f"<td {_TD}>{esc(_num(r['mean']))}</td><td {_TD}>{esc(_ci(r['ci_low'], r['ci_high']))}</td>"
            f"<td>{_bar(r['ci_low'], r['ci_high'], r['mean'], lo_axis, hi_axis)}</td>"
            f"<td {_TD}>{esc(_num(r['std']))}</td><td {_TD}>{esc(_num(r['median']))}</td>"
            f"<td {_TD}>{esc(_num(r['iqm']))}</td><td {_TD}>{esc(_ci(r['iqm_ci_low'], r['iqm_ci_high']))}</td>"
            f"<td {_TD}>{esc(_num(r['min']))}</td><td {_TD}>{esc(_num(r['max']))}</td>"
            f"<td {_TD}>{same_text}</td></tr>"
        )
    header = "".join(f"<th {_TDL}>{esc(h)}</th>" for h in head)
    return f"<table {_TABLE}><tr>{header}</tr>{''.join(rows)}</table>"


def _html_pairs(p: Any, confidence: float) -> str:
    esc = html.escape
    lo_axis, hi_axis = _axis(p["diff_ci_low"], p["diff_ci_high"], p["diff"], zero=True)
    head = [
        "group",
        "diff",
        f"{confidence:.0%} CI",
        "",
        "P(better)",
        f"{confidence:.0%} CI",
        "test",
        "p",
        "p adjusted",
        "Hedges g",
        "±margin",
        "verdict",
        "runs needed",
        "flag",
    ]
    rows = []
    for r in p.to_dict(orient="records"):
        style = _VERDICT_STYLE.get(r["verdict"], "")
        color = {"better": "#1a7f37", "worse": "#cf222e"}.get(r["verdict"], "#57606a")
        rows.append(
            f"<tr><td {_TDL}>{esc(str(r['group']))}</td><td {_TD}>{esc(_num(r['diff']))}</td>"
            f"<td {_TD}>{esc(_ci(r['diff_ci_low'], r['diff_ci_high']))}</td>"
            f"<td>{_bar(r['diff_ci_low'], r['diff_ci_high'], r['diff'], lo_axis, hi_axis, True, color)}</td>"
            f"<td {_TD}>{esc(_num(r['p_better'], 3))}</td>"
            f"<td {_TD}>{esc('[' + _num(r['p_better_ci_low'], 3) + ', ' + _num(r['p_better_ci_high'], 3) + ']')}"
            f"</td><td {_TDL}>{esc(str(r['test']))}</td><td {_TD}>{esc(_p(r['p_value']))}</td>"
            f"<td {_TD}>{esc(_p(r['p_adjusted']))}</td><td {_TD}>{esc(_num(r['effect_size'], 3))}</td>"
            f"<td {_TD}>{esc(_num(r['margin']))}</td>"
            f'<td style="padding:1px 6px;font-weight:600;{style}">{esc(str(r["verdict"]))}</td>'
            f"<td {_TD}>{esc(_runs_needed(r['runs_needed']))}</td><td {_TDL}>{esc(str(r['flag'] or ''))}</td></tr>"
        )
    header = "".join(f"<th {_TDL}>{esc(h)}</th>" for h in head)
    return f"<table {_TABLE}><tr>{header}</tr>{''.join(rows)}</table>"
