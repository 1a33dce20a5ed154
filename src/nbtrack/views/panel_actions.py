"""What the panel's action buttons do: compare, diff, export, tag and delete the selected runs.

A mixin of :class:`nbtrack.views.widgets.Panel`, kept apart from the controls and their layout. Each action
calls the public function that does the work (``compare``, ``diff``, ``export``, ``set_tag``, ``delete_run``)
and shows its result; nothing is computed here.
"""

from __future__ import annotations

import copy
import html
import inspect
from pathlib import Path
from typing import Any

from nbtrack import format as fmt
from nbtrack.views.panel_model import PanelModel, parse_tag_value


class PanelActions:
    """The actions of the runs panel; the widgets they read and write are made by ``Panel.__init__``."""

    model: PanelModel
    metric: Any
    plot_kind: Any
    tag_text: Any
    result_title: Any
    result: Any
    chart: Any  # views/panel_chart.ChartView
    result_box: Any
    confirm_text: Any
    confirm_button: Any
    confirm_box: Any
    _comparison: Any
    _compared_metric: str | None
    _pending_delete: list[str]
    run_more: Any  # views/run_more_action.RunMoreAction

    def _note(self, text: str, error: bool = False) -> None:
        raise NotImplementedError

    def _show(self, title: str, body_html: str) -> None:
        """Show a result: ``title`` is text (escaped here), ``body_html`` is HTML already escaped by its maker."""
        self.result_title.value = f"<b>{html.escape(title)}</b>"
        self.result.value = f'<div style="overflow-x:auto">{body_html}</div>'
        self.chart.clear()
        self.result_box.layout.display = ""
        self.run_more.reset()  # offered again by _compare

    def _close_result(self) -> None:
        self._comparison = None
        self.run_more.reset()
        self.result_box.layout.display = "none"
        self.result.value = ""
        self.chart.clear()

    def _compare(self) -> None:
        from nbtrack.analysis.comparison import compare

        ids = self._selected(2)
        metric = self.metric.value
        if not metric:
            raise ValueError("the selected runs have no metrics to compare")
        self._comparison = None
        cmp = compare(ids, metric=metric, store=self.model.store)
        self._comparison, self._compared_metric = cmp, metric
        self._show(f"Comparison of {len(ids)} runs on {metric}", cmp._repr_html_())
        self._draw_plot()
        self.run_more.offer(ids, metric)

    def _draw_plot(self) -> None:
        cmp = self._comparison
        if cmp is None:
            return
        try:
            self.chart.draw(cmp, self.plot_kind.value, self._compared_metric)
        except Exception as exc:
            self.chart.clear()
            self._note(f"{self.plot_kind.value} chart: {exc}", error=True)

    def _diff(self) -> None:
        from nbtrack.analysis.rundiff import diff

        a, b = sorted(self._selected(2, 2))  # older run first: A -> B reads forward in time
        result = diff(a, b, store=self.model.store)
        self._comparison = None
        self._show(f"Diff {a} → {b}", short_numbers(result)._repr_html_())

    def _details(self) -> None:
        (run_id,) = self._selected(1, 1)
        self._comparison = None
        self._show(f"Run {run_id}", self.model.details_html(run_id))

    def _export(self) -> None:
        from nbtrack.exporting.exporter import export

        self._close_result()  # an earlier "Exported" must not stay next to this export's error
        (run_id,) = self._selected(1, 1)
        try:
            takes_store = "store" in inspect.signature(export).parameters
        except (TypeError, ValueError):
            takes_store = False
        if takes_store:
            out = export(run_id, to="script", store=self.model.store)
        else:
            from nbtrack.query.search import get_run

            out = export(get_run(run_id, store=self.model.store), to="script")
        self._comparison = None
        if isinstance(out, Path) or (isinstance(out, str) and "\n" not in out and Path(out).is_file()):
            self._show(f"Exported run {run_id}", f"Written to <code>{html.escape(str(out))}</code>{_verdict(out)}")
        else:
            text = out if isinstance(out, str) else repr(out)
            self._show(f"Run {run_id} as a script", f"<pre style='font-size:11px'>{html.escape(text)}</pre>")

    def _tag(self) -> None:
        from nbtrack.query.search import set_tag

        text = self.tag_text.value.strip()
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not key:
            raise ValueError("type the tag as key=value (or just key) next to the Tag button")
        value = parse_tag_value(raw.strip()) if sep else True
        ids = self._selected(1)
        for run_id in ids:
            set_tag(key, value, run=run_id, store=self.model.store)
        self.model.refresh()
        self._note(f"Tagged {len(ids)} run{'s' * (len(ids) != 1)} with {key}={value!r}")

    def _selected(self, least: int, most: int | None = None) -> list[str]:
        """The selected run ids, checked against what an action needs (buttons can be clicked from code)."""
        ids = list(self.model.selected)
        if len(ids) < least or (most is not None and len(ids) > most):
            wanted = f"exactly {least}" if least == most else f"at least {least}"
            raise ValueError(f"select {wanted} run{'s' * (least != 1)} first ({len(ids)} selected)")
        return ids

    def _ask_delete(self) -> None:
        self._selected(1)
        rows = self.model.selection_rows()
        self._pending_delete = list(rows["run_id"])
        running = int((rows["status"] == "running").sum())
        names = ", ".join(
            f"{n if isinstance(n, str) and n else '(unnamed)'} ({r})"
            for n, r in list(zip(rows["name"], rows["run_id"], strict=True))[:5]
        )
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        warn = f" {running} of them {'is' if running == 1 else 'are'} still running." if running else ""
        text = (
            f"Delete {len(rows)} run{'s' * (len(rows) != 1)} ({names}{more})? This cannot be undone "
            f"(shared data blobs stay).{warn}"
        )
        self.confirm_text.value = f'<span class="nbtrack-note-error">{html.escape(text)}</span>'
        self.confirm_button.description = f"Delete {len(rows)} run{'s' * (len(rows) != 1)}"
        self.confirm_box.layout.display = ""

    def _cancel_delete(self) -> None:
        self._pending_delete = []
        self.confirm_box.layout.display = "none"

    def _delete(self) -> None:
        from nbtrack.query.search import delete_run

        ids, self._pending_delete = self._pending_delete, []
        self.confirm_box.layout.display = "none"
        for run_id in ids:
            delete_run(run_id, store=self.model.store)
        self.model.deselect(ids)
        self.model.refresh()
        self._note(f"Deleted {len(ids)} run{'s' * (len(ids) != 1)}.")


class _Short(float):
    """A float that prints with 4 significant digits (``0.3``, not ``0.30000000000000004``)."""

    def __str__(self) -> str:
        return fmt.number(float(self))

    __repr__ = __str__


def short_numbers(result: Any) -> Any:
    """A shallow copy of a run diff whose float values print as the panel's table does (4 significant
    digits), so the diff shows no 17-digit floats; the diff itself (and its JSON) keeps the exact values."""
    shown = copy.copy(result)
    for name in ("params", "metrics"):
        rows = getattr(result, name, None)
        if isinstance(rows, list):
            setattr(shown, name, [{k: _short(v) if k in ("a", "b") else v for k, v in r.items()} for r in rows])
    return shown


def _short(value: Any) -> Any:
    return _Short(value) if isinstance(value, float) else value


def _verdict(out: object) -> str:
    """What the export's verification found, as one HTML sentence ("" when it was not verified)."""
    verified = getattr(out, "verified", None)
    if verified is None:
        return ""
    if verified:
        return "<br>Verified: re-executed, it reproduces every recorded metric."
    differences = getattr(out, "differences", {}) or {}
    cause = getattr(out, "cause", None)
    what = ", ".join(f"{name} {a!r} -> {b!r}" for name, (a, b) in list(differences.items())[:3])
    text = "<br><b>Unverified</b>: re-executed, it does not reproduce the run"
    text += f" ({html.escape(what)})" if what else ""
    text += f"; likely cause: {html.escape(str(cause))}" if cause else ""
    return text + "."
