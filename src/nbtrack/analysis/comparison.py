"""Statistical comparison of runs: is configuration A really better than B, and how sure am I?

``compare()`` groups runs into configurations (their params, seed-like params left out), summarizes each
group with intervals, tests every group against a reference group with multiplicity-adjusted p-values, and
gives a verdict: ``better``, ``worse``, ``no difference`` or ``needs more runs`` (with how many). The
statistics themselves live in :mod:`nbtrack.analysis.stats`; this module turns runs into samples, picks the tests,
and renders the result (HTML in a notebook, plain text in a terminal, JSON for the CLI).

Choices, and why:

- Mean intervals use Hall's skewness-corrected t interval: it keeps 92.8-95% coverage on normal and
  lognormal(0, 0.5) scores from n = 5, where Student-t falls to 91.7% and a plain bootstrap lower.
- When no baseline is given the reference is the best group by IQM, picked from the same data it is then
  tested on. Adjusting only the k - 1 comparisons against it would then call one of five identical groups
  better or worse in ~9% of experiments instead of 5%, so p-values are adjusted over all k(k-1)/2 pairwise
  comparisons, which bounds the error whatever group gets picked.
- Tests: paired t (or Wilcoxon if the differences are clearly skewed) when runs match by seed/fold;
  Nadeau-Bengio corrected t for cross-validation folds when ``cv=(n_train, n_test)`` is given; Welch t
  otherwise (Mann-Whitney if scores are clearly skewed, or when asked with ``test=``).
- A non-significant difference is ``no difference`` only when the observed effect is negligible
  (|Hedges g| < 0.2) and both groups have at least 5 runs; otherwise ``needs more runs``, with the runs per
  group that would give 80% power (two-sided, alpha = 1 - confidence divided by the factor the
  multiplicity adjustment applied to that comparison) if the observed effect were the true one, and at
  least one more than the runs already there (t-test power; for the rank tests an approximation).
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbtrack.store.local import Store

SEED_LIKE = ("seed", "random_state", "fold", "rep")
VERDICTS = ("better", "worse", "no difference", "needs more runs")
TESTS = ("welch", "paired-t", "wilcoxon", "mann-whitney", "nadeau-bengio")
MIN_RUNS = 5
NEGLIGIBLE = 0.2
POWER = 0.8

_LOWER_PREFIXES = (
    "loss",
    "err",
    "mse",
    "mae",
    "rmse",
    "rmsle",
    "nll",
    "perplex",
    "ppl",
    "wer",
    "cer",
    "latenc",
    "cost",
    "regret",
    "brier",
    "logloss",
    "crossentropy",
    "xent",
    "divergence",
    "kl",
)
_LOWER_WORDS = (
    "time",
    "duration",
    "seconds",
    "sec",
    "ms",
    "fpr",
    "fnr",
    "bpd",
    "memory",
    "mem",
    "mape",
    "smape",
    "distance",
    "dist",
    "fid",
    "eer",
    "miss",
    "hamming",
    "ce",
    "runtime",
    "size",
)
_HIGHER_PREFIXES = (
    "acc",
    "auc",
    "f1",
    "precision",
    "recall",
    "r2",
    "score",
    "reward",
    "return",
    "bleu",
    "rouge",
    "iou",
    "map",
    "ndcg",
    "dice",
    "sharpe",
    "hit",
    "mrr",
    "roc",
    "pr_auc",
    "top",
    "kappa",
    "mcc",
    "sensitivity",
    "specificity",
    "jaccard",
    "psnr",
    "ssim",
    "success",
    "win",
    "throughput",
)


def guess_direction(metric: str) -> tuple[bool, str]:
    """(higher_is_better, why) from a metric's name: losses, errors and times go down, the rest up."""
    tokens = [t for t in re.split(r"[^a-z0-9]+", metric.lower().replace("metrics.", "", 1)) if t]
    for token in tokens:
        if token in _LOWER_WORDS or token.startswith(_LOWER_PREFIXES):
            return False, f"lower is better (guessed from {token!r} in the name)"
    for token in tokens:
        if token.startswith(_HIGHER_PREFIXES):
            return True, f"higher is better (guessed from {token!r} in the name)"
    return True, "higher is better (assumed: the name does not say; pass higher_is_better=)"


# values and labels ------------------------------------------------------------------------------------------


def _norm(value: Any) -> Any:
    """A param value usable as a dict key; NaN and None become None."""
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


def _fmt_value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    return str(value)


def _sort_key(value: Any) -> tuple[Any, ...]:
    if value is None:
        return (2, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _label(names: Sequence[str], key: tuple[Any, ...]) -> str:
    if not names:
        return "all"
    return ", ".join(f"{n}={_fmt_value(v)}" for n, v in zip(names, key, strict=True))


@dataclass
class _Group:
    label: str
    key: tuple[Any, ...]  # values of the label params
    run_ids: list[str]
    values: Any  # numpy array
    seeds: list[Any]  # seed key per run (None when the run has no seed-like params)
    data: dict[str, list[Any]]  # data name -> hash per run


@dataclass
class _Slice:
    metric: str
    dataset: Any
    groups: list[_Group]


# the result ---------------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """The result of :func:`compare`. ``groups`` and ``pairs`` are DataFrames (see :func:`compare` for their
    columns), ``warnings`` sentences that matter for reading them, ``notes`` the methods used."""

    groups: Any
    pairs: Any
    warnings: list[str]
    notes: list[str]
    metrics: list[str]
    params: list[str]  # the params identifying a group (columns of groups and pairs)
    directions: dict[str, bool]
    confidence: float
    runs: Any  # tidy frame: metric, dataset, group, run_id, value and the group params
    ranks: Any = None  # across data sets: average ranks (one row per metric and group)
    friedman: Any = None  # across data sets: one row per metric
    nemenyi: Any = None  # across data sets: pairwise Nemenyi p-values
    store: Any = field(default=None, repr=False)

    # exports ----------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """``{"groups": [...], "pairs": [...], "warnings": [...]}`` with JSON-safe values (NaN -> None);
        across data sets also ``"ranks"`` and ``"friedman"``."""
        out: dict[str, Any] = {
            "groups": _records(self.groups),
            "pairs": _records(self.pairs),
            "warnings": list(self.warnings),
        }
        if self.friedman is not None:
            out["ranks"] = _records(self.ranks)
            out["friedman"] = _records(self.friedman)
        return out

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def plot(self, kind: str = "box", metric: str | None = None, **options: Any) -> Any:
        """A matplotlib Figure: ``box`` (scores per group with the mean's interval), ``diff`` (differences
        against the reference), ``curves`` (step series, mean and interval band per group), ``parallel``
        (params against the metric), ``matrix`` (P(A>B) for every pair), ``cd`` (critical-difference
        diagram across data sets)."""
        from nbtrack.analysis import plots

        makers = {
            "box": plots.box,
            "diff": plots.diff,
            "curves": plots.curves,
            "parallel": plots.parallel,
            "matrix": plots.matrix,
            "cd": plots.cd,
        }
        if kind not in makers:
            raise ValueError(f"unknown plot kind {kind!r}: use one of {', '.join(makers)}")
        return makers[kind](self, metric=metric, **options)

    def verdict(self, group: str, metric: str | None = None) -> str:
        """The verdict of one group (by label) against the reference."""
        rows = self.pairs[self.pairs["group"] == group]
        if metric is not None:
            rows = rows[rows["metric"] == _short(metric)]
        if len(rows) != 1:
            raise KeyError(f"{len(rows)} pairs match group {group!r}" + (f" and metric {metric!r}" if metric else ""))
        return str(rows["verdict"].iloc[0])

    # renderings -------------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return self.to_text()

    def to_text(self) -> str:
        """Plain-text rendering for terminals."""
        lines = [self._headline()]
        lines += [f"  {n}" for n in self.notes]
        for metric in self.metrics:
            for dataset in self._datasets(metric):
                g = self._slice(self.groups, metric, dataset)
                p = self._slice(self.pairs, metric, dataset)
                title = f"{metric} ({'higher' if self.directions[metric] else 'lower'} is better)"
                if dataset is not None:
                    title += f" on {self._dataset_name}={dataset}"
                lines += ["", title, _text_groups(g, self.confidence)]
                if len(p):
                    ref = p["reference"].iloc[0]
                    lines += ["", f"against {ref}:", _text_pairs(p, self.confidence)]
        if self.friedman is not None:
            lines += ["", "across data sets (Friedman, Nemenyi):"]
            for row in self.friedman.itertuples(index=False):
                lines.append(
                    f"  {row.metric}: {row.n_datasets} data sets x {row.k} configurations, "
                    f"chi2 = {_num(row.statistic)}, {_p_is(row.p_value)}; "
                    f"Iman-Davenport F = {_num(row.iman_davenport)}, {_p_is(row.p_value_f)}; "
                    f"critical difference of ranks = {_num(row.cd)}"
                )
                ranks = self.ranks[self.ranks["metric"] == row.metric]
                lines.append(
                    "    average ranks: "
                    + ", ".join(f"{r.group} {r.avg_rank:.2f}" for r in ranks.itertuples(index=False))
                )
        if self.warnings:
            lines += ["", "warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        parts = [
            f'<div class="nbtrack-compare" style="font-size:12px">'
            f'<div style="font-weight:600;margin-bottom:4px">{esc(self._headline())}</div>'
        ]
        parts.append("".join(f'<div style="color:#57606a">{esc(n)}</div>' for n in self.notes))
        if self.warnings:
            items = "".join(f"<li>{esc(w)}</li>" for w in self.warnings)
            parts.append(
                f'<div style="background:#fff8c5;border:1px solid #d4a72c;padding:4px 8px;margin:6px 0;'
                f'color:#24292f"><b>Warnings</b><ul style="margin:2px 0">{items}</ul></div>'
            )
        for metric in self.metrics:
            for dataset in self._datasets(metric):
                g = self._slice(self.groups, metric, dataset)
                p = self._slice(self.pairs, metric, dataset)
                title = f"{metric} · {'higher' if self.directions[metric] else 'lower'} is better"
                if dataset is not None:
                    title += f" · {self._dataset_name}={dataset}"
                parts.append(f'<h4 style="margin:8px 0 2px">{esc(title)}</h4>')
                parts.append(_html_groups(g, self.confidence))
                if len(p):
                    parts.append(
                        f'<div style="margin-top:4px">Against the reference '
                        f"<b>{esc(str(p['reference'].iloc[0]))}</b>:</div>"
                    )
                    parts.append(_html_pairs(p, self.confidence))
        if self.friedman is not None:
            parts.append('<h4 style="margin:8px 0 2px">Across data sets (Friedman test, Nemenyi post-hoc)</h4>')
            for row in self.friedman.itertuples(index=False):
                ranks = self.ranks[self.ranks["metric"] == row.metric]
                cells = "".join(
                    f"<tr><td>{esc(str(r.group))}</td><td>{r.avg_rank:.2f}</td></tr>"
                    for r in ranks.itertuples(index=False)
                )
                parts.append(
                    f"<div>{esc(str(row.metric))}: {row.n_datasets} data sets × {row.k} configurations, "
                    f"χ² = {esc(_num(row.statistic))}, {esc(_p_is(row.p_value))}; critical difference "
                    f"{esc(_num(row.cd))}</div><table><tr><th>group</th><th>average rank</th></tr>{cells}</table>"
                )
        parts.append("</div>")
        return "".join(parts)

    # helpers ----------------------------------------------------------------------------------------------

    @property
    def _dataset_name(self) -> str:
        return str(self.groups.attrs.get("dataset_name", "dataset"))

    def _datasets(self, metric: str) -> list[Any]:
        if "dataset" not in self.groups.columns:
            return [None]
        rows = self.groups[self.groups["metric"] == metric]
        return list(dict.fromkeys(rows["dataset"]))

    @staticmethod
    def _slice(frame: Any, metric: str, dataset: Any) -> Any:
        rows = frame[frame["metric"] == metric]
        if dataset is not None and "dataset" in frame.columns:
            rows = rows[rows["dataset"] == dataset]
        return rows

    def _headline(self) -> str:
        n_runs = self.runs["run_id"].nunique() if len(self.runs) else 0
        n_groups = self.groups["group"].nunique() if len(self.groups) else 0
        return (
            f"nbtrack comparison · {n_runs} runs in {n_groups} group{'s' * (n_groups != 1)} · "
            f"{len(self.metrics)} metric{'s' * (len(self.metrics) != 1)}: {', '.join(self.metrics)}"
        )


def _short(metric: str) -> str:
    return metric[len("metrics.") :] if metric.startswith("metrics.") else metric


def _records(frame: Any) -> list[dict[str, Any]]:
    if frame is None:
        return []
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({str(k): _jsonable(v) for k, v in row.items()})
    return out


def _jsonable(value: Any) -> Any:
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


# formatting -----------------------------------------------------------------------------------------------------


def _num(x: Any, digits: int = 4) -> str:
    try:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "–"
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


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
            "P(A>B)": p["p_greater"].map(lambda v: _num(v, 3)),
            f"P {pct} CI": [
                f"[{_num(a, 3)}, {_num(b, 3)}]"
                for a, b in zip(p["p_greater_ci_low"], p["p_greater_ci_high"], strict=True)
            ],
            "test": p["test"],
            "p": p["p_value"].map(_p),
            "p adj": p["p_adjusted"].map(_p),
            "g": p["effect_size"].map(lambda v: _num(v, 3)),
            "verdict": p["verdict"],
            "runs needed": p["runs_needed"].map(_runs_needed),
        }
    )
    return shown.to_string(index=False)


_VERDICT_STYLE = {
    "better": "background:#dafbe1;color:#1a7f37",
    "worse": "background:#ffebe9;color:#cf222e",
    "no difference": "background:#eaeef2;color:#57606a",
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
        "P(A>B)",
        f"{confidence:.0%} CI",
        "test",
        "p",
        "p adjusted",
        "Hedges g",
        "verdict",
        "runs needed",
    ]
    rows = []
    for r in p.to_dict(orient="records"):
        style = _VERDICT_STYLE.get(r["verdict"], "")
        color = {"better": "#1a7f37", "worse": "#cf222e"}.get(r["verdict"], "#57606a")
        rows.append(
            f"<tr><td {_TDL}>{esc(str(r['group']))}</td><td {_TD}>{esc(_num(r['diff']))}</td>"
            f"<td {_TD}>{esc(_ci(r['diff_ci_low'], r['diff_ci_high']))}</td>"
            f"<td>{_bar(r['diff_ci_low'], r['diff_ci_high'], r['diff'], lo_axis, hi_axis, True, color)}</td>"
            f"<td {_TD}>{esc(_num(r['p_greater'], 3))}</td>"
            f"<td {_TD}>{esc('[' + _num(r['p_greater_ci_low'], 3) + ', ' + _num(r['p_greater_ci_high'], 3) + ']')}"
            f"</td><td {_TDL}>{esc(str(r['test']))}</td><td {_TD}>{esc(_p(r['p_value']))}</td>"
            f"<td {_TD}>{esc(_p(r['p_adjusted']))}</td><td {_TD}>{esc(_num(r['effect_size'], 3))}</td>"
            f'<td style="padding:1px 6px;font-weight:600;{style}">{esc(str(r["verdict"]))}</td>'
            f"<td {_TD}>{esc(_runs_needed(r['runs_needed']))}</td></tr>"
        )
    header = "".join(f"<th {_TDL}>{esc(h)}</th>" for h in head)
    return f"<table {_TABLE}><tr>{header}</tr>{''.join(rows)}</table>"


# loading runs ---------------------------------------------------------------------------------------------------


def _load_frame(runs: Any, store: Any, status: str | Sequence[str] | None) -> tuple[Any, str]:
    import pandas as pd

    from nbtrack.query.search import runs as query_runs
    from nbtrack.store.local import get_store

    if isinstance(runs, pd.DataFrame):
        return runs.copy(), "the given runs"
    if runs is None or isinstance(runs, str):
        if runs is None:
            from nbtrack.capture.lifecycle import default_experiment

            runs = default_experiment()
        frame = query_runs(experiment=runs, status=status, store=store)
        if frame.empty:
            state = f" {status}" if isinstance(status, str) else ""
            raise ValueError(f"no{state} runs in experiment {runs!r}")
        return frame, f"experiment {runs!r}"
    st = get_store(store)
    ids = [getattr(r, "id", r) for r in runs]
    full = [st.resolve(str(r)) for r in ids]
    frame = query_runs(store=st)
    frame = frame[frame["run_id"].isin(full)].reset_index(drop=True)
    return frame, f"{len(full)} runs"


def _column(frame: Any, name: str, group: str) -> str | None:
    for candidate in (name, f"{group}.{name}"):
        if candidate in frame.columns:
            return candidate
    return None


# the analysis ---------------------------------------------------------------------------------------------------


def compare(
    runs: Any = None,
    metric: str | Sequence[str] | None = None,
    by: str | Sequence[str] | None = None,
    baseline: Any = None,
    higher_is_better: bool | Mapping[str, bool] | None = None,
    paired: bool | None = None,
    confidence: float = 0.95,
    *,
    seed_params: Iterable[str] = (),
    test: str | None = None,
    adjust: str = "holm",
    cv: tuple[int, int] | None = None,
    dataset: str | None = None,
    interval: str = "hall-t",
    n_boot: int = 2000,
    seed: int = 0,
    store: str | Path | Store | None = None,
    status: str | Sequence[str] | None = "finished",
) -> Comparison:
    """Compare configurations of runs on one or more metrics, with intervals, tests and a verdict.

    ``runs``: a list of run ids, a DataFrame from ``nbtrack.runs()``, an experiment name, or None (the
    current experiment; only ``status`` runs, finished by default, unless ids or a DataFrame are given).
    ``by``: params forming a configuration; default all params except seed-like ones (``seed``,
    ``random_state``, ``fold``, ``rep`` and ``seed_params``). ``baseline``: the reference group, as a dict of
    param values, a run id, or a group label such as ``"lr=0.1"``; default the best group by IQM.
    ``higher_is_better``: a bool, or a dict per metric; guessed from the metric's name when not given.
    ``paired``: None pairs runs by their seed-like params when they match; True asks for it (with a warning
    when impossible); False never pairs. ``test``: force one of ``welch``, ``paired-t``, ``wilcoxon``,
    ``mann-whitney``, ``nadeau-bengio``. ``adjust``: ``holm`` or ``bh`` (Benjamini-Hochberg) or ``none``.
    ``cv=(n_train, n_test)``: runs differing by ``fold`` are cross-validation folds; use the Nadeau-Bengio
    corrected t-test. ``dataset``: a tag or param naming the data set of each run (default: a ``dataset``
    tag or param with several values), to compare per data set and across them (Friedman, Nemenyi).
    ``interval``: ``hall-t`` or ``t`` for the mean. ``n_boot``, ``seed``: the IQM bootstrap (deterministic).

    ``.groups`` columns: metric, [dataset], the group params, group, n, mean, std, median, iqm, ci_low,
    ci_high (interval of the mean), ci_method, iqm_ci_low, iqm_ci_high, iqm_ci_method, median_ci_low,
    median_ci_high, min, max, same_data, higher_is_better, is_reference.
    ``.pairs`` columns: metric, [dataset], the group params, group, reference, n, n_reference, paired, diff,
    diff_ci_low, diff_ci_high, p_greater, p_greater_ci_low, p_greater_ci_high, test, statistic, df, p_value,
    p_adjusted, effect_size (Hedges g), verdict, runs_needed. Every quantity is group versus reference.
    """
    import numpy as np
    import pandas as pd

    from nbtrack.analysis import stats as st

    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    if test is not None and test not in TESTS:
        raise ValueError(f"unknown test {test!r}: use one of {', '.join(TESTS)}")
    if interval not in st.MEAN_CI_METHODS:
        raise ValueError(f"unknown interval {interval!r}: use one of {', '.join(st.MEAN_CI_METHODS)}")
    if adjust not in ("holm", "bh", "none"):
        raise ValueError(f"unknown adjustment {adjust!r}: use 'holm', 'bh' or 'none'")
    if test == "nadeau-bengio" and cv is None:
        raise ValueError("the Nadeau-Bengio test needs the split sizes: cv=(n_train, n_test)")
    if cv is not None and (len(cv) != 2 or min(cv) <= 0):
        raise ValueError("cv must be (n_train, n_test), two positive sizes")
    alpha = 1 - confidence
    frame, source = _load_frame(runs, store, status)
    warnings: list[str] = []
    notes: list[str] = []

    # metrics and their direction
    metric_cols = [c for c in frame.columns if c.startswith("metrics.")]
    if metric is None:
        if len(metric_cols) != 1:
            known = ", ".join(_short(c) for c in metric_cols) or "none"
            raise ValueError(f"say which metric to compare: metric=... (metrics in {source}: {known})")
        metric = _short(metric_cols[0])
    metrics = [m.strip() for m in metric.split(",")] if isinstance(metric, str) else [str(m) for m in metric]
    metrics = [_short(m) for m in metrics if m]
    for m in metrics:
        if f"metrics.{m}" not in frame.columns:
            known = ", ".join(_short(c) for c in metric_cols) or "none"
            raise ValueError(f"no metric {m!r} in {source} (metrics: {known})")
    directions: dict[str, bool] = {}
    for m in metrics:
        if isinstance(higher_is_better, Mapping) and (m in higher_is_better or f"metrics.{m}" in higher_is_better):
            directions[m] = bool(higher_is_better.get(m, higher_is_better.get(f"metrics.{m}")))
            notes.append(f"{m}: {'higher' if directions[m] else 'lower'} is better (given)")
        elif isinstance(higher_is_better, bool):
            directions[m] = higher_is_better
            notes.append(f"{m}: {'higher' if directions[m] else 'lower'} is better (given)")
        else:
            directions[m], why = guess_direction(m)
            notes.append(f"{m}: {why}")

    # params: configuration, seeds, data set
    param_names = [c[len("params.") :] for c in frame.columns if c.startswith("params.")]
    seed_like = set(SEED_LIKE) | set(seed_params)
    by_names = {str(b).strip().removeprefix("params.") for b in (by.split(",") if isinstance(by, str) else by or ())}
    dataset_col, dataset_name = _dataset_column(frame, dataset, exclude=by_names)
    dataset_param = dataset_col[len("params.") :] if dataset_col and dataset_col.startswith("params.") else None
    if by is None:
        config = [p for p in param_names if p not in seed_like and p != dataset_param]
        explicit = False
    else:
        names = [b.strip() for b in by.split(",")] if isinstance(by, str) else list(by)
        config = [n[len("params.") :] if n.startswith("params.") else n for n in names if n]
        missing = [n for n in config if f"params.{n}" not in frame.columns]
        if missing:
            raise ValueError(
                f"no param {', '.join(map(repr, missing))} in {source} (params: {', '.join(param_names) or 'none'})"
            )
        explicit = True
    seed_cols = [p for p in param_names if p in seed_like and p not in config]
    keys_all = (
        [
            tuple(_norm(v) for v in row)
            for row in frame[[f"params.{p}" for p in config]].itertuples(index=False, name=None)
        ]
        if config
        else [()] * len(frame)
    )
    # labels name the params that tell groups apart (all of ``by`` when it was given)
    varying = [p for i, p in enumerate(config) if len({k[i] for k in keys_all}) > 1]
    label_params = list(config) if explicit else varying
    label_idx = [config.index(p) for p in label_params]
    param_columns = [p if p not in _RESERVED else f"params.{p}" for p in label_params]
    seed_keys: list[Any] = []
    for row in (
        frame[[f"params.{p}" for p in seed_cols]].itertuples(index=False, name=None) if seed_cols else [()] * len(frame)
    ):
        key = tuple(_norm(v) for v in row)
        seed_keys.append(key if key and any(v is not None for v in key) else None)
    folds_vary = "fold" in seed_cols and frame["params.fold"].nunique() > 1
    data_cols = [c for c in frame.columns if c.startswith("data.")]
    datasets_all = [None] * len(frame) if dataset_col is None else [_norm(v) for v in frame[dataset_col]]
    run_ids_all = [str(r) for r in frame["run_id"]] if "run_id" in frame.columns else [""] * len(frame)
    data_all = {c[len("data.") :]: [_norm(v) for v in frame[c]] for c in data_cols}

    # slices: (metric, data set) -> groups
    slices: list[_Slice] = []
    dropped: dict[str, int] = {}
    for m in metrics:
        values_all = pd.to_numeric(frame[f"metrics.{m}"], errors="coerce").to_numpy(dtype=float)
        finite = np.isfinite(values_all)
        if (~finite).sum():
            dropped[m] = int((~finite).sum())
        for ds in sorted({d for d, ok in zip(datasets_all, finite, strict=True) if ok}, key=_sort_key):
            members: dict[tuple[Any, ...], list[int]] = {}
            for i, ok in enumerate(finite):
                if ok and datasets_all[i] == ds:
                    members.setdefault(tuple(keys_all[i][j] for j in label_idx), []).append(i)
            groups = []
            for key in sorted(members, key=lambda k: tuple(_sort_key(v) for v in k)):
                rows = members[key]
                groups.append(
                    _Group(
                        label=_label(label_params, key),
                        key=key,
                        run_ids=[run_ids_all[i] for i in rows],
                        values=values_all[rows],
                        seeds=[seed_keys[i] for i in rows],
                        data={name: [hashes[i] for i in rows] for name, hashes in data_all.items()},
                    )
                )
            slices.append(_Slice(m, ds, groups))
    for m, count in dropped.items():
        warnings.append(f"{count} run{'s' * (count != 1)} without a finite value of {m} left out.")
    if not slices:
        raise ValueError(f"no run in {source} has a value for {', '.join(metrics)}")

    # per slice statistics
    group_rows: list[dict[str, Any]] = []
    pair_rows: list[dict[str, Any]] = []
    small: dict[str, int] = {}
    pairing_failed: list[str] = []
    selected_reference = baseline is None
    fold_warning = False
    families: set[int] = set()
    for sl in slices:
        hib = directions[sl.metric]
        stats_rows = _group_stats(sl.groups, st, confidence, interval, n_boot, seed)
        ref_index = _reference_index(sl, stats_rows, baseline, hib, label_params, frame, warnings, dataset_name)
        for g, row in zip(sl.groups, stats_rows, strict=True):
            if len(g.values) < MIN_RUNS:
                small[g.label] = min(small.get(g.label, len(g.values)), len(g.values))
            same = _same_data(g)
            group_rows.append(
                {
                    "metric": sl.metric,
                    **({"dataset": sl.dataset} if dataset_col else {}),
                    **{c: v for c, v in zip(param_columns, g.key, strict=True)},
                    "group": g.label,
                    **row,
                    "same_data": same,
                    "higher_is_better": hib,
                    "is_reference": g is sl.groups[ref_index],
                }
            )
        _data_warnings(sl, warnings)
        if len(sl.groups) < 2:
            continue
        ref = sl.groups[ref_index]
        # the family of comparisons: against the reference, or all pairs if the reference was picked from the data
        family: list[tuple[int, int]] = [(i, ref_index) for i in range(len(sl.groups)) if i != ref_index]
        if selected_reference:
            family += [
                (i, j) for i in range(len(sl.groups)) for j in range(i + 1, len(sl.groups)) if ref_index not in (i, j)
            ]
        results = []
        for i, j in family:
            res, is_paired, design, problem = _pair_test(
                sl.groups[i], sl.groups[j], paired, test, cv, folds_vary, confidence, st
            )
            if problem and j == ref_index:
                pairing_failed.append(f"{sl.groups[i].label} vs {ref.label}")
            if is_paired and folds_vary and cv is None and test != "mann-whitney":
                fold_warning = True
            results.append((i, j, res, is_paired, design))
        p_adj, mult = st.adjust_pvalues([r[2].p_value for r in results], adjust)
        ref_results = [(k, r) for k, r in enumerate(results) if r[1] == ref_index]
        pg = [st.prob_superiority(sl.groups[r[0]].values, ref.values) for _, r in ref_results]
        pg_lo, pg_hi = st.prob_superiority_interval(
            pg, [len(sl.groups[r[0]].values) for _, r in ref_results], len(ref.values), confidence
        )
        for (k, (i, _, res, is_paired, design)), p_gt, lo, hi in zip(ref_results, pg, pg_lo, pg_hi, strict=True):
            g = sl.groups[i]
            effect = st.hedges_g(g.values, ref.values)
            n_min = min(len(g.values), len(ref.values))
            runs_needed: Any = pd.NA
            if np.isfinite(p_adj[k]) and p_adj[k] < alpha:
                sign = res.direction if hib else -res.direction
                verdict = "better" if sign > 0 else "worse" if sign < 0 else "no difference"
            elif n_min >= MIN_RUNS and np.isfinite(effect) and abs(effect) < NEGLIGIBLE:
                verdict = "no difference"
            else:
                verdict = "needs more runs"
                level = alpha / (mult[k] if np.isfinite(mult[k]) else 1.0)
                runs_needed = _needed(g, ref, effect, design, cv, level, st)
                if runs_needed is not pd.NA:  # these runs did not settle it: at least one more each
                    runs_needed = max(runs_needed, max(len(g.values), len(ref.values)) + 1)
            pair_rows.append(
                {
                    "metric": sl.metric,
                    **({"dataset": sl.dataset} if dataset_col else {}),
                    **{c: v for c, v in zip(param_columns, g.key, strict=True)},
                    "group": g.label,
                    "reference": ref.label,
                    "n": len(g.values),
                    "n_reference": len(ref.values),
                    "paired": is_paired,
                    "diff": res.diff,
                    "diff_ci_low": res.ci_low,
                    "diff_ci_high": res.ci_high,
                    "p_greater": p_gt,
                    "p_greater_ci_low": float(lo),
                    "p_greater_ci_high": float(hi),
                    "test": res.test,
                    "statistic": res.statistic,
                    "df": res.df,
                    "p_value": res.p_value,
                    "p_adjusted": float(p_adj[k]),
                    "effect_size": effect,
                    "verdict": verdict,
                    "runs_needed": runs_needed,
                }
            )
        families.add(len(family))

    groups_frame = pd.DataFrame(group_rows)
    pairs_frame = pd.DataFrame(pair_rows, columns=_pair_columns(dataset_col is not None, param_columns))
    if len(pairs_frame):
        pairs_frame["runs_needed"] = pairs_frame["runs_needed"].astype("Int64")
    groups_frame.attrs["dataset_name"] = dataset_name
    sizes = " or ".join(str(n) for n in sorted(families)) or "0"
    if adjust == "none":
        notes.append("p-values not adjusted for multiple comparisons")
    elif selected_reference:
        notes.append(
            f"reference: the best group by IQM, picked from these runs; so p-values are adjusted "
            f"({_ADJUST_NAMES[adjust]}) over all {sizes} pairwise comparisons, not only those with it"
        )
    else:
        notes.append(f"p-values adjusted ({_ADJUST_NAMES[adjust]}) over the {sizes} comparisons with the reference")
    if all(len(sl.groups) < 2 for sl in slices):
        warnings.append("Only one configuration: nothing to compare (give by= to name the params that differ).")
    notes.append(
        f"intervals at {confidence:.0%}: mean by {_INTERVAL_NAMES[interval]}; IQM by the percentile "
        f"bootstrap ({n_boot} resamples, seed {seed}) from {st.IQM_BOOTSTRAP_MIN_N} runs, Tukey-McLaughlin "
        f"below; median by Hettmansperger-Sheather; P(A>B) by Newcombe's method 5"
    )

    if small:
        listed = ", ".join(f"{k}: {v}" for k, v in small.items())
        warnings.append(
            f"Groups with fewer than {MIN_RUNS} runs ({listed}): intervals are wide and verdicts "
            f"tentative; run more seeds."
        )
    if pairing_failed:
        shown = ", ".join(pairing_failed[:5]) + (" ..." if len(pairing_failed) > 5 else "")
        warnings.append(f"Pairing was requested but seeds do not match ({shown}): unpaired tests used there.")
    if fold_warning:
        warnings.append(
            "Runs differ by fold, but cv=(n_train, n_test) was not given: the paired t-test on "
            "cross-validation folds is too optimistic (training sets overlap). Give the split sizes "
            "for the Nadeau-Bengio correction."
        )

    tidy = _tidy(slices, label_params, param_columns, dataset_col is not None)
    cmp = Comparison(
        groups_frame,
        pairs_frame,
        _dedupe(warnings),
        notes,
        metrics,
        param_columns,
        directions,
        confidence,
        tidy,
        store=store,
    )
    if dataset_col is not None:
        _across_datasets(cmp, slices, directions, alpha, dataset_name)
    return cmp


_RESERVED = {
    "metric",
    "dataset",
    "group",
    "reference",
    "n",
    "n_reference",
    "paired",
    "mean",
    "std",
    "median",
    "iqm",
    "ci_low",
    "ci_high",
    "ci_method",
    "iqm_ci_low",
    "iqm_ci_high",
    "iqm_ci_method",
    "median_ci_low",
    "median_ci_high",
    "min",
    "max",
    "same_data",
    "higher_is_better",
    "is_reference",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "p_greater",
    "p_greater_ci_low",
    "p_greater_ci_high",
    "test",
    "statistic",
    "df",
    "p_value",
    "p_adjusted",
    "effect_size",
    "verdict",
    "runs_needed",
    "run_id",
    "value",
}
_ADJUST_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no adjustment"}
_INTERVAL_NAMES = {"hall-t": "Hall's skewness-corrected t", "t": "Student t"}


def _pair_columns(with_dataset: bool, param_columns: list[str]) -> list[str]:
    return (
        ["metric"]
        + (["dataset"] if with_dataset else [])
        + param_columns
        + [
            "group",
            "reference",
            "n",
            "n_reference",
            "paired",
            "diff",
            "diff_ci_low",
            "diff_ci_high",
            "p_greater",
            "p_greater_ci_low",
            "p_greater_ci_high",
            "test",
            "statistic",
            "df",
            "p_value",
            "p_adjusted",
            "effect_size",
            "verdict",
            "runs_needed",
        ]
    )


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _dataset_column(frame: Any, dataset: str | None, exclude: set[str] = frozenset()) -> tuple[str | None, str]:
    if dataset is not None:
        name = dataset.split(".", 1)[1] if dataset.startswith(("tags.", "params.")) else dataset
        for col in (dataset,) if dataset.startswith(("tags.", "params.")) else (f"tags.{name}", f"params.{name}"):
            if col in frame.columns:
                return col, name
        raise ValueError(f"no tag or param {dataset!r} naming the data set of runs")
    for col in ("tags.dataset", "params.dataset"):
        named_by_user = col.startswith("params.") and "dataset" in exclude
        if col in frame.columns and frame[col].nunique() > 1 and not named_by_user:
            return col, "dataset"
    return None, "dataset"


def _group_stats(
    groups: list[_Group], st: Any, confidence: float, interval: str, n_boot: int, seed: int
) -> list[dict[str, Any]]:
    import numpy as np

    rows = []
    boot: dict[int, tuple[Any, Any]] = {}
    by_size: dict[int, list[int]] = {}
    for k, g in enumerate(groups):
        if len(g.values) >= st.IQM_BOOTSTRAP_MIN_N:
            by_size.setdefault(len(g.values), []).append(k)
    for _n, members in by_size.items():  # one vectorized bootstrap per sample size
        lo, hi = st.bootstrap_iqm_intervals(np.stack([groups[k].values for k in members]), confidence, n_boot, seed)
        for pos, k in enumerate(members):
            boot[k] = (float(lo[pos]), float(hi[pos]))
    for k, g in enumerate(groups):
        x = g.values
        n = len(x)
        lo, hi = st.mean_interval(x, confidence, interval)
        if k in boot:
            iqm_lo, iqm_hi, iqm_method = *boot[k], "bootstrap"
        else:
            iqm_lo, iqm_hi = st.tukey_mclaughlin_interval(x, confidence)
            iqm_method = "tukey-mclaughlin"
        med_lo, med_hi = st.median_interval(x, confidence)
        rows.append(
            {
                "n": n,
                "mean": float(x.mean()),
                "std": float(x.std(ddof=1)) if n > 1 else math.nan,
                "median": float(np.median(x)),
                "iqm": st.iqm(x),
                "ci_low": lo,
                "ci_high": hi,
                "ci_method": interval,
                "iqm_ci_low": iqm_lo,
                "iqm_ci_high": iqm_hi,
                "iqm_ci_method": iqm_method,
                "median_ci_low": med_lo,
                "median_ci_high": med_hi,
                "min": float(x.min()),
                "max": float(x.max()),
            }
        )
    return rows


def _reference_index(
    sl: _Slice,
    rows: list[dict[str, Any]],
    baseline: Any,
    hib: bool,
    label_params: list[str],
    frame: Any,
    warnings: list[str],
    dataset_name: str,
) -> int:
    if baseline is None:
        scores = [r["iqm"] for r in rows]
        return max(range(len(scores)), key=lambda k: (scores[k] if hib else -scores[k], -k))
    index = _match_baseline(sl.groups, baseline, label_params)
    if index is None:
        where = f" for {sl.metric}" + (f" on {dataset_name}={sl.dataset}" if sl.dataset is not None else "")
        labels = ", ".join(g.label for g in sl.groups)
        raise ValueError(f"baseline {baseline!r} matches no group{where} (groups: {labels})")
    return index


def _match_baseline(groups: list[_Group], baseline: Any, label_params: list[str]) -> int | None:
    def equal(a: Any, b: Any) -> bool:
        if a == b:
            return True
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return str(a) == str(b)

    def by_dict(wanted: Mapping[str, Any]) -> int | None:
        wanted = {str(k)[len("params.") :] if str(k).startswith("params.") else str(k): v for k, v in wanted.items()}
        unknown = [k for k in wanted if k not in label_params]
        if unknown:
            raise ValueError(
                f"baseline names {', '.join(map(repr, unknown))}, not a param that varies between "
                f"groups ({', '.join(label_params) or 'none'})"
            )
        hits = [
            k for k, g in enumerate(groups) if all(equal(g.key[label_params.index(p)], v) for p, v in wanted.items())
        ]
        if len(hits) > 1:
            raise ValueError(
                f"baseline {dict(wanted)!r} matches {len(hits)} groups: {', '.join(groups[k].label for k in hits)}"
            )
        return hits[0] if hits else None

    if isinstance(baseline, Mapping):
        return by_dict(baseline)
    text = str(getattr(baseline, "id", baseline)).strip()
    for k, g in enumerate(groups):
        if g.label == text:
            return k
    hits = {k for k, g in enumerate(groups) for r in g.run_ids if r and r.startswith(text)}
    if len(hits) == 1:
        return hits.pop()
    if "=" in text:
        parsed = {}
        for part in text.split(","):
            name, _, value = part.partition("=")
            parsed[name.strip()] = value.strip()
        return by_dict(parsed)
    return None


def _pair_test(
    a: _Group,
    b: _Group,
    paired: bool | None,
    test: str | None,
    cv: tuple[int, int] | None,
    folds_vary: bool,
    confidence: float,
    st: Any,
) -> tuple[Any, bool, str, bool]:
    """(test result, paired?, power design, pairing asked but impossible?) for group a against group b."""
    import numpy as np

    aligned = _align(a, b)
    wants_pairing = paired is True or test in ("paired-t", "wilcoxon", "nadeau-bengio")
    problem = wants_pairing and aligned is None and paired is not False
    use_pairs = aligned is not None and paired is not False
    if use_pairs and test in ("welch", "mann-whitney"):
        use_pairs = False
    if use_pairs:
        x, y = aligned
        if test == "nadeau-bengio" or (test is None and cv is not None and folds_vary):
            assert cv is not None
            return st.nadeau_bengio_test(x, y, cv[0], cv[1], confidence), True, "nadeau-bengio", problem
        if test == "wilcoxon" or (test is None and st.clearly_skewed(x - y)):
            return st.wilcoxon_test(x, y, confidence), True, "paired", problem
        return st.paired_t_test(x, y, confidence), True, "paired", problem
    if test == "mann-whitney":
        return st.mann_whitney_test(a.values, b.values, confidence), False, "two-sample", problem
    if test is None and len(a.values) + len(b.values) >= 8:
        pooled = np.concatenate([a.values - a.values.mean(), b.values - b.values.mean()])
        if st.clearly_skewed(pooled):
            return st.mann_whitney_test(a.values, b.values, confidence), False, "two-sample", problem
    return st.welch_test(a.values, b.values, confidence), False, "two-sample", problem


def _align(a: _Group, b: _Group) -> tuple[Any, Any] | None:
    """The two groups' values ordered by matching seed keys, or None when they do not match one to one."""
    import numpy as np

    if any(s is None for s in a.seeds) or any(s is None for s in b.seeds):
        return None
    if len(set(a.seeds)) != len(a.seeds) or len(set(b.seeds)) != len(b.seeds) or set(a.seeds) != set(b.seeds):
        return None
    if len(a.seeds) < 2:
        return None
    pos = {s: k for k, s in enumerate(b.seeds)}
    order = [pos[s] for s in a.seeds]
    return np.asarray(a.values), np.asarray(b.values)[order]


def _needed(
    g: _Group, ref: _Group, effect: float, design: str, cv: tuple[int, int] | None, alpha: float, st: Any
) -> Any:
    """Runs per group giving 80% power at ``alpha`` for the observed effect (t-test power: for the rank tests
    an approximation), NA when it cannot be estimated or no number of runs would do."""
    import pandas as pd

    if len(g.values) < 2 or len(ref.values) < 2:
        return pd.NA
    if design == "two-sample":
        size = st.runs_needed(effect, POWER, alpha, "two-sample")
    else:
        aligned = _align(g, ref)
        if aligned is None:
            return pd.NA
        dz = st.paired_dz(*aligned)
        rho = cv[1] / cv[0] if (design == "nadeau-bengio" and cv) else 0.0
        size = st.runs_needed(dz, POWER, alpha, design, rho)
    return int(size) if math.isfinite(size) else pd.NA


def _same_data(g: _Group) -> Any:
    import pandas as pd

    if not g.data:
        return pd.NA
    recorded = False
    for hashes in g.data.values():
        present = [h for h in hashes if h is not None]
        if present:
            recorded = True
            if len(set(present)) > 1 or len(present) != len(hashes):
                return False
    return True if recorded else pd.NA


def _data_warnings(sl: _Slice, warnings: list[str]) -> None:
    names = sorted({n for g in sl.groups for n in g.data})
    for name in names:
        inside = []
        for g in sl.groups:
            hashes = g.data.get(name, [])
            present = {h for h in hashes if h is not None}
            if len(present) > 1 or (present and None in hashes):
                inside.append(g.label)
        if inside:
            warnings.append(
                f"Runs within {', '.join(inside)} used different data {name!r} (fingerprints differ): "
                f"their spread mixes data and configuration."
            )
        versions = {h for g in sl.groups for h in g.data.get(name, []) if h is not None}
        if len(versions) > 1 and not inside:
            warnings.append(
                f"Groups used different data {name!r} ({len(versions)} versions by fingerprint): "
                f"differences may come from the data, not the configuration."
            )


def _tidy(slices: list[_Slice], label_params: list[str], param_columns: list[str], with_dataset: bool) -> Any:
    import pandas as pd

    rows = []
    for sl in slices:
        for g in sl.groups:
            for run_id, value, seed_key in zip(g.run_ids, g.values, g.seeds, strict=True):
                rows.append(
                    {
                        "metric": sl.metric,
                        **({"dataset": sl.dataset} if with_dataset else {}),
                        **dict(zip(param_columns, g.key, strict=True)),
                        "group": g.label,
                        "run_id": run_id,
                        "value": float(value),
                        "seed_key": seed_key,
                    }
                )
    return pd.DataFrame(rows)


def _across_datasets(
    cmp: Comparison, slices: list[_Slice], directions: dict[str, bool], alpha: float, dataset_name: str
) -> None:
    import numpy as np
    import pandas as pd

    from nbtrack.analysis import stats as st

    rank_rows, friedman_rows, nemenyi_rows = [], [], []
    for m in cmp.metrics:
        per_ds = {sl.dataset: {g.label: float(np.mean(g.values)) for g in sl.groups} for sl in slices if sl.metric == m}
        if len(per_ds) < 2:
            continue
        common = set.intersection(*(set(v) for v in per_ds.values()))
        every = set.union(*(set(v) for v in per_ds.values()))
        order = [g.label for sl in slices if sl.metric == m for g in sl.groups]
        labels = [lab for lab in dict.fromkeys(order) if lab in common]
        if every - common:
            cmp.warnings.append(
                f"{m}: {', '.join(sorted(every - common))} not run on every {dataset_name}: left out "
                f"of the Friedman test."
            )
        if len(labels) < 2:
            continue
        scores = np.array([[per_ds[d][lab] for lab in labels] for d in per_ds])
        res = st.friedman(scores, directions[m], alpha)
        friedman_rows.append(
            {
                "metric": m,
                "n_datasets": res.n_datasets,
                "k": res.k,
                "statistic": res.statistic,
                "p_value": res.p_value,
                "iman_davenport": res.iman_davenport,
                "p_value_f": res.p_value_f,
                "cd": res.cd,
                "alpha": alpha,
            }
        )
        for lab, r in sorted(zip(labels, res.average_ranks, strict=True), key=lambda t: t[1]):
            rank_rows.append({"metric": m, "group": lab, "avg_rank": float(r)})
        for i in range(len(labels)):
            for j in range(i + 1, len(labels)):
                nemenyi_rows.append(
                    {
                        "metric": m,
                        "group": labels[i],
                        "other": labels[j],
                        "rank_diff": float(res.average_ranks[i] - res.average_ranks[j]),
                        "p_value": float(res.nemenyi_p[i, j]),
                        "significant": bool(abs(res.average_ranks[i] - res.average_ranks[j]) >= res.cd),
                    }
                )
        if res.n_datasets < 5:
            cmp.warnings.append(f"{m}: only {res.n_datasets} data sets: the Friedman test has little power below 5.")
    if friedman_rows:
        cmp.friedman = pd.DataFrame(friedman_rows)
        cmp.ranks = pd.DataFrame(rank_rows)
        cmp.nemenyi = pd.DataFrame(nemenyi_rows)
