"""Accessibility in a real JupyterLab, in its light and dark themes: axe-core's WCAG 2 A/AA rules (contrast
included) on the sidebar with runs of every status, a run's details, a diff, a comparison and the panel in a
notebook; and the sidebar's controls reached in order with the Tab key, each with a visible focus ring."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

import nbtrack
from nbtrack.store import local as store_mod

from .a11y import (
    DARK,
    LIGHT,
    Violation,
    axe_violations,
    current_theme,
    focus_ring,
    focused_label,
    has_visible_ring,
    light_again,
    report,
    use_theme,
)
from .conftest import (
    REPORT,
    needs_chromium,
    notebook,
    open_notebook,
    open_sidebar,
    run_all_cells,
    screenshot,
    widen_sidebar,
)

pytestmark = [pytest.mark.browser, needs_chromium]

SIDEBAR = "#nbtrack-runs"
ROWS = f"{SIDEBAR} .jp-nbtrack-run-list li.jp-nbtrack-run"
STATUSES = ("finished", "failed", "interrupted", "running", "abandoned")
THEMES = [pytest.param(LIGHT, id="light"), pytest.param(DARK, id="dark")]


@pytest.fixture(scope="module")
def status_runs(lab):
    """Experiment ``a11y`` (notebook ``a11y/a11y.ipynb``): four finished runs (two lr, two seeds), one failed,
    one interrupted, one running (open in this process for the module's tests) and one abandoned (recorded as
    running by a process that has exited)."""
    folder = lab.root / "a11y"
    folder.mkdir()
    path = folder / ".nbtrack"
    store = store_mod.get_store(path)
    for lr in (0.1, 0.3):
        for seed in (0, 1):
            with nbtrack.track(f"lr{lr}-seed{seed}", "a11y", {"lr": lr, "seed": seed}, store=store, environment=False):
                nbtrack.log_metrics({"val_acc": 0.8 + lr / 10 + seed / 100, "loss": 0.2 - lr / 10})
    with pytest.raises(ValueError), nbtrack.track("broken", "a11y", {"lr": 0.5}, store=store, environment=False):
        raise ValueError("diverged")
    with pytest.raises(KeyboardInterrupt), nbtrack.track("stopped", "a11y", store=store, environment=False):
        raise KeyboardInterrupt
    with nbtrack.track("template", "a11y", {"lr": 0.2}, store=store, environment=False) as done:
        pass
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    doc = copy.deepcopy(store.run_docs()[done.id])
    doc.update(name="orphan", status="running", end_time=None, duration=None)
    doc["owner"] = dict(doc.get("owner") or {}, pid=int(dead.stdout), started=None)
    store.journal.append([{"op": "put", "t": "runs", "id": doc["id"], "doc": doc}])
    running = nbtrack.track("live", "a11y", {"lr": 0.2}, store=store, environment=False)
    running.__enter__()
    notebook(folder / "a11y.ipynb", ["1 + 1"])
    yield "a11y/a11y.ipynb"
    running.__exit__(None, None, None)
    store_mod._stores.pop(path.absolute(), None)


def _sidebar_with_every_status(page) -> None:
    open_sidebar(page)
    widen_sidebar(page)
    for status in STATUSES:
        page.locator(f"{ROWS} .jp-nbtrack-status-{status}").first.wait_for(timeout=60_000)


@pytest.mark.parametrize("theme", THEMES)
def test_views_pass_axe_in_both_themes(page, lab, artifacts, status_runs, theme):
    found: dict[str, list[Violation]] = {}
    open_notebook(page, lab, status_runs)
    try:
        use_theme(page, theme)
        _sidebar_with_every_status(page)
        sidebar = page.locator(SIDEBAR)
        sidebar.get_by_role("checkbox", name="Select run lr0.1-seed0").check()  # a selected row is checked too
        found["sidebar"] = axe_violations(page, SIDEBAR)

        sidebar.get_by_role("button", name="broken", exact=True).click()
        page.locator(".jp-nbtrack-details h2", has_text="broken").wait_for(timeout=30_000)
        found["details"] = axe_violations(page, ".jp-nbtrack-details:not(.lm-mod-hidden)")

        sidebar.get_by_role("checkbox", name="Select run lr0.3-seed1").check()
        sidebar.get_by_role("button", name="Diff").click()
        page.locator(".jp-nbtrack-diff:not(.lm-mod-hidden) table").first.wait_for(timeout=30_000)
        found["diff"] = axe_violations(page, ".jp-nbtrack-diff:not(.lm-mod-hidden)")

        for name in ("lr0.1-seed1", "lr0.3-seed0"):
            sidebar.get_by_role("checkbox", name=f"Select run {name}").check()
        sidebar.get_by_role("button", name="Compare (4)").click()
        view = page.locator(".jp-nbtrack-comparison:not(.lm-mod-hidden)")
        view.locator("tr[data-verdict]").first.wait_for(timeout=60_000)
        view.locator(".jp-nbtrack-charts .jp-nbtrack-chart svg").first.wait_for(timeout=60_000)
        found["comparison"] = axe_violations(page, ".jp-nbtrack-comparison:not(.lm-mod-hidden)")
        screenshot(page, artifacts, "sidebar-dark.png" if theme == DARK else "a11y-light.png", readme=theme == DARK)
    finally:
        light_again(page)
    _record(found, theme)
    assert not any(found.values()), "\n".join(report(v, f"the {k} ({theme})") for k, v in found.items() if v)


PANEL_RUNS = """import nbtrack
for lr in (0.01, 0.1):
    for seed in range(2):
        with nbtrack.track(f"lr{lr}-seed{seed}", params={"lr": lr, "seed": seed}):
            nbtrack.log_metric("val_acc", 0.8 + 2 * lr + 0.002 * seed)
try:
    with nbtrack.track("broken", params={"lr": 1.0}):
        raise ValueError("diverged")
except ValueError:
    pass"""


@pytest.mark.parametrize("theme", THEMES)
def test_panel_passes_axe_in_both_themes(page, lab, artifacts, theme):
    name = f"panel_a11y_{theme.split()[-1].lower()}.ipynb"
    notebook(lab.root / name, [PANEL_RUNS, "p = nbtrack.panel()\np"])
    open_notebook(page, lab, name)
    found: dict[str, list[Violation]] = {}
    try:
        use_theme(page, theme)
        run_all_cells(page)
        output = page.locator(".jp-OutputArea-output").last
        output.get_by_text("lr0.1-seed1").first.wait_for(timeout=90_000)
        output.locator(".nbtrack-grid-head input[type=checkbox]").click()  # select all: selected rows are shaded
        output.locator(".nbtrack-grid-row.nbtrack-selected").first.wait_for(timeout=30_000)
        output.scroll_into_view_if_needed()
        found["panel"] = axe_violations(page, ".jp-OutputArea-output:has(.nbtrack-panel)")
        screenshot(page, artifacts, f"a11y-panel-{theme.split()[-1].lower()}.png")
    finally:
        light_again(page)
    _record(found, theme)
    assert not found["panel"], report(found["panel"], f"the panel ({theme})")


def test_sidebar_keyboard_order_and_focus_rings(page, lab, artifacts, status_runs):
    """From the sidebar's heading, Tab reaches: which runs, the filter, then each run's checkbox and name in
    table order, then the pager and actions that are enabled; every stop shows a focus ring; Space ticks a run."""
    open_notebook(page, lab, status_runs)
    _sidebar_with_every_status(page)
    assert current_theme(page) == LIGHT
    sidebar = page.locator(SIDEBAR)
    names = sidebar.locator(".jp-nbtrack-run-name").all_inner_texts()
    sidebar.locator(".jp-nbtrack-heading").click()  # focus moves into the sidebar, no control focused yet
    expected = ["Which runs to show", "Filter runs", "Metric shown for each run"]
    for name in names:
        expected += [f"Select run {name}", name]
    stops, rings = [], []
    for _ in expected:
        page.keyboard.press("Tab")
        stops.append(focused_label(page))
        rings.append(focus_ring(page))
    assert stops == expected  # the pager and the actions are all disabled: nothing selected, one page
    blind = [(stop, ring) for stop, ring in zip(stops, rings, strict=True) if not has_visible_ring(ring)]
    assert not blind, f"focused without a visible focus ring: {blind}"
    assert all(ring["visible"] == "true" for ring in rings), "keyboard focus should match :focus-visible"
    assert all(ring["outline"].startswith("solid 2px") for ring in rings), rings  # JupyterLab's ring (a11y.css)

    # Space on the focused checkbox selects the run, which enables "Clear selection": the next stop after the table
    page.keyboard.press("Shift+Tab")
    assert focused_label(page) == f"Select run {names[-1]}"
    page.keyboard.press("Space")
    assert sidebar.get_by_role("checkbox", name=f"Select run {names[-1]}").is_checked()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert focused_label(page) == "Clear selection"
    assert has_visible_ring(focus_ring(page)), focus_ring(page)
    REPORT.append(f"sidebar Tab order: {' → '.join(stops)} → Clear selection")


def _record(found: dict[str, list[Violation]], theme: str) -> None:
    counts = ", ".join(f"{view} {len(v)}" for view, v in found.items())
    REPORT.append(f"axe-core WCAG 2 A/AA violations ({theme}): {counts}")
