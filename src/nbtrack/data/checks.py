"""Data checks between two datasets.

``check_data(current, reference)`` compares two datasets, each given as a DataFrame (or Series), a
fingerprint (a :class:`~nbtrack.data.fingerprint.Fingerprint` or its record dict, with its profile), a file
or directory path, or ``"RUN_ID:name"`` (the input ``name`` of a recorded run). It returns a
:class:`DataCheckReport`:

- errors: a column added or removed, a column's logical type changed, a file's format changed (or the
  kind of input: a table against a file...);
- warnings, per column present on both sides with a profile: null share up by more than ``null_share``
  (0.05); mean shift ``|mean_cur - mean_ref| / std_ref`` above ``mean_shift`` (0.5); std ratio
  ``std_cur / std_ref`` outside ``std_ratio`` ([0.5, 2]); distribution drift. With the raw data of both
  sides at hand and at most ``small_sample`` (1,000) rows each, drift is tested: Kolmogorov-Smirnov for
  numeric columns, chi-square (contingency of the value counts) for categorical ones, drifting at
  p < ``p_value`` (0.05). Otherwise (more rows, or the raw data is gone) it is measured on the stored
  profiles: Wasserstein-1 distance divided by the reference std (``wasserstein``, 0.1, from the stored
  quantiles) for numeric columns, Jensen-Shannon distance (natural log, as ``scipy.spatial.distance
  .jensenshannon``; ``jensen_shannon``, 0.1, from the top values and an "other" bucket) for categorical
  ones, drifting at or above the threshold. When at least ``dataset_drift`` (0.5) of the compared
  columns drift, a ``dataset_drift`` warning is added.

Every finding names the column, the statistic, its value and the threshold it crossed.
The report is :mod:`nbtrack.data.findings`; declared expectations are :mod:`nbtrack.data.expect`; what
changed since the previous run (the summary line, the sidebar's drift) is :mod:`nbtrack.data.drift`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nbtrack.data.distances import category_distributions, jensen_shannon, wasserstein_from_quantiles
from nbtrack.data.findings import DataCheckReport, Finding, format_number
from nbtrack.data.inputs import Side, resolve_input
from nbtrack.data.profiling import is_categorical_type, is_numeric_type, numeric_values

# the comparison -----------------------------------------------------------------------------------


@dataclass
class _Thresholds:
    null_share: float
    mean_shift: float
    std_ratio: tuple[float, float]
    p_value: float
    wasserstein: float
    jensen_shannon: float
    dataset_drift: float
    small_sample: int


def check_data(
    current: Any,
    reference: Any,
    *,
    null_share: float = 0.05,
    mean_shift: float = 0.5,
    std_ratio: tuple[float, float] = (0.5, 2.0),
    p_value: float = 0.05,
    wasserstein: float = 0.1,
    jensen_shannon: float = 0.1,
    dataset_drift: float = 0.5,
    small_sample: int = 1000,
    store: Any = None,
) -> DataCheckReport:
    """Compare ``current`` with ``reference``; see the module documentation for the rules.

    Each side is a DataFrame or Series, a fingerprint (``Fingerprint`` or record dict with a profile), a
    file or directory path, or ``"RUN_ID:name"`` for an input of a recorded run (``store`` picks the
    store). Thresholds are the keyword arguments.
    """
    limits = _Thresholds(
        null_share,
        mean_shift,
        (std_ratio[0], std_ratio[1]),
        p_value,
        wasserstein,
        jensen_shannon,
        dataset_drift,
        small_sample,
    )
    cur = resolve_input(current, store, "current")
    ref = resolve_input(reference, store, "reference")
    report = DataCheckReport(current=cur.label, reference=ref.label)
    _compare(cur, ref, limits, report)
    return report


def _error(report: DataCheckReport, column: str | None, statistic: str, value: Any, message: str) -> None:
    report.findings.append(Finding("error", column, statistic, value, None, message))


def _warning(
    report: DataCheckReport, column: str | None, statistic: str, value: float, threshold: float, message: str
) -> None:
    report.findings.append(Finding("warning", column, statistic, value, threshold, message))


def _compare(cur: Side, ref: Side, limits: _Thresholds, report: DataCheckReport) -> None:
    rc, rr = cur.record, ref.record
    same_scheme = rc.get("algorithm") == rr.get("algorithm")
    if same_scheme and rc.get("hash") == rr.get("hash"):
        report.notes.append("identical content (same hash)")
        return
    if rc.get("kind") != rr.get("kind") and {rc.get("kind"), rr.get("kind")} != {"dataframe", "series"}:
        _error(
            report,
            None,
            "kind_changed",
            f"{rr.get('kind')} -> {rc.get('kind')}",
            f"the reference is a {rr.get('kind')}, the current data a {rc.get('kind')}",
        )
        return
    if rc.get("kind") == "file" and rc.get("format") != rr.get("format"):
        _error(
            report,
            None,
            "format_changed",
            f"{rr.get('format')} -> {rc.get('format')}",
            f"file format {rr.get('format')} in the reference, {rc.get('format')} now",
        )
    if rc.get("kind") == "ndarray":
        if rc.get("type") != rr.get("type"):
            _error(
                report,
                None,
                "type_changed",
                f"{rr.get('type')} -> {rc.get('type')}",
                f"array type {rr.get('type')} in the reference, {rc.get('type')} now",
            )
        if (rc.get("shape") or [])[1:] != (rr.get("shape") or [])[1:]:
            _error(
                report,
                None,
                "shape_changed",
                f"{rr.get('shape')} -> {rc.get('shape')}",
                f"array shape {rr.get('shape')} in the reference, {rc.get('shape')} now (rows aside)",
            )
    if rc.get("kind") == "directory":
        report.notes.append(f"files {rr.get('files')} -> {rc.get('files')}, size {rr.get('size')} -> {rc.get('size')}")
        return

    schema_c, schema_r = cur.schema(), ref.schema()
    if schema_c is not None and schema_r is not None and rc.get("kind") != "ndarray":
        for name, ltype in schema_r.items():
            if name not in schema_c:
                _error(
                    report, name, "column_removed", ltype, f"column {name!r} ({ltype}) is missing from the current data"
                )
        for name, ltype in schema_c.items():
            if name not in schema_r:
                _error(report, name, "column_added", ltype, f"column {name!r} ({ltype}) is not in the reference")
        for name, ltype in schema_c.items():
            if name in schema_r and schema_r[name] != ltype:
                _error(
                    report,
                    name,
                    "type_changed",
                    f"{schema_r[name]} -> {ltype}",
                    f"column {name!r}: type {schema_r[name]} in the reference, {ltype} now",
                )
        if list(schema_c) != list(schema_r) and set(schema_c) == set(schema_r):
            report.notes.append("the columns are in another order")

    if not same_scheme:
        report.notes.append(f"fingerprint schemes differ ({rr.get('algorithm')} vs {rc.get('algorithm')})")
    if cur.profile is None or ref.profile is None:
        missing = "current data" if cur.profile is None else "reference"
        if rc.get("kind") != "file":
            report.notes.append(f"the {missing} has no profile: statistics were not compared")
        return
    rows_c, rows_r = cur.profile.get("rows"), ref.profile.get("rows")
    if rows_c is not None and rows_r is not None and rows_c != rows_r:
        report.notes.append(f"rows {rows_r} -> {rows_c}")
    prof_c, prof_r = cur.column_profiles(), ref.column_profiles()
    for name, pr in prof_r.items():
        pc_ = prof_c.get(name)
        if pc_ is None or pc_.get("type") != pr.get("type"):
            continue
        _compare_column(name, pc_, pr, cur, ref, limits, report)
    if report.compared:
        share = len(report.drifted) / len(report.compared)
        if report.drifted and share >= limits.dataset_drift:
            _warning(
                report,
                None,
                "dataset_drift",
                share,
                limits.dataset_drift,
                f"dataset drift: {len(report.drifted)} of {len(report.compared)} compared columns drifted "
                f"({share:.2f} >= {limits.dataset_drift})",
            )


def _share(profile: Mapping[str, Any]) -> float | None:
    rows = profile.get("_rows")
    if not rows:
        return None
    return int(profile.get("nulls") or 0) / rows


def _compare_column(
    name: str,
    pc_: dict[str, Any],
    pr: dict[str, Any],
    cur: Side,
    ref: Side,
    limits: _Thresholds,
    report: DataCheckReport,
) -> None:
    share_c, share_r = _share(pc_), _share(pr)
    if share_c is not None and share_r is not None and share_c - share_r > limits.null_share:
        delta = share_c - share_r
        _warning(
            report,
            name,
            "null_share",
            delta,
            limits.null_share,
            f"column {name!r}: null share {share_r:.1%} -> {share_c:.1%} (+{delta:.3f} > {limits.null_share})",
        )
    ltype = pr.get("type") or ""
    if is_numeric_type(ltype):
        _compare_numeric(name, pc_, pr, cur, ref, limits, report)
    elif is_categorical_type(ltype):
        _compare_categorical(name, pc_, pr, cur, ref, limits, report)


def _ratio(value: float, scale: float) -> float:
    """value / scale, with a zero scale giving 0 for a zero value and infinity otherwise."""
    if scale > 0:
        return value / scale
    return 0.0 if value == 0 else math.inf


def _small(cur: Side, ref: Side, name: str, limits: _Thresholds) -> tuple[Any, Any] | None:
    """The raw columns of both sides when both are at hand and small enough for a statistical test."""
    a, b = cur.raw(name), ref.raw(name)
    if a is None or b is None or max(len(a), len(b)) > limits.small_sample:
        return None
    return a, b


def _scipy_stats() -> Any:
    try:
        from scipy import stats
    except ImportError:
        return None
    return stats


def _compare_numeric(
    name: str,
    pc_: dict[str, Any],
    pr: dict[str, Any],
    cur: Side,
    ref: Side,
    limits: _Thresholds,
    report: DataCheckReport,
) -> None:
    mean_c, mean_r, std_c, std_r = pc_.get("mean"), pr.get("mean"), pc_.get("std"), pr.get("std")
    if mean_c is None or mean_r is None or std_r is None or std_c is None:
        return
    delta = mean_c - mean_r
    shift = _ratio(abs(delta), std_r)
    if shift > limits.mean_shift:
        _warning(
            report,
            name,
            "mean_shift",
            shift,
            limits.mean_shift,
            f"column {name!r}: mean {format_number(mean_r)} -> {format_number(mean_c)}, {'+' if delta > 0 else '-'}"
            f"{format_number(shift)} reference std (> {limits.mean_shift})",
        )
    low, high = limits.std_ratio
    if std_r > 0:
        ratio = std_c / std_r
        if ratio < low or ratio > high:
            bound = low if ratio < low else high
            _warning(
                report,
                name,
                "std_ratio",
                ratio,
                bound,
                f"column {name!r}: std {format_number(std_r)} -> {format_number(std_c)}, "
                f"ratio {format_number(ratio)} outside [{low}, {high}]",
            )
    # distribution drift
    small = _small(cur, ref, name, limits)
    stats = _scipy_stats() if small is not None else None
    if small is not None and stats is not None:
        a, _ = numeric_values(small[0])
        b, _ = numeric_values(small[1])
        if len(a) == 0 or len(b) == 0:
            return
        result = stats.ks_2samp(b, a)
        report.compared.append(name)
        if result.pvalue < limits.p_value:
            report.drifted.append(name)
            _warning(
                report,
                name,
                "ks_p_value",
                float(result.pvalue),
                limits.p_value,
                f"column {name!r}: Kolmogorov-Smirnov p = {format_number(float(result.pvalue))} < {limits.p_value} "
                f"(statistic {format_number(float(result.statistic))})",
            )
        return
    if small is not None:
        report.notes.append("scipy is not installed: small samples measured by distance instead of tested")
    qc, qr = pc_.get("q"), pr.get("q")
    if not qc or not qr:
        return
    distance = wasserstein_from_quantiles(qc, qr)
    normed = _ratio(distance, std_r)
    report.compared.append(name)
    if normed >= limits.wasserstein:
        report.drifted.append(name)
        _warning(
            report,
            name,
            "wasserstein_norm",
            normed,
            limits.wasserstein,
            f"column {name!r}: Wasserstein distance / reference std = {format_number(normed)} >= {limits.wasserstein}",
        )


def _compare_categorical(
    name: str,
    pc_: dict[str, Any],
    pr: dict[str, Any],
    cur: Side,
    ref: Side,
    limits: _Thresholds,
    report: DataCheckReport,
) -> None:
    small = _small(cur, ref, name, limits)
    stats = _scipy_stats() if small is not None else None
    if small is not None and stats is not None:
        import numpy as np
        import pandas as pd

        counts_c = pd.Series(np.asarray(small[0], dtype=object)).dropna().map(str).value_counts()
        counts_r = pd.Series(np.asarray(small[1], dtype=object)).dropna().map(str).value_counts()
        keys = sorted(set(counts_c.index) | set(counts_r.index))
        if not keys or counts_c.sum() == 0 or counts_r.sum() == 0:
            return
        report.compared.append(name)
        if len(keys) < 2:
            return
        table = np.array([[counts_r.get(k, 0) for k in keys], [counts_c.get(k, 0) for k in keys]])
        result = stats.chi2_contingency(table)
        p = float(result.pvalue)
        if p < limits.p_value:
            report.drifted.append(name)
            _warning(
                report,
                name,
                "chi2_p_value",
                p,
                limits.p_value,
                f"column {name!r}: chi-square p = {format_number(p)} < {limits.p_value} "
                f"(statistic {format_number(float(result.statistic))}, {len(keys)} values)",
            )
        return
    if small is not None:
        report.notes.append("scipy is not installed: small samples measured by distance instead of tested")
    if not pc_.get("top") and not pr.get("top"):
        return
    _, counts_r, counts_c = category_distributions(pr, pc_)
    if counts_r.sum() == 0 or counts_c.sum() == 0:
        return
    distance = jensen_shannon(counts_r, counts_c)
    report.compared.append(name)
    if distance >= limits.jensen_shannon:
        report.drifted.append(name)
        _warning(
            report,
            name,
            "jensen_shannon",
            distance,
            limits.jensen_shannon,
            f"column {name!r}: Jensen-Shannon distance {format_number(distance)} >= {limits.jensen_shannon}",
        )


# expectations -------------------------------------------------------------------------------------
