"""The one-line summary shown after a tracked cell: HTML in Jupyter, plain text elsewhere.

It counts what the run recorded: params by where they were written (``12 params (2 inline, 10 framework)``,
labels from :mod:`nbtrack.query.contents`), metrics with the first values, models (and the ones not kept, with
why), figures and other artifacts, output files with their total size, and whether the data changed.
"""

from __future__ import annotations

import html
from typing import Any

from nbtrack import format as fmt
from nbtrack.query import contents

_ICONS = fmt.STATUS_ICONS
_MAX_SHOWN = 4


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return fmt.number(value)
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."


def _data_text(change: dict[str, Any], notes: dict[str, str] | None = None) -> str:
    """The data part of the summary line (``change`` from :func:`nbtrack.data.drift.data_change`)."""
    state = change["state"]
    if state == "none":
        return "no data inputs"
    if state == "first":
        return "data: first run of this cell"
    if state == "unchanged":
        return "data unchanged"
    parts = []
    if change["changed"]:
        notes = notes or {}
        parts.append("changed " + ", ".join(f"{k} ({notes[k]})" if notes.get(k) else k for k in change["changed"]))
    if change["added"]:
        parts.append("new " + ", ".join(change["added"]))
    if change["removed"]:
        parts.append("no longer used " + ", ".join(change["removed"]))
    return "data " + "; ".join(parts)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _params_text(params: Any, sources: Any) -> str:
    """``3 params``, or ``12 params (2 inline, 10 framework)`` once the run recorded where they came from."""
    names = list(params) if isinstance(params, dict) else []
    text = _plural(len(names), "param")
    if not names or not sources:
        return text
    groups = contents.params_by_label(names, sources)
    return text + " (" + ", ".join(f"{len(found)} {label}" for label, found in groups.items()) + ")"


def _contents_parts(doc: dict[str, Any]) -> list[str]:
    """Models (and those not kept, with why), figures, other artifacts, output files: only what the run has."""
    parts = []
    models = contents.model_rows(doc.get("models"))
    kept = [m for m in models if not m["skipped"]]
    if kept:
        parts.append(_plural(len(kept), "model"))
    for reason, n in contents.skipped_counts(doc.get("models")).items():
        parts.append(f"{_plural(n, 'model')} not kept: {reason}")
    artifacts = contents.artifact_rows(doc.get("artifacts"))
    figures = sum(contents.is_figure(a) for a in artifacts)
    if figures:
        parts.append(_plural(figures, "figure"))
    if len(artifacts) > figures:
        parts.append(_plural(len(artifacts) - figures, "artifact"))
    outputs = contents.output_rows(doc.get("outputs"))
    if outputs:
        total = sum(o["size"] or 0 for o in outputs)
        parts.append(f"{_plural(len(outputs), 'output file')} ({fmt.size(total)})")
    return parts


class RunSummary:
    """Displayable summary of a finished run."""

    def __init__(self, doc: dict[str, Any], change: dict[str, Any], saved: bool = True) -> None:
        self.doc = doc
        self.change = change
        self.saved = saved

    def _parts(self) -> list[str]:
        doc = self.doc
        parts = [f"{doc.get('duration') or 0:.2f} s"]
        params = doc.get("params", {})
        metrics = doc.get("metrics", {})
        parts.append(_params_text(params, doc.get("param_sources")))
        if metrics:
            shown = ", ".join(f"{k}={_fmt(_decoded(v))}" for k, v in list(metrics.items())[:_MAX_SHOWN])
            more = f" +{len(metrics) - _MAX_SHOWN}" if len(metrics) > _MAX_SHOWN else ""
            parts.append(f"{len(metrics)} metric{'s' * (len(metrics) != 1)} ({shown}{more})")
        else:
            parts.append("0 metrics")
        parts.extend(_contents_parts(doc))
        parts.append(_data_text(self.change, self.doc.get("data_notes")))
        from nbtrack.capture.models import summary_text

        models = summary_text(doc.get("models") or {})
        if models:
            parts.append(models)
        if doc.get("error"):
            parts.append(f"{doc['error']['type']}: {str(doc['error']['message'])[:80]}")
        if not self.saved:
            parts.append("NOT SAVED (see warning)")
        return parts

    def _head(self) -> tuple[str, str, str]:
        status = self.doc.get("status", "running")
        name = self.doc.get("name")
        label = f"{name} " if name else ""
        return status, label, self.doc["id"]

    def __repr__(self) -> str:
        status, label, run_id = self._head()
        return f"nbtrack {_ICONS.get(status, '')} {status} {label}[{run_id}] · " + " · ".join(self._parts())

    def _repr_html_(self) -> str:
        status, label, run_id = self._head()
        color = fmt.status_color(status)
        head = (
            f'<span style="color:{color};font-weight:600">{html.escape(_ICONS.get(status, ""))} '
            f"{html.escape(status)}</span> "
            f"<b>{html.escape(label)}</b>{_run_link(run_id)}"
        )
        body = " · ".join(html.escape(p) for p in self._parts())
        style = "font-family:monospace;font-size:12px"
        return f'<div class="nbtrack-summary" style="{style}">nbtrack {head} · {body}</div>'

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": repr(self), "text/html": self._repr_html_()}


def _run_link(run_id: str) -> str:
    """The run id as an element JupyterLab's nbtrack extension opens the run's details from (a click or Enter
    on ``data-nbtrack-run``); elsewhere it is plain code text."""
    escaped = html.escape(run_id, quote=True)
    return (
        f'<code class="nbtrack-run-link" data-nbtrack-run="{escaped}" role="button" tabindex="0" '
        f'title="Open the details of run {escaped}" style="cursor:pointer;text-decoration:underline dotted">'
        f"{escaped}</code>"
    )


def _decoded(value: Any) -> Any:
    from nbtrack.values import decode

    return decode(value)
