"""The panel's "Run more" action: after a comparison, show what ``nbtrack.run_more`` would run, ask, run it.

The preview is :func:`nbtrack.jobs.plan.preview` of the comparison under the sequential tests (the ones the
job stops with): the groups, their runs now, the new runs and seeds, and the time estimated from the runs'
recorded durations. Nothing runs until "Start"; then the job runs in a background thread (the kernel stays
usable, and a busy kernel's comm could not deliver the Stop click anyway), its progress goes to the panel's
message, "Stop" calls ``job.cancel()`` (finished runs are kept) and at the end the comparison is shown again
with the new runs. Nothing is computed here: this module only calls ``compare``, ``preview`` and ``run_more``.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets

MAX_SEEDS_SHOWN = 6


def seconds_text(seconds: float | None) -> str:
    """An estimate as a person reads it: "about 40 s", "about 3 min", "about 1.5 h"; "unknown" without one."""
    if seconds is None:
        return "unknown (no recorded durations)"
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 5400:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


def _seeds_text(seed_param: str, seeds: Sequence[Any]) -> str:
    if not seeds:
        return ""
    shown = ", ".join(str(s) for s in seeds[:MAX_SEEDS_SHOWN])
    more = f" … ({len(seeds)})" if len(seeds) > MAX_SEEDS_SHOWN else ""
    return f"{seed_param} = {shown}{more}"


def preview_html(plan: Mapping[str, Any]) -> str:
    """The preview as a small HTML table (every value escaped) and one line of totals."""
    cell = 'style="padding:1px 8px;text-align:{}"'
    head = "".join(
        f"<th {cell.format('left' if i == 0 else 'right')}>{h}</th>"
        for i, h in enumerate(("group", "runs now", "new runs", "seeds", "estimated time"))
    )
    rows = []
    for g in plan.get("groups", []):
        seeds = _seeds_text(str(g.get("seed_param") or "seed"), list(g.get("seeds") or []))
        time = seconds_text(g.get("seconds")) if g.get("new_runs") else ""
        values = (g.get("group"), g.get("runs"), g.get("new_runs"), seeds, time)
        rows.append(
            "<tr>"
            + "".join(
                f"<td {cell.format('left' if i == 0 else 'right')}>{html.escape(str(v))}</td>"
                for i, v in enumerate(values)
            )
            + "</tr>"
        )
    n, workers = int(plan.get("runs") or 0), int(plan.get("workers") or 1)
    total = (
        f"{n} new run{'s' * (n != 1)} on {workers} worker{'s' * (workers != 1)}, "
        f"{seconds_text(plan.get('seconds'))} for the first round; the job looks again after every round and "
        "stops each pair once the sequential test decides it."
    )
    return (
        f'<table class="nbtrack-run-more" style="border-collapse:collapse;font-size:12px">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f'<div style="font-size:12px">{html.escape(total)}</div>'
    )


def progress_text(job: Any) -> str:
    """One line on a running job: runs added, decided pairs."""
    decided, pairs = job.decided
    n = len(job.run_ids)
    return f"Run more {job.id[:10]}: {n} new run{'s' * (n != 1)}, {decided}/{pairs} pairs decided."


class RunMoreAction:
    """The "Run more" button and its preview/Start/Cancel/Stop box, for one :class:`~nbtrack.views.widgets.Panel`.

    ``button`` sits next to the comparison; ``box`` holds the preview. ``max_runs`` and ``workers`` are passed
    to ``run_more`` (and to the preview). ``job`` is the running (or last) job, ``thread`` its thread."""

    def __init__(self, panel: Any, *, max_runs: int = 30, workers: int | None = None) -> None:
        self.panel = panel
        self.max_runs = max_runs
        self.workers = workers
        self.comparison: Any = None  # the sequential comparison the preview is of
        self.plan: dict[str, Any] | None = None
        self.job: Any = None
        self.thread: threading.Thread | None = None
        self.error: str | None = None  # how the last job ended, when it failed
        self._stop_asked = threading.Event()
        self._run_ids: list[str] = []
        self._metric: str | None = None

        self.button = widgets.Button(description="Run more", icon="play", disabled=True, tooltip="Compare runs first")
        self.preview = widgets.HTML()
        self.start_button = widgets.Button(description="Start", icon="play", button_style="primary")
        self.cancel_button = widgets.Button(description="Cancel", tooltip="Close the preview; nothing runs")
        self.stop_button = widgets.Button(
            description="Stop", icon="stop", button_style="warning", tooltip="Cancel the job; finished runs stay"
        )
        self.status = widgets.HTML()
        self.stop_button.layout.display = self.button.layout.display = "none"
        self.box = widgets.VBox(
            [self.preview, widgets.HBox([self.start_button, self.cancel_button, self.stop_button]), self.status],
            layout={"display": "none", "border": "1px dashed var(--jp-border-color1)", "padding": "4px"},
        )
        for button, action in (
            (self.button, self.show_preview),
            (self.start_button, self.start),
            (self.cancel_button, self.hide),
            (self.stop_button, self.stop),
        ):
            button.on_click(lambda _button, action=action: panel._guard(action))

    @property
    def running(self) -> bool:
        thread = self.thread  # the job's own thread, finishing, counts as done
        return thread is not None and thread.is_alive() and thread is not threading.current_thread()

    # offering -----------------------------------------------------------------------------------------------

    def offer(self, run_ids: Sequence[str], metric: str | None) -> None:
        """After a comparison of ``run_ids`` on ``metric``: enable the button when runs are needed (the
        preview of the sequential comparison), else say why not in its tooltip. Never raises."""
        from nbtrack.analysis.comparison import compare
        from nbtrack.jobs.plan import preview

        self._run_ids, self._metric = list(run_ids), metric
        self.comparison, self.plan = None, None
        self.button.layout.display = ""
        if self.running:
            self._disable("A run-more job is running (Stop it first)")
            return
        try:
            cmp = compare(self._run_ids, metric=metric, store=self.panel.model.store, sequential=True)
            plan = preview(cmp, max_runs=self.max_runs, workers=self.workers)
        except Exception as exc:
            self._disable(f"Run more is not available: {exc}")
            return
        self.comparison, self.plan = cmp, plan
        if plan["runs"]:
            self.button.disabled = False
            self.button.tooltip = f"Preview the {plan['runs']} new runs run_more would start (asks first)"
        else:
            self._disable("Every pair is decided (sequential test) or each group has max_runs runs")

    def _disable(self, why: str) -> None:
        self.button.disabled = True
        self.button.tooltip = why

    def show_preview(self) -> None:
        if self.plan is None or self.comparison is None:
            raise ValueError("compare runs first: Run more previews the comparison shown")
        self.preview.value = preview_html(self.plan)
        self.status.value = ""
        self.start_button.layout.display = self.cancel_button.layout.display = ""
        self.start_button.disabled = False
        self.stop_button.layout.display = "none"
        self.box.layout.display = ""

    def hide(self) -> None:
        """Close the preview (a running job goes on; ``stop()`` cancels it)."""
        if not self.running:
            self.box.layout.display = "none"
            self.preview.value = ""

    def reset(self) -> None:
        """Another result is shown: nothing to run more of until the next comparison."""
        self.hide()
        if not self.running:
            self.comparison, self.plan = None, None
            self._disable("Compare runs first")
            self.button.layout.display = "none"  # only a comparison has runs to add

    # running ------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start ``run_more`` on the previewed comparison in a background thread."""
        if self.running:
            raise ValueError("a run-more job is already running")
        if self.comparison is None:
            raise ValueError("compare runs first: Run more previews the comparison shown")
        self._stop_asked.clear()
        self.job, self.error = None, None
        self.start_button.layout.display = self.cancel_button.layout.display = "none"
        self.stop_button.layout.display = ""
        self.stop_button.disabled = False
        self._disable("A run-more job is running (Stop it first)")
        self.status.value = '<div style="font-size:12px">Starting: exporting and verifying the scripts…</div>'
        self.thread = threading.Thread(target=self._run, args=(self.comparison,), name="nbtrack-run-more", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Cancel the running job: pending runs are dropped, running ones killed, finished ones kept."""
        self._stop_asked.set()
        self.stop_button.disabled = True
        self.status.value = '<div style="font-size:12px">Stopping…</div>'
        if self.job is not None:
            self.job.cancel()

    def _progress(self, job: Any) -> None:
        self.job = job
        if self._stop_asked.is_set():
            job.cancel()  # Stop was clicked before the job was known, or between rounds
            return
        text = progress_text(job)
        self.status.value = f'<div style="font-size:12px">{html.escape(text)}</div>'
        with self.panel._lock:
            self.panel._note(text)
            self.panel.refresh(force=True)  # the new runs in the table, the progress in the message

    def _run(self, comparison: Any) -> None:
        from nbtrack.jobs.start import run_more

        job, error = None, None
        try:
            job = run_more(
                comparison,
                max_runs=self.max_runs,
                workers=self.workers,
                progress=self._progress,
                store=self.panel.model.store,
            )
        except Exception as exc:
            error = f"Run more failed: {exc}" if str(exc) else f"Run more failed ({type(exc).__name__})."
        self._finished(job, error)

    def _finished(self, job: Any, error: str | None) -> None:
        """Show how the job ended and the comparison with its new runs (runs in the job's thread)."""
        panel = self.panel
        self.job = job if job is not None else self.job
        self.error = error
        with panel._lock:
            self.stop_button.layout.display = "none"
            self.box.layout.display = "none"
            panel.model.refresh(force=True)
            new = list(job.run_ids) if job is not None else list(getattr(self.job, "run_ids", []))
            panel.model.select(new)
            if error is None and job is not None:
                n = len(new)
                decided, pairs = job.decided
                panel._note(
                    f"Run more {job.id[:10]} {job.state}: {n} new run{'s' * (n != 1)}, {decided}/{pairs} pairs "
                    f"decided ({job.stop_reason or job.state})."
                )
            else:
                panel._note(error or "Run more failed.", error=True)
            try:
                self._show_comparison(self._run_ids + [r for r in new if r not in self._run_ids])
            except Exception as exc:
                panel._note(f"Run more: the comparison could not be refreshed ({exc})", error=True)
            panel._render()

    def _show_comparison(self, run_ids: list[str]) -> None:
        from nbtrack.analysis.comparison import compare

        panel = self.panel
        metric = self._metric
        cmp = compare(run_ids, metric=metric, store=panel.model.store, sequential=True)
        panel._show(f"Comparison of {len(run_ids)} runs on {metric} (sequential tests)", cmp._repr_html_())
        panel._comparison, panel._compared_metric = cmp, metric
        panel._draw_plot()
        self.offer(run_ids, metric)

    def cancel(self) -> None:
        """Stop a running job (the panel is being closed)."""
        if self.running:
            self.stop()
