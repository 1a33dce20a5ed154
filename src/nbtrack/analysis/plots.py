"""Plots of a :class:`~nbtrack.analysis.comparison.Comparison`, as matplotlib Figures.

Figures are built with the object API (``matplotlib.figure.Figure``), never pyplot's global state, so they
work under any backend (Agg included), in threads, and do not pile up in pyplot's figure list. matplotlib is
imported only when a plot is asked for. In a notebook, a returned Figure displays like any other; elsewhere
``fig.savefig("out.png")``.
"""

from __future__ import annotations

import math
from typing import Any

from nbtrack.analysis.grouping import slice_rows
from nbtrack.analysis.keys import format_value, sort_key
from nbtrack.analysis.metrics import short_metric

_VERDICT_COLORS = {
    "better": "#1a7f37",
    "worse": "#cf222e",
    "no difference": "#57606a",
    "inconclusive": "#bf8700",
    "needs more runs": "#bf8700",
}
_GROUP_COLORS = [
    "#0969da",
    "#cf222e",
    "#1a7f37",
    "#8250df",
    "#bf8700",
    "#1b7c83",
    "#bc4c00",
    "#6e7781",
    "#a40e26",
    "#0550ae",
]


def _figure(n_panels: int, width: float = 5.0, height: float = 3.6, ncols: int | None = None) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    ncols = ncols or min(n_panels, 3)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _panels(cmp: Any, metric: str | None, dataset: Any = None) -> list[tuple[str, Any]]:
    """(metric, data set) pairs to draw, in the comparison's order."""
    metrics = [short_metric(metric)] if metric is not None else list(cmp.metrics)
    unknown = [m for m in metrics if m not in cmp.metrics]
    if unknown:
        raise ValueError(f"metric {unknown[0]!r} is not in this comparison ({', '.join(cmp.metrics)})")
    out = []
    for m in metrics:
        for ds in cmp.datasets(m):
            if dataset is None or ds == dataset:
                out.append((m, ds))
    return out


def _title(cmp: Any, metric: str, dataset: Any) -> str:
    arrow = "higher" if cmp.directions[metric] else "lower"
    title = f"{metric} ({arrow} is better)"
    return title if dataset is None else f"{title}, {cmp.dataset_name}={dataset}"


def box(cmp: Any, metric: str | None = None, dataset: Any = None) -> Any:
    """Per group: a box plot of the runs, every run as a jittered point, and the mean with its interval."""
    import numpy as np

    panels = _panels(cmp, metric, dataset)
    fig, axes = _figure(len(panels))
    rng = np.random.default_rng(0)  # jitter only; fixed so figures are reproducible
    for ax, (m, ds) in zip(axes, panels, strict=True):
        groups = slice_rows(cmp.groups, m, ds)
        runs = slice_rows(cmp.runs, m, ds)
        labels = list(groups["group"])
        data = [runs.loc[runs["group"] == lab, "value"].to_numpy() for lab in labels]
        pos = np.arange(1, len(labels) + 1)
        for p, values in zip(pos, data, strict=True):
            _draw_box(ax, float(p), values)
        for p, values in zip(pos, data, strict=True):
            ax.scatter(
                p + rng.uniform(-0.12, 0.12, len(values)),
                values,
                s=14,
                alpha=0.7,
                color="#0969da",
                zorder=3,
                linewidths=0,
            )
        means = groups["mean"].to_numpy(dtype=float)
        lo = groups["ci_low"].to_numpy(dtype=float)
        hi = groups["ci_high"].to_numpy(dtype=float)
        ax.errorbar(
            pos + 0.32,
            means,
            yerr=[means - lo, hi - means],
            fmt="D",
            color="#cf222e",
            ms=4,
            capsize=3,
            label=f"mean, {cmp.confidence:.0%} CI",
        )
        ax.set_xticks(
            pos,
            [f"{lab}\n(reference)" if ref else lab for lab, ref in zip(labels, groups["is_reference"], strict=True)],
            rotation=30 if max(map(len, labels), default=0) > 12 else 0,
            ha="right" if max(map(len, labels), default=0) > 12 else "center",
        )
        ax.set_ylabel(m)
        ax.set_title(_title(cmp, m, ds), fontsize=10)
        ax.legend(loc="best", fontsize=8, frameon=False)
        ax.grid(axis="y", alpha=0.3)
    return fig


def _draw_box(ax: Any, x: float, values: Any, width: float = 0.45) -> None:
    """A Tukey box (quartiles, median, whiskers to the furthest run within 1.5 IQR) drawn with plain lines:
    ``Axes.boxplot`` reads every rcParam, which imports pyplot to resolve the backend."""
    import numpy as np

    v = np.sort(np.asarray(values, dtype=float))
    if not v.size:
        return
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    iqr = q3 - q1
    low = v[v >= q1 - 1.5 * iqr].min()
    high = v[v <= q3 + 1.5 * iqr].max()
    h = width / 2
    grey = "#8c959f"
    ax.plot([x - h, x + h, x + h, x - h, x - h], [q1, q1, q3, q3, q1], color=grey, lw=1)
    ax.plot([x - h, x + h], [med, med], color="#24292f", lw=1.5)
    ax.plot([x, x], [q3, high], color=grey, lw=1)
    ax.plot([x, x], [q1, low], color=grey, lw=1)
    ax.plot([x - h / 2, x + h / 2], [high, high], color=grey, lw=1)
    ax.plot([x - h / 2, x + h / 2], [low, low], color=grey, lw=1)


def diff(cmp: Any, metric: str | None = None, dataset: Any = None) -> Any:
    """Each group's difference of means from the reference with its interval, colored by verdict."""
    import numpy as np

    panels = _panels(cmp, metric, dataset)
    most = max((len(slice_rows(cmp.pairs, m, ds)) for m, ds in panels), default=1)
    fig, axes = _figure(len(panels), height=1.4 + 0.35 * most)
    for ax, (m, ds) in zip(axes, panels, strict=True):
        pairs = slice_rows(cmp.pairs, m, ds)
        y = np.arange(len(pairs))[::-1]
        for yy, row in zip(y, pairs.to_dict(orient="records"), strict=True):
            color = _VERDICT_COLORS.get(row["verdict"], "#57606a")
            lo, hi, d = row["diff_ci_low"], row["diff_ci_high"], row["diff"]
            if all(map(math.isfinite, (lo, hi, d))):
                ax.plot([lo, hi], [yy, yy], color=color, lw=2.5, solid_capstyle="butt")
            ax.plot([d], [yy], "o", color=color, ms=6)
            ax.annotate(
                row["verdict"],
                (1.0, yy),
                xycoords=("axes fraction", "data"),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color=color,
            )
        ax.axvline(0, color="#8c959f", lw=1)
        ax.set_ylim(-0.7, max(len(pairs) - 0.3, 0.7))
        ax.set_yticks(y, list(pairs["group"]))
        ref = pairs["reference"].iloc[0] if len(pairs) else ""
        ax.set_xlabel(f"mean difference from {ref} ({cmp.confidence:.0%} CI)")
        ax.set_title(_title(cmp, m, ds), fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    return fig


def curves(cmp: Any, metric: str | None = None, series: str | None = None, dataset: Any = None) -> Any:
    """Learning curves from the runs' step series: per group the mean over runs and its t interval band.
    ``series`` names the logged series (default: the metric itself)."""
    import numpy as np
    import pandas as pd
    from scipy import stats

    from nbtrack.query.search import get_run

    panels = _panels(cmp, metric, dataset)
    fig, axes = _figure(len(panels), width=5.5)
    for ax, (m, ds) in zip(axes, panels, strict=True):
        name = series or m
        runs = slice_rows(cmp.runs, m, ds)
        drawn = 0
        for k, (label, members) in enumerate(runs.groupby("group", sort=False)):
            curves_ = []
            for run_id in members["run_id"]:
                s = get_run(run_id, store=cmp.store).series
                s = s[s["name"] == name]
                if len(s):
                    curves_.append(s.groupby("step")["value"].last())
            if not curves_:
                continue
            table = pd.concat(curves_, axis=1).sort_index()
            steps = table.index.to_numpy()
            n = table.notna().sum(axis=1).to_numpy()
            mean = table.mean(axis=1).to_numpy()
            sd = table.std(axis=1, ddof=1).to_numpy()
            with np.errstate(invalid="ignore", divide="ignore"):
                half = stats.t.ppf(0.5 + cmp.confidence / 2, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
            half = np.where(n >= 2, half, np.nan)
            color = _GROUP_COLORS[k % len(_GROUP_COLORS)]
            ax.plot(
                steps,
                mean,
                color=color,
                lw=1.8,
                marker="o" if len(steps) < 3 else None,
                label=f"{label} (n={len(curves_)})",
            )
            ax.fill_between(steps, mean - half, mean + half, color=color, alpha=0.18, linewidth=0)
            drawn += 1
        if not drawn:
            ax.text(0.5, 0.5, f"no step series named {name!r}", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("step")
        ax.set_ylabel(name)
        ax.set_title(_title(cmp, m, ds) + f": mean, {cmp.confidence:.0%} CI", fontsize=10)
        if drawn:
            ax.legend(fontsize=8, frameon=False)
        ax.grid(alpha=0.3)
    return fig


def parallel(cmp: Any, metric: str | None = None, dataset: Any = None) -> Any:
    """Parallel coordinates: one line per run through its params and the metric, colored by the metric
    (the same color means equally good whatever the metric's direction)."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    panels = _panels(cmp, metric, dataset)
    fig, axes = _figure(len(panels), width=6.0, ncols=1 if len(panels) > 1 else None)
    for ax, (m, ds) in zip(axes, panels, strict=True):
        runs = slice_rows(cmp.runs, m, ds)
        params = list(cmp.params)
        columns = [*params, m]
        values = runs["value"].to_numpy(dtype=float)
        ys = []
        ticks: list[tuple[list[float], list[str]]] = []
        for p in params:
            col = [None if (isinstance(v, float) and math.isnan(v)) else v for v in runs[p]]
            levels = sorted(set(col), key=sort_key)
            where = {v: (i / (len(levels) - 1) if len(levels) > 1 else 0.5) for i, v in enumerate(levels)}
            ys.append([where[v] for v in col])
            ticks.append(([where[v] for v in levels], [format_value(v) for v in levels]))
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        span = (hi - lo) or 1.0
        ys.append(list((values - lo) / span))
        ticks.append(([0.0, 0.5, 1.0], [f"{lo:.4g}", f"{lo + span / 2:.4g}", f"{hi:.4g}"]))
        y = np.array(ys).T  # runs x axes
        cmap = colormaps["viridis"] if cmp.directions[m] else colormaps["viridis_r"]
        norm = Normalize(lo, hi)
        x = np.arange(len(columns))
        for row, v in zip(y, values, strict=True):
            ax.plot(x, row, color=cmap(norm(v)), alpha=0.6, lw=1.2)
        for xi, (positions, labels) in zip(x, ticks, strict=True):
            ax.axvline(xi, color="#8c959f", lw=1)
            for pos, lab in zip(positions, labels, strict=True):
                ax.annotate(lab, (xi, pos), xytext=(3, 0), textcoords="offset points", fontsize=7, va="center")
        ax.set_xticks(x, columns)
        ax.set_yticks([])
        ax.set_xlim(-0.1, len(columns) - 0.6)
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(_title(cmp, m, ds), fontsize=10)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
    return fig


def matrix(cmp: Any, metric: str | None = None, dataset: Any = None) -> Any:
    """P(row better than column) for every pair of groups: the probability that a run of the row's
    configuration beats a run of the column's in the metric's direction (ties half, failures worst), the
    ``p_better`` of the pairs table, so the column of the reference reads as that table."""
    import numpy as np

    from nbtrack.analysis.significance import p_better

    panels = _panels(cmp, metric, dataset)
    fig, axes = _figure(len(panels), width=5.0, height=4.4)
    for ax, (m, ds) in zip(axes, panels, strict=True):
        runs = slice_rows(cmp.runs, m, ds)
        groups = slice_rows(cmp.groups, m, ds)
        labels = list(groups["group"])
        hib = bool(cmp.directions[m])
        failed = list(groups["n_failed"]) if "n_failed" in groups else [0] * len(labels)
        worst = -math.inf if hib else math.inf
        vals = [
            np.concatenate([runs.loc[runs["group"] == lab, "value"].to_numpy(dtype=float), np.full(int(f), worst)])
            for lab, f in zip(labels, failed, strict=True)
        ]
        k = len(labels)
        p = np.full((k, k), 0.5)
        for i in range(k):
            for j in range(k):
                if i != j:
                    p[i, j] = p_better(vals[i], vals[j], hib)
        image = ax.imshow(p, cmap="RdBu", vmin=0, vmax=1)
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    f"{p[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if abs(p[i, j] - 0.5) > 0.3 else "#24292f",
                )
        ax.set_xticks(range(k), labels, rotation=45, ha="right")
        ax.set_yticks(range(k), labels)
        ax.set_title(f"P(row better than column): {_title(cmp, m, ds)}", fontsize=10)
        fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def cd(cmp: Any, metric: str | None = None) -> Any:
    """Critical-difference diagram (Demsar 2006, fig. 1): average ranks across data sets, best on the left;
    a bar joins configurations whose ranks differ by less than the Nemenyi critical difference."""
    if cmp.ranks is None or cmp.friedman is None:
        raise ValueError(
            "a critical-difference diagram needs runs on several data sets: tag runs with a dataset "
            "(or pass dataset=) and compare again"
        )
    metrics = [short_metric(metric)] if metric else list(cmp.friedman["metric"])
    rows = math.ceil(int(cmp.friedman["k"].max()) / 2)
    fig, axes = _figure(len(metrics), width=7.0, height=1.7 + 0.3 * rows, ncols=1)
    for ax, m in zip(axes, metrics, strict=True):
        ranks = cmp.ranks[cmp.ranks["metric"] == m]
        info = cmp.friedman[cmp.friedman["metric"] == m].iloc[0]
        draw_cd(ax, list(ranks["group"]), list(ranks["avg_rank"]), float(info["cd"]), int(info["k"]))
        ax.set_title(
            f"{m}: average ranks over {int(info['n_datasets'])} data sets "
            f"(Friedman p = {info['p_value']:.3g}, CD = {info['cd']:.3g} at alpha {info['alpha']:.2g})",
            fontsize=10,
        )
    return fig


def profile(cmp: Any, metric: str | None = None) -> Any:
    """Performance profiles across data sets (Agarwal et al. 2021): the fraction of each configuration's runs
    whose score, min-max normalized per data set, exceeds tau, with its stratified bootstrap band."""
    tasks = getattr(cmp, "tasks", None)
    if tasks is None or tasks.profiles is None:
        raise ValueError(
            "performance profiles need runs on several data sets: tag runs with a dataset (or pass dataset=) "
            "and compare again"
        )
    metrics = [short_metric(metric)] if metric else list(dict.fromkeys(tasks.profiles["metric"]))
    fig, axes = _figure(len(metrics))
    for ax, m in zip(axes, metrics, strict=True):
        rows = tasks.profiles[tasks.profiles["metric"] == m]
        for group, curve in rows.groupby("group", sort=False):
            (line,) = ax.plot(curve["tau"], curve["fraction"], lw=1.5, label=str(group))
            ax.fill_between(curve["tau"], curve["low"], curve["high"], color=line.get_color(), alpha=0.2, lw=0)
        ax.set_xlabel("normalized score tau (1 = best run on the data set)")
        ax.set_ylabel("fraction of runs > tau")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{m}: performance profiles", fontsize=10)
        ax.legend(fontsize=7)
    return fig


def cliques(ranks: list[float], cd_value: float) -> list[tuple[int, int]]:
    """Maximal runs (i, j) of rank-sorted methods whose average ranks differ by less than the critical
    difference, i.e. groups not told apart by the Nemenyi test."""
    order = sorted(range(len(ranks)), key=lambda i: ranks[i])
    r = [ranks[i] for i in order]
    out: list[tuple[int, int]] = []
    for i in range(len(r)):
        j = i
        while j + 1 < len(r) and r[j + 1] - r[i] < cd_value:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in out):
            out.append((i, j))
    return out


def draw_cd(ax: Any, labels: list[str], ranks: list[float], cd_value: float, k: int) -> None:
    """Draw a critical-difference diagram on ``ax`` (data coordinates: x = rank, y grows downward)."""
    order = sorted(range(len(ranks)), key=lambda i: ranks[i])
    names = [labels[i] for i in order]
    r = [ranks[i] for i in order]
    half = math.ceil(len(r) / 2)
    pad = 0.25 * (k - 1) + 1.2
    ax.set_xlim(1 - pad, k + pad)
    rows = max(half, len(r) - half)
    ax.set_ylim(1.2 + 0.5 * rows, -1.2)
    ax.axis("off")
    ax.plot([1, k], [0, 0], color="#24292f", lw=1)
    for t in range(1, k + 1):
        ax.plot([t, t], [0, -0.12], color="#24292f", lw=1)
        ax.text(t, -0.22, str(t), ha="center", va="bottom", fontsize=8)
    ax.plot([1, 1 + cd_value], [-0.75, -0.75], color="#cf222e", lw=2)
    ax.text(1 + cd_value / 2, -0.85, f"CD = {cd_value:.2f}", ha="center", va="bottom", fontsize=8, color="#cf222e")
    for i, (name, rank) in enumerate(zip(names, r, strict=True)):
        left = i < half
        row = i if left else len(r) - 1 - i
        y = 0.9 + 0.5 * row
        x_text = 1 - 0.15 if left else k + 0.15
        ax.plot([rank, rank, x_text], [0, y, y], color="#57606a", lw=0.8)
        ax.text(
            x_text + (-0.05 if left else 0.05),
            y,
            f"{name} ({rank:.2f})",
            ha="right" if left else "left",
            va="center",
            fontsize=8,
        )
    for level, (i, j) in enumerate(cliques(r, cd_value)):
        y = 0.25 + 0.12 * level
        ax.plot([r[i] - 0.03, r[j] + 0.03], [y, y], color="#24292f", lw=3, solid_capstyle="round")
