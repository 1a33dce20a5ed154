"""What changed between two runs: params (by where they were written), metrics, data fingerprints, models,
output files, environment and code.

Params carry the label of their source (``inline``, ``framework``... from :mod:`nbtrack.query.contents`) and the
text groups them by it, so a changed ``C=0.5`` written in the cell reads apart from the estimator defaults it moved.
A model differs when its content hash or its class differs; an output file when its content hash differs.

The code diff is cell-aware: it aligns the two runs' execution histories cell by cell (the sources the
kernel ran, in order), so a notebook where one cell changed shows one changed cell instead of a shifted
wall of lines. Outputs and execution counts are not part of a history; with ``code="snapshot"`` the saved
notebooks are compared instead, and ``outputs=True`` adds their text outputs and execution counts.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbtrack import format as fmt
from nbtrack.analysis.celldiff import CellChange, _cell_html, _cell_text, cell_diff
from nbtrack.data.drift import change_notes
from nbtrack.query import contents
from nbtrack.store.local import Store

__all__ = ["CellChange", "RunDiff", "cell_diff", "diff"]

ENV_KEYS = ("python", "implementation", "platform", "machine", "executable", "host", "cpu_count")


@dataclass
class RunDiff:
    """Differences from run A to run B. Each list holds only what differs (``same_*`` counts the rest)."""

    a: str
    b: str
    params: list[dict[str, Any]]  # name, a, b, change (changed / added / removed), source (a label, if recorded)
    metrics: list[dict[str, Any]]  # name, a, b, delta (b - a), relative (delta / |a|), change
    data: list[dict[str, Any]]  # name, a, b (content hashes), change, note (what changed, "" when unknown)
    env: list[dict[str, Any]]  # what, a, b, change
    code: list[CellChange]
    code_source: str
    same_params: int = 0
    same_metrics: int = 0
    same_data: int = 0
    models: list[dict[str, Any]] = field(default_factory=list)  # name, a, b (hashes), a_class, b_class, change
    outputs: list[dict[str, Any]] = field(default_factory=list)  # name (path), a, b (hashes), a_size, b_size, change
    same_models: int = 0
    same_outputs: int = 0

    @property
    def code_changed(self) -> bool:
        return any(c.kind != "same" for c in self.code)

    @property
    def identical(self) -> bool:
        """True when nothing recorded differs (ignoring run ids and times)."""
        return not (
            self.params or self.metrics or self.data or self.models or self.outputs or self.env or self.code_changed
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "params": _safe(self.params),
            "metrics": _safe(self.metrics),
            "data": _safe(self.data),
            "models": _safe(self.models),
            "outputs": _safe(self.outputs),
            "env": _safe(self.env),
            "code_source": self.code_source,
            "code": [c.to_dict() for c in self.code if c.kind != "same"],
        }

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    # renderings -------------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return self.to_text()

    def to_text(self) -> str:
        lines = [f"nbtrack diff  A={self.a}  B={self.b}"]
        if self.identical:
            return lines[0] + "\nno differences"
        for title, rows, same in (
            ("params", self.params, self.same_params),
            ("metrics", self.metrics, self.same_metrics),
            ("data", self.data, self.same_data),
            ("models", self.models, self.same_models),
            ("outputs", self.outputs, self.same_outputs),
        ):
            if rows:
                lines.append(f"{title} ({same} unchanged):" if same else f"{title}:")
                if title == "params" and _by_source(rows):
                    for label in contents.LABEL_ORDER:
                        group = [r for r in rows if r.get("source") == label]
                        if group:
                            lines.append(f"  {label}:")
                            lines.extend("  " + _row_text(title, r) for r in group)
                else:
                    lines.extend(_row_text(title, r) for r in rows)
        if self.env:
            lines.append("environment:")
            for r in self.env:
                lines.append(f"  {_mark(r['change'])} {r['what']}: {_show(r['a'])} -> {_show(r['b'])}")
        if self.code_changed:
            lines.append(f"code ({self.code_source}):")
            for c in self.code:
                lines.extend("  " + line for line in _cell_text(c))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        out = [
            f'<div class="nbtrack-diff" style="font-size:12px"><b>nbtrack diff</b> A=<code>{esc(self.a)}</code> '
            f"B=<code>{esc(self.b)}</code>"
        ]
        if self.identical:
            out.append("<div>no differences</div></div>")
            return "".join(out)
        td = 'style="padding:1px 8px;text-align:left"'
        for title, rows in (
            ("params", self.params),
            ("metrics", self.metrics),
            ("data", self.data),
            ("models", self.models),
            ("outputs", self.outputs),
        ):
            if rows:
                sources = title == "params" and _by_source(rows)
                body = "".join(
                    f"<tr><td {td}>{esc(r['change'])}</td><td {td}><b>{esc(str(r['name']))}</b></td>"
                    + (f"<td {td}>{esc(str(r.get('source')))}</td>" if sources else "")
                    + f"<td {td}>{esc(_side(title, r, 'a'))}</td><td {td}>{esc(_side(title, r, 'b'))}</td>"
                    f"<td {td}>{esc(_signed(r['delta'])) if r.get('delta') is not None else ''}</td></tr>"
                    for r in rows
                )
                source_head = f"<th {td}>source</th>" if sources else ""
                out.append(
                    f"<h4 style='margin:6px 0 2px'>{title}</h4><table><tr><th {td}></th><th {td}>name</th>"
                    f"{source_head}<th {td}>A</th><th {td}>B</th><th {td}></th></tr>{body}</table>"
                )
        if self.env:
            body = "".join(
                f"<tr><td {td}>{esc(r['change'])}</td><td {td}>{esc(str(r['what']))}</td>"
                f"<td {td}>{esc(_show(r['a']))}</td><td {td}>{esc(_show(r['b']))}</td></tr>"
                for r in self.env
            )
            out.append(f"<h4 style='margin:6px 0 2px'>environment</h4><table>{body}</table>")
        if self.code_changed:
            out.append(f"<h4 style='margin:6px 0 2px'>code ({esc(self.code_source)})</h4>")
            for c in self.code:
                out.append(_cell_html(c))
        out.append("</div>")
        return "".join(out)


def _by_source(rows: list[dict[str, Any]]) -> bool:
    """Whether params rows are worth grouping by source: some source is known."""
    return any(r.get("source") not in (None, contents.OTHER) for r in rows)


def _side(title: str, r: dict[str, Any], side: str) -> str:
    """One side of a row as shown: a model as its class and short hash, an output file as hash and size."""
    value = r[side]
    if title == "models":
        klass = r.get(f"{side}_class")
        if value is None and klass is None:
            return "(none)"
        if klass and r.get("a_class") == r.get("b_class"):
            klass = str(klass).rsplit(".", 1)[-1]  # the same class on both sides: its short name is enough
        kept = contents.short_hash(value) or f"not kept: {r.get(f'{side}_skipped') or 'no content'}"
        return f"{klass or '?'} {kept}"
    if title == "outputs":
        return "(none)" if value is None else f"{contents.short_hash(value)} ({fmt.size(r.get(f'{side}_size'))})"
    return _show(value)


def _row_text(title: str, r: dict[str, Any]) -> str:
    extra = f"  ({_signed(r['delta'])})" if r.get("delta") is not None else ""
    extra += f"  ({r['note']})" if r.get("note") else ""
    return f"  {_mark(r['change'])} {r['name']}: {_side(title, r, 'a')} -> {_side(title, r, 'b')}{extra}"


def _safe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _jsonable(v) for k, v in r.items()} for r in rows]


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (str, bool, int)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else repr(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return repr(v)


def _mark(change: str) -> str:
    return {"changed": "~", "added": "+", "removed": "-"}.get(change, " ")


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _signed(x: Any) -> str:
    try:
        return f"{float(x):+.4g}"
    except (TypeError, ValueError):
        return ""


# comparing ---------------------------------------------------------------------------------------------------------


def _equal(a: Any, b: Any) -> bool:
    try:
        import numpy as np

        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))
    except (ImportError, TypeError):
        pass
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except Exception:
        return repr(a) == repr(b)


def _dict_diff(a: dict[str, Any], b: dict[str, Any], delta: bool = False) -> tuple[list[dict[str, Any]], int]:
    rows, same = [], 0
    for name in list(dict.fromkeys([*a, *b])):
        if name in a and name in b:
            if _equal(a[name], b[name]):
                same += 1
                continue
            change = "changed"
        else:
            change = "added" if name in b else "removed"
        row = {"name": name, "a": a.get(name), "b": b.get(name), "change": change}
        if delta:
            try:
                d = float(b[name]) - float(a[name])
                row["delta"] = d if math.isfinite(d) else None
                row["relative"] = d / abs(float(a[name])) if row["delta"] is not None and float(a[name]) else None
            except (KeyError, TypeError, ValueError):
                row["delta"] = row["relative"] = None
        rows.append(row)
    return rows, same


def _params_diff(a: Any, b: Any) -> tuple[list[dict[str, Any]], int]:
    rows, same = _dict_diff(a.params, b.params)
    if not (a.param_sources or b.param_sources):
        return rows, same  # runs of earlier releases: no source to report
    for row in rows:
        sources = b.param_sources if row["change"] != "removed" else a.param_sources
        row["source"] = contents.source_label((sources or {}).get(row["name"]))
    return rows, same


def _models_diff(a: Any, b: Any) -> tuple[list[dict[str, Any]], int]:
    """Models that differ by content hash or class (a model not kept compares by its class and reason)."""
    rows_a = {m["name"]: m for m in contents.model_rows(a)}
    rows_b = {m["name"]: m for m in contents.model_rows(b)}
    out, same = [], 0
    for name in dict.fromkeys([*rows_a, *rows_b]):
        x, y = rows_a.get(name), rows_b.get(name)
        key_x = x and (x["hash"], x["class"], x["skipped"])
        key_y = y and (y["hash"], y["class"], y["skipped"])
        if key_x == key_y:
            same += 1
            continue
        out.append(
            {
                "name": name,
                "a": x and x["hash"],
                "b": y and y["hash"],
                "a_class": x and x["class"],
                "b_class": y and y["class"],
                "a_skipped": x and x["skipped"],
                "b_skipped": y and y["skipped"],
                "change": "changed" if x and y else "added" if y else "removed",
            }
        )
    return out, same


def _outputs_diff(a: Any, b: Any) -> tuple[list[dict[str, Any]], int]:
    """Output files whose content hash differs, by path."""
    rows_a = {o["path"]: o for o in contents.output_rows(a)}
    rows_b = {o["path"]: o for o in contents.output_rows(b)}
    out, same = [], 0
    for path in dict.fromkeys([*rows_a, *rows_b]):
        x, y = rows_a.get(path), rows_b.get(path)
        if x and y and x["hash"] == y["hash"]:
            same += 1
            continue
        out.append(
            {
                "name": path,
                "a": x and x["hash"],
                "b": y and y["hash"],
                "a_size": x and x["size"],
                "b_size": y and y["size"],
                "change": "changed" if x and y else "added" if y else "removed",
            }
        )
    return out, same


def _env_diff(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []

    def add(what: str, x: Any, y: Any) -> None:
        if not _equal(x, y):
            change = "changed" if x is not None and y is not None else "added" if x is None else "removed"
            rows.append({"what": what, "a": x, "b": y, "change": change})

    for key in ENV_KEYS:
        add(key, a.get(key), b.get(key))
    git_a, git_b = a.get("git") or {}, b.get("git") or {}
    for key in ("commit", "branch", "dirty"):
        add(f"git {key}", git_a.get(key), git_b.get(key))
    vars_a, vars_b = a.get("env_vars") or {}, b.get("env_vars") or {}
    for key in sorted(set(vars_a) | set(vars_b)):
        add(f"${key}", vars_a.get(key), vars_b.get(key))
    pa, pb = a.get("packages"), b.get("packages")
    if isinstance(pa, dict) and isinstance(pb, dict):
        lower_a = {k.lower(): (k, v) for k, v in pa.items()}
        lower_b = {k.lower(): (k, v) for k, v in pb.items()}
        for key in sorted(set(lower_a) | set(lower_b)):
            name = lower_b[key][0] if key in lower_b else lower_a[key][0]
            add(f"package {name}", lower_a.get(key, (None, None))[1], lower_b.get(key, (None, None))[1])
    elif (pa is None and isinstance(pb, dict)) or (isinstance(pa, dict) and pb is None):
        rows.append(
            {
                "what": "packages",
                "a": "unknown" if pa is None else f"{len(pa)} packages",
                "b": "unknown" if pb is None else f"{len(pb)} packages",
                "change": "changed",
            }
        )
    return rows


def _snapshot_cells(run: Any, outputs: bool) -> list[str]:
    nb = run.snapshot
    if nb is None:
        return []
    cells = []
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        text = cell.get("source", "")
        if outputs:
            parts = [text, f"# [execution_count: {cell.get('execution_count')}]"]
            for o in cell.get("outputs", []):
                if o.get("output_type") == "stream":
                    parts.append("# [output] " + str(o.get("text", "")).rstrip())
                elif "data" in o:
                    parts.append("# [output] " + str(o["data"].get("text/plain", "")).rstrip())
                elif o.get("output_type") == "error":
                    parts.append(f"# [error] {o.get('ename')}: {o.get('evalue')}")
            text = "\n".join(parts)
        cells.append(text)
    return cells


def diff(
    run_a: Any,
    run_b: Any,
    *,
    code: str = "history",
    outputs: bool = False,
    store: str | Path | Store | None = None,
) -> RunDiff:
    """What changed from run A to run B (ids, id prefixes or Run objects).

    ``code``: ``"history"`` (default: the cells the kernel executed up to each run, in order), ``"cell"``
    (only the tracked cell or script) or ``"snapshot"`` (the saved notebooks' code cells; ``outputs=True``
    also compares their text outputs and execution counts). A run without history falls back to its cell.
    """
    from nbtrack.query.search import get_run

    a = run_a if hasattr(run_a, "doc") else get_run(str(run_a), store=store)
    b = run_b if hasattr(run_b, "doc") else get_run(str(run_b), store=store)
    if code not in ("history", "cell", "snapshot"):
        raise ValueError("code must be 'history', 'cell' or 'snapshot'")
    params, same_params = _params_diff(a, b)
    metrics, same_metrics = _dict_diff(a.metrics, b.metrics, delta=True)
    data_a = {k: (v.get("hash") if isinstance(v, dict) else None) for k, v in a.data.items()}
    data_b = {k: (v.get("hash") if isinstance(v, dict) else None) for k, v in b.data.items()}
    data, same_data = _dict_diff(data_a, data_b)
    notes = change_notes(b.data, a.data)  # "debt_ratio mean +0.9 sd", as the cell summary says it
    for row in data:
        row["note"] = notes.get(row["name"], "")
    env = _env_diff(a.env or {}, b.env or {})
    source = code
    if code == "snapshot":
        cells_a, cells_b = _snapshot_cells(a, outputs), _snapshot_cells(b, outputs)
    elif code == "history" and (a.history or b.history):
        cells_a, cells_b = list(a.history), list(b.history)
    else:
        source = "cell"
        cells_a = [a.code] if a.code else []
        cells_b = [b.code] if b.code else []
    models, same_models = _models_diff(a.models, b.models)
    output_files, same_outputs = _outputs_diff(a.outputs, b.outputs)
    return RunDiff(
        a.id,
        b.id,
        params,
        metrics,
        data,
        env,
        cell_diff(cells_a, cells_b),
        source,
        same_params,
        same_metrics,
        same_data,
        models=models,
        outputs=output_files,
        same_models=same_models,
        same_outputs=same_outputs,
    )
