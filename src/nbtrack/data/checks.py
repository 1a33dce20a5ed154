"""Data checks between two datasets, declared expectations, and the data notes of the summary line.

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
``expect(df, schema=...)`` (or ``reference="RUN_ID:name"``) raises :class:`DataExpectationError` with
every problem listed, so a notebook cell fails early with a clear message.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbtrack.data.profiling import is_categorical_type, is_numeric_type
from nbtrack.errors import DataExpectationError

SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class Finding:
    """One problem found by :func:`check_data`."""

    severity: str  # "error" or "warning"
    column: str | None  # None for the whole dataset
    statistic: str
    value: Any
    threshold: Any
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "column": self.column,
            "statistic": self.statistic,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
        }


def _num(value: Any) -> str:
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.3g}"
    return "" if value is None else str(value)


@dataclass
class DataCheckReport:
    """What :func:`check_data` found: ``errors``, ``warnings``, ``frame``, and text/HTML renderings."""

    current: str
    reference: str
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    compared: list[str] = field(default_factory=list)  # columns whose distributions were compared
    drifted: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """No errors and no warnings."""
        return not self.findings

    @property
    def dataset_drift(self) -> bool:
        return any(f.statistic == "dataset_drift" for f in self.findings)

    @property
    def frame(self) -> Any:
        """The findings as a DataFrame with the columns severity, column, statistic, value, threshold."""
        import pandas as pd

        columns = ["severity", "column", "statistic", "value", "threshold"]
        rows = [[f.severity, f.column, f.statistic, f.value, f.threshold] for f in self.findings]
        return pd.DataFrame(rows, columns=columns)

    def to_text(self) -> str:
        head = (
            f"nbtrack data check: {self.current} vs {self.reference}: "
            f"{len(self.errors)} error{'s' * (len(self.errors) != 1)}, "
            f"{len(self.warnings)} warning{'s' * (len(self.warnings) != 1)}"
        )
        lines = [head]
        for f in self.findings:
            lines.append(f"  {f.severity.upper():<7} {f.message}")
        lines.extend(f"  note: {note}" for note in self.notes)
        if not self.findings:
            lines.append("  no differences beyond the thresholds")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        esc = html.escape
        colors = {"error": "#cf222e", "warning": "#9a6700"}
        head = (
            f"<b>nbtrack data check</b>: <code>{esc(self.current)}</code> vs <code>{esc(self.reference)}</code>"
            f" &middot; {len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        )
        rows = []
        for f in self.findings:
            color = colors.get(f.severity, "#57606a")
            cells = [f'<td style="color:{color};font-weight:600">{esc(f.severity)}</td>']
            cells += [
                f"<td>{esc(_num(v) if not isinstance(v, str) else v)}</td>"
                for v in (f.column or "", f.statistic, f.value, f.threshold)
            ]
            cells.append(f"<td>{esc(f.message)}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        table = ""
        if rows:
            header = "".join(
                f"<th>{h}</th>" for h in ("severity", "column", "statistic", "value", "threshold", "message")
            )
            table = f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        else:
            table = "<div>no differences beyond the thresholds</div>"
        notes = "".join(f"<div><i>note:</i> {esc(n)}</div>" for n in self.notes)
        return f'<div class="nbtrack-datacheck" style="font-size:12px"><div>{head}</div>{table}{notes}</div>'


# distances --------------------------------------------------------------------------------------


def wasserstein_distance(u: Any, v: Any) -> float:
    """Wasserstein-1 distance between the empirical distributions of two samples (as scipy.stats computes it)."""
    import numpy as np

    u = np.sort(np.asarray(u, dtype=np.float64))
    v = np.sort(np.asarray(v, dtype=np.float64))
    if len(u) == 0 or len(v) == 0:
        raise ValueError("both samples must be non-empty")
    points = np.sort(np.concatenate([u, v]))
    widths = np.diff(points)
    cdf_u = np.searchsorted(u, points[:-1], side="right") / len(u)
    cdf_v = np.searchsorted(v, points[:-1], side="right") / len(v)
    return float(np.sum(np.abs(cdf_u - cdf_v) * widths))


def wasserstein_from_quantiles(qa: Sequence[float], qb: Sequence[float]) -> float:
    """Wasserstein-1 distance from two quantile functions sampled at evenly spaced probabilities.

    W1 is the integral over p in [0, 1] of |Qa(p) - Qb(p)|; the quantile functions are taken as linear
    between the stored points and the integral of the absolute difference is exact for them.
    """
    import numpy as np

    a = np.asarray(qa, dtype=np.float64)
    b = np.asarray(qb, dtype=np.float64)
    if len(a) != len(b):  # profiles of different detail: resample on the coarser grid
        k = min(len(a), len(b))
        grid = np.linspace(0.0, 1.0, k)
        a = np.interp(grid, np.linspace(0.0, 1.0, len(a)), a)
        b = np.interp(grid, np.linspace(0.0, 1.0, len(b)), b)
    if len(a) < 2:
        return float(abs(a[0] - b[0])) if len(a) else 0.0
    d = a - b
    left, right = d[:-1], d[1:]
    total = np.abs(left) + np.abs(right)
    same_sign = left * right >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(total > 0, (left**2 + right**2) / (2 * total), 0.0)
    area = np.where(same_sign, total / 2, crossing)
    return float(np.sum(area) / (len(a) - 1))


def jensen_shannon(p: Sequence[float], q: Sequence[float], base: float | None = None) -> float:
    """Jensen-Shannon distance between two discrete distributions (as scipy.spatial.distance.jensenshannon)."""
    import numpy as np

    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / p.sum()
    q = q / q.sum()
    m = (p + q) / 2

    def kl(x: Any) -> float:
        keep = x > 0
        return float(np.sum(x[keep] * np.log(x[keep] / m[keep])))

    js = (kl(p) + kl(q)) / 2
    if base is not None:
        js /= math.log(base)
    return math.sqrt(max(js, 0.0))


def category_distributions(ref: Mapping[str, Any], cur: Mapping[str, Any]) -> tuple[list[str], Any, Any]:
    """(keys, reference counts, current counts) over the top values of two column profiles plus "other".

    A value listed on one side only is kept when the other side's list is complete (its count there is 0),
    else it joins the "other" bucket on both sides, so a value that just missed one list adds no distance.
    """
    import numpy as np

    def side(profile: Mapping[str, Any]) -> tuple[dict[str, int], int]:
        top = {str(k): int(c) for k, c in profile.get("top") or []}
        nonnull = int(profile.get("_nonnull", sum(top.values())))
        return top, nonnull

    top_r, n_r = side(ref)
    top_c, n_c = side(cur)
    complete_r = sum(top_r.values()) >= n_r
    complete_c = sum(top_c.values()) >= n_c
    keys = []
    for key in sorted(top_r.keys() | top_c.keys()):
        if (key in top_r or complete_r) and (key in top_c or complete_c):
            keys.append(key)
    counts_r = [top_r.get(k, 0) for k in keys]
    counts_c = [top_c.get(k, 0) for k in keys]
    other_r, other_c = n_r - sum(counts_r), n_c - sum(counts_c)
    if other_r > 0 or other_c > 0:
        keys.append("\x00other")
        counts_r.append(max(other_r, 0))
        counts_c.append(max(other_c, 0))
    return keys, np.asarray(counts_r, dtype=np.float64), np.asarray(counts_c, dtype=np.float64)


# sides ----------------------------------------------------------------------------------------------


@dataclass
class _Side:
    label: str
    record: dict[str, Any]
    frame: Any = None  # raw data, when given as a DataFrame

    @property
    def profile(self) -> dict[str, Any] | None:
        return self.record.get("profile")

    def schema(self) -> dict[str, str] | None:
        """{column name: logical type}, or None when unknown."""
        record = self.record
        columns = record.get("columns")
        if columns is None and record.get("kind") == "file":
            columns = ((self.profile or {}).get("schema") or {}).get("columns")
        if columns is None:
            return None
        schema: dict[str, str] = {}
        for column in columns:
            schema.setdefault(str(column.get("name")), column.get("type"))
        return schema

    def column_profiles(self) -> dict[str, dict[str, Any]]:
        profile = self.profile or {}
        rows = profile.get("rows")
        out: dict[str, dict[str, Any]] = {}
        for column in profile.get("columns") or []:
            entry = dict(column)
            if rows is not None:
                entry["_rows"] = rows
                entry["_nonnull"] = rows - int(column.get("nulls") or 0)
            out.setdefault(str(column.get("name")), entry)
        return out

    def raw(self, name: str) -> Any:
        if self.frame is None:
            return None
        for i, column in enumerate(self.frame.columns):
            if str(column) == name:
                return self.frame.iloc[:, i]
        return None


def _run_input(text: str, store: Any) -> dict[str, Any]:
    from nbtrack.query.search import get_run

    run_id, _, name = text.partition(":")
    run = get_run(run_id.strip(), store=store)
    data = run.data or {}
    if not name:
        if len(data) != 1:
            raise KeyError(
                f"run {run.id} has {len(data)} data inputs ({', '.join(sorted(data)) or 'none'}): "
                f"name one as '{run.id}:NAME'"
            )
        name = next(iter(data))
    if name not in data:
        raise KeyError(f"run {run.id} has no data input {name!r}; it has: {', '.join(sorted(data)) or 'none'}")
    return dict(data[name])


def _resolve(obj: Any, store: Any, what: str) -> _Side:
    from nbtrack.data.fingerprint import Fingerprint, fingerprint

    if isinstance(obj, Fingerprint):
        return _Side(f"{what} fingerprint", obj.to_dict())
    if isinstance(obj, Mapping):
        if "hash" not in obj:
            raise ValueError(f"the {what} mapping is not a fingerprint record (no 'hash')")
        return _Side(f"{what} fingerprint", dict(obj))
    module = type(obj).__module__
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(obj, (pd.DataFrame, pd.Series)):
            frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
            return _Side(f"{what} DataFrame", fingerprint(obj, profile=True).to_dict(), frame)
    if module == "numpy":
        return _Side(f"{what} array", fingerprint(obj, profile=True).to_dict())
    if isinstance(obj, os.PathLike) or (isinstance(obj, str) and Path(obj).expanduser().exists()):
        return _Side(str(obj), fingerprint(obj, profile=True).to_dict())
    if isinstance(obj, str):
        return _Side(obj, _run_input(obj, store))
    raise TypeError(f"cannot check {type(obj).__name__}: give a DataFrame, a fingerprint, a path or 'RUN_ID:name'")


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
        null_share, mean_shift, tuple(std_ratio), p_value, wasserstein, jensen_shannon, dataset_drift, small_sample
    )
    cur = _resolve(current, store, "current")
    ref = _resolve(reference, store, "reference")
    report = DataCheckReport(current=cur.label, reference=ref.label)
    _compare(cur, ref, limits, report)
    return report


def _error(report: DataCheckReport, column: str | None, statistic: str, value: Any, message: str) -> None:
    report.findings.append(Finding("error", column, statistic, value, None, message))


def _warning(
    report: DataCheckReport, column: str | None, statistic: str, value: float, threshold: float, message: str
) -> None:
    report.findings.append(Finding("warning", column, statistic, value, threshold, message))


def _compare(cur: _Side, ref: _Side, limits: _Thresholds, report: DataCheckReport) -> None:
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
    cur: _Side,
    ref: _Side,
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


def _small(cur: _Side, ref: _Side, name: str, limits: _Thresholds) -> tuple[Any, Any] | None:
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
    cur: _Side,
    ref: _Side,
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
            f"column {name!r}: mean {_num(mean_r)} -> {_num(mean_c)}, {'+' if delta > 0 else '-'}"
            f"{_num(shift)} reference std (> {limits.mean_shift})",
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
                f"column {name!r}: std {_num(std_r)} -> {_num(std_c)}, ratio {_num(ratio)} outside [{low}, {high}]",
            )
    # distribution drift
    small = _small(cur, ref, name, limits)
    stats = _scipy_stats() if small is not None else None
    if small is not None and stats is not None:
        from nbtrack.data.profiling import numeric_values

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
                f"column {name!r}: Kolmogorov-Smirnov p = {_num(float(result.pvalue))} < {limits.p_value} "
                f"(statistic {_num(float(result.statistic))})",
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
            f"column {name!r}: Wasserstein distance / reference std = {_num(normed)} >= {limits.wasserstein}",
        )


def _compare_categorical(
    name: str,
    pc_: dict[str, Any],
    pr: dict[str, Any],
    cur: _Side,
    ref: _Side,
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
                f"column {name!r}: chi-square p = {_num(p)} < {limits.p_value} "
                f"(statistic {_num(float(result.statistic))}, {len(keys)} values)",
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
            f"column {name!r}: Jensen-Shannon distance {_num(distance)} >= {limits.jensen_shannon}",
        )


# expectations -------------------------------------------------------------------------------------


_INTEGERS = frozenset(f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64))
_FLOATS = frozenset(("float16", "float32", "float64"))


def _is_family(actual: str, base: str) -> bool:
    return actual == base or actual.startswith((f"{base}[", f"{base}@"))


_FAMILIES: dict[str, Any] = {
    "int": lambda t: t in _INTEGERS,
    "float": lambda t: t in _FLOATS,
    "number": lambda t: t in _INTEGERS or t in _FLOATS,
    "string": lambda t: t == "string",
    "bool": lambda t: t == "bool",
    "category": lambda t: t.startswith("category["),
    "datetime": lambda t: _is_family(t, "datetime"),
    "timedelta": lambda t: _is_family(t, "timedelta"),
    "object": lambda t: t == "object",
}
_ALIASES = {
    "integer": "int",
    "numeric": "number",
    "str": "string",
    "text": "string",
    "boolean": "bool",
    "categorical": "category",
}
_PYTHON_TYPES = {int: "int", float: "float", str: "string", bool: "bool"}


def _expected_type(spec: Any) -> tuple[str, Any]:
    """(shown name, predicate on logical types) for a type in an expectation."""
    spec = _PYTHON_TYPES.get(spec, spec) if isinstance(spec, type) else spec
    if isinstance(spec, str):
        family = _ALIASES.get(spec.lower(), spec.lower())
        if family in _FAMILIES:
            return family, _FAMILIES[family]
    import pandas as pd

    from nbtrack.data.encoding import logical_type

    try:
        exact = logical_type(pd.Series([], dtype=spec))
    except (TypeError, ValueError) as exc:
        if not isinstance(spec, str):
            raise TypeError(f"unknown column type in the expectation: {spec!r}") from exc
        exact = spec  # a logical type name such as "category[string]"
    return exact, lambda t: t == exact


def _type_ok(actual: str, spec: Any) -> tuple[bool, str]:
    shown, accepts = _expected_type(spec)
    return accepts(actual), shown


def _schema_from(reference: Any, store: Any) -> dict[str, Any]:
    side = _resolve(reference, store, "reference")
    schema = side.schema()
    if schema is None:
        raise ValueError(f"the reference {side.label} has no column schema")
    return schema


def expect(
    data: Any,
    schema: Any = None,
    *,
    reference: Any = None,
    allow_extra_columns: bool = True,
    name: str | None = None,
    store: Any = None,
) -> Any:
    """Check ``data`` (a DataFrame or Series) against an expected schema; return it unchanged or raise.

    ``schema`` maps column names to a type: a logical type (``"float64"``, ``"string"``,
    ``"category[string]"``), a family (``"int"``, ``"float"``, ``"number"``, ``"string"``, ``"bool"``,
    ``"category"``, ``"datetime"``), a Python type (``int``, ``float``, ``str``, ``bool``) or a numpy/pandas
    dtype; or to a dict with ``type`` and any of ``nullable`` (False: no missing values), ``min``,
    ``max`` and ``values`` (the allowed values). A list of names only requires the columns. With
    ``reference`` (a DataFrame, a fingerprint, or ``"RUN_ID:name"``), the schema is the reference's
    columns and logical types. Raises :class:`DataExpectationError` listing every problem.
    """
    import pandas as pd

    from nbtrack.data.encoding import logical_type

    label = name or "data"
    if schema is None and reference is None:
        raise TypeError("expect() needs a schema or a reference")
    if schema is None:
        schema = _schema_from(reference, store)
    elif isinstance(schema, Mapping) and "hash" in schema:
        schema = _schema_from(schema, store)
    if not isinstance(schema, Mapping):
        schema = {str(column): None for column in schema}
    frame = data.to_frame() if isinstance(data, pd.Series) else data
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expect() checks a DataFrame or Series, not {type(data).__name__}")
    positions = {}
    for i, column in enumerate(frame.columns):
        positions.setdefault(str(column), i)
    problems: list[str] = []
    for column, spec in schema.items():
        column = str(column)
        rules = dict(spec) if isinstance(spec, Mapping) else {"type": spec}
        if column not in positions:
            wanted = f" (expected {_expected_type(rules['type'])[0]})" if rules.get("type") is not None else ""
            problems.append(f"column {column!r} is missing{wanted}")
            continue
        series = frame.iloc[:, positions[column]]
        if rules.get("type") is not None:
            actual = logical_type(series)
            ok, shown = _type_ok(actual, rules["type"])
            if not ok:
                problems.append(f"column {column!r} has type {actual}, expected {shown}")
                continue
        if rules.get("nullable") is False:
            nulls = int(series.isna().sum())
            if nulls:
                problems.append(f"column {column!r} has {nulls} missing value{'s' * (nulls != 1)}, expected none")
        if rules.get("min") is not None:
            below = int((series < rules["min"]).sum())
            if below:
                problems.append(
                    f"column {column!r} has {below} value{'s' * (below != 1)} below {rules['min']!r} "
                    f"(min {series.min()!r})"
                )
        if rules.get("max") is not None:
            above = int((series > rules["max"]).sum())
            if above:
                problems.append(
                    f"column {column!r} has {above} value{'s' * (above != 1)} above {rules['max']!r} "
                    f"(max {series.max()!r})"
                )
        if rules.get("values") is not None:
            allowed = list(rules["values"])
            present = series.dropna()
            bad = present[~present.isin(allowed)]
            if len(bad):
                shown = ", ".join(repr(v) for v in pd.unique(bad)[:5])
                problems.append(
                    f"column {column!r} has {len(bad)} value{'s' * (len(bad) != 1)} outside the allowed ones: {shown}"
                )
    if not allow_extra_columns:
        extra = [c for c in positions if c not in {str(k) for k in schema}]
        if extra:
            problems.append(f"unexpected column{'s' * (len(extra) != 1)}: {', '.join(repr(c) for c in extra)}")
    if problems:
        raise DataExpectationError(label, problems)
    return data


# the summary line ---------------------------------------------------------------------------------

MAX_NOTE_CHARS = 60


def describe_change(current: Mapping[str, Any], previous: Mapping[str, Any]) -> str:
    """A few words on what changed between two fingerprint records of one input ("" when unknown)."""
    if current.get("algorithm") != previous.get("algorithm"):
        return "fingerprint scheme changed"
    if current.get("kind") != previous.get("kind"):
        return f"{previous.get('kind')} -> {current.get('kind')}"
    parts: list[str] = []
    if current.get("kind") == "file":
        if current.get("format") != previous.get("format"):
            parts.append(f"format {previous.get('format')} -> {current.get('format')}")
        if current.get("size") != previous.get("size"):
            parts.append(f"size {_bytes(previous.get('size'))} -> {_bytes(current.get('size'))}")
    if current.get("kind") == "directory":
        parts += _directory_notes(current, previous)
    cols_c = {str(c.get("name")): c for c in current.get("columns") or []}
    cols_p = {str(c.get("name")): c for c in previous.get("columns") or []}
    parts += [f"-{name}" for name in cols_p if name not in cols_c]
    parts += [f"+{name}" for name in cols_c if name not in cols_p]
    parts += [
        f"{name} {cols_p[name].get('type')} -> {c.get('type')}"
        for name, c in cols_c.items()
        if name in cols_p and cols_p[name].get("type") != c.get("type")
    ]
    shape_c, shape_p = current.get("shape") or [], previous.get("shape") or []
    if shape_c[:1] != shape_p[:1] and shape_c and shape_p:
        parts.append(f"rows {shape_p[0]} -> {shape_c[0]}")
    parts += _stat_notes(current.get("profile") or {}, previous.get("profile") or {})
    if not parts:
        changed = [
            name
            for name, c in cols_c.items()
            if name in cols_p and c.get("hash") and c.get("hash") != cols_p[name].get("hash")
        ]
        if changed:
            more = f" +{len(changed) - 2}" if len(changed) > 2 else ""
            parts.append(f"values of {', '.join(changed[:2])}{more}")
        elif cols_c and cols_c.keys() == cols_p.keys():
            parts.append("order or index")
    text = ""
    for part in parts:
        candidate = f"{text}, {part}" if text else part
        if len(candidate) > MAX_NOTE_CHARS:
            if not text:
                text = part[: MAX_NOTE_CHARS - 3] + "..."
            break
        text = candidate
    return text


def _directory_notes(current: Mapping[str, Any], previous: Mapping[str, Any]) -> list[str]:
    """Files added (+), removed (-) and changed (~) among the listed entries of two directory records."""
    now = {e.get("path"): e.get("hash") for e in current.get("entries") or []}
    before = {e.get("path"): e.get("hash") for e in previous.get("entries") or []}
    notes = [f"+{path}" for path in now if path not in before]
    notes += [f"-{path}" for path in before if path not in now]
    notes += [f"~{path}" for path, digest in now.items() if path in before and before[path] != digest]
    if not notes and current.get("files") != previous.get("files"):
        notes.append(f"files {previous.get('files')} -> {current.get('files')}")
    return notes


def _bytes(size: Any) -> str:
    if not isinstance(size, int):
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return str(size)


def _stat_notes(current: Mapping[str, Any], previous: Mapping[str, Any]) -> list[str]:
    """The largest mean shift (in reference std) and null-share change among the shared columns."""
    cols_c = {str(c.get("name")): c for c in current.get("columns") or []}
    best: tuple[float, str] | None = None
    nulls: tuple[float, str] | None = None
    rows_c, rows_p = current.get("rows"), previous.get("rows")
    for column in previous.get("columns") or []:
        name = str(column.get("name"))
        other = cols_c.get(name)
        if other is None or other.get("type") != column.get("type"):
            continue
        mean_p, mean_c, std_p = column.get("mean"), other.get("mean"), column.get("std")
        if None not in (mean_p, mean_c, std_p) and std_p > 0:
            shift = (mean_c - mean_p) / std_p
            if abs(shift) >= 0.1 and (best is None or abs(shift) > abs(best[0])):
                best = (shift, name)
        if rows_c and rows_p:
            delta = (other.get("nulls") or 0) / rows_c - (column.get("nulls") or 0) / rows_p
            if abs(delta) >= 0.01 and (nulls is None or abs(delta) > abs(nulls[0])):
                nulls = (delta, name)
    notes = []
    if best is not None:
        notes.append(f"{best[1]} mean {best[0]:+.1f} sd")
    if nulls is not None:
        notes.append(f"{nulls[1]} nulls {nulls[0]:+.0%}")
    return notes


def change_notes(current: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[str, str]:
    """{input name: what changed} for the inputs whose hash differs from the previous run's."""
    notes: dict[str, str] = {}
    if not previous:
        return notes
    for name, record in current.items():
        before = previous.get(name)
        if not isinstance(record, Mapping) or not isinstance(before, Mapping):
            continue
        if record.get("hash") == before.get("hash"):
            continue
        try:
            text = describe_change(record, before)
        except Exception:  # a note is a nicety: never let it break the summary
            text = ""
        if text:
            notes[name] = text
    return notes
