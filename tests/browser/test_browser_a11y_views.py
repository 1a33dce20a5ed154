"""Accessibility of the merged views in a real JupyterLab, light and dark: axe-core's WCAG 2 A/AA rules on the
compact sidebar list with its sparklines, the runs grid (a selected row, the column chooser open, the group-by
table), the comparison with its Vega-Lite chart and headline, and a run's details with its per-step curves and
export form; then the Tab key through the comparison's group-by boxes to its chart picker, and through the
export form's controls, each stop with a visible focus ring. Runs come from a real kernel (``%%track`` cells),
so they can be exported."""

from __future__ import annotations

import pytest

from nbtrack.store import local as store_mod
from tests.kernel_helpers import code, new_session

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
from .conftest import REPORT, needs_chromium, open_notebook, open_sidebar, screenshot, widen_sidebar

pytestmark = [pytest.mark.browser, needs_chromium]

SIDEBAR = "#nbtrack-runs"
GRID = ".jp-nbtrack-grid-view:not(.lm-mod-hidden)"
COMPARISON = ".jp-nbtrack-comparison:not(.lm-mod-hidden)"
DETAILS = ".jp-nbtrack-details:not(.lm-mod-hidden)"
THEMES = [pytest.param(LIGHT, id="light"), pytest.param(DARK, id="dark")]
NAMES = [f"v-lr{lr}-s{seed}" for lr in (0.1, 0.3) for seed in (0, 1)]
TRAIN = """%%track --name {name} -e views
lr = {lr}
seed = {seed}
for step in range(6):
    nbtrack.log_metric("val_acc", 0.6 + 0.04 * step + lr / 3 + 0.01 * seed, step=step)"""


@pytest.fixture(scope="module")
def views_runs(lab):
    """Experiment ``views`` (notebook ``views/views.ipynb``): two learning rates x two seeds, each run a
    ``%%track`` cell of a real kernel logging a six-step ``val_acc`` series (sparklines, curves, exportable)."""
    folder = lab.root / "views"
    folder.mkdir()
    cells = [code("%load_ext nbtrack\nimport nbtrack")]
    for name in NAMES:
        lr, seed = name.split("-")[1][2:], name[-1]
        cells.append(code(TRAIN.format(name=name, lr=lr, seed=seed)))
    new_session(folder, cells, name="views.ipynb").execute_all()
    store_mod._stores.pop((folder / ".nbtrack").absolute(), None)
    return "views/views.ipynb"


def _open(page, lab, views_runs) -> None:
    open_notebook(page, lab, views_runs)
    open_sidebar(page)
    widen_sidebar(page)
    page.locator(f"{SIDEBAR} .jp-nbtrack-spark").nth(len(NAMES) - 1).wait_for(timeout=60_000)


def _compare_all(page) -> None:
    sidebar = page.locator(SIDEBAR)
    for name in NAMES:
        sidebar.get_by_role("checkbox", name=f"Select run {name}").check()
    sidebar.get_by_role("button", name=f"Compare ({len(NAMES)})").click()
    view = page.locator(COMPARISON)
    view.locator(".jp-nbtrack-headline").wait_for(timeout=90_000)
    view.locator(".jp-nbtrack-charts .jp-nbtrack-chart svg").first.wait_for(timeout=90_000)


def _details(page, name: str):
    page.locator(SIDEBAR).get_by_role("button", name=name, exact=True).click()
    details = page.locator(DETAILS, has=page.locator("h2", has_text=name))
    details.locator(".jp-nbtrack-run-curves .jp-nbtrack-chart svg").wait_for(timeout=60_000)
    details.get_by_role("button", name="Export to workspace").wait_for(timeout=30_000)
    return details


@pytest.mark.parametrize("theme", THEMES)
def test_merged_views_pass_axe_in_both_themes(page, lab, artifacts, views_runs, theme):
    found: dict[str, list[Violation]] = {}
    suffix = theme.split()[-1].lower()
    _open(page, lab, views_runs)
    try:
        use_theme(page, theme)
        sidebar = page.locator(SIDEBAR)
        sidebar.get_by_role("checkbox", name=f"Select run {NAMES[0]}").check()
        found["sidebar list"] = axe_violations(page, SIDEBAR)
        sidebar.get_by_role("checkbox", name=f"Select run {NAMES[0]}").uncheck()

        # the grid: a selected row, then the column chooser open, then grouped by lr
        sidebar.get_by_role("button", name="Open table").click()
        grid = page.locator(GRID)
        grid.locator(".jp-nbtrack-grid-status").get_by_text(f"{len(NAMES)} runs").wait_for(timeout=30_000)
        grid.locator(".jp-nbtrack-grid-body .jp-nbtrack-grid-row").first.locator("input[type=checkbox]").click()
        grid.locator(".jp-nbtrack-grid-status").get_by_text("1 selected").wait_for(timeout=10_000)
        found["grid"] = axe_violations(page, GRID)
        grid.locator("summary", has_text="Columns").click()
        grid.locator(".jp-nbtrack-grid-chooser-panel").wait_for(timeout=10_000)
        found["grid column chooser"] = axe_violations(page, GRID)
        grid.locator("summary", has_text="Columns").click()
        grid.get_by_role("combobox", name="Metric to aggregate per group").select_option("val_acc")
        grid.get_by_role("combobox", name="Group runs by param").select_option("lr")
        grid.locator("table.jp-nbtrack-grid-groups").wait_for(timeout=30_000)
        found["grid groups"] = axe_violations(page, GRID)
        screenshot(page, artifacts, f"a11y-grid-{suffix}.png")

        _compare_all(page)
        found["comparison + chart"] = axe_violations(page, COMPARISON)
        screenshot(page, artifacts, f"a11y-compare-{suffix}.png")

        details = _details(page, NAMES[1])
        details.locator(".jp-nbtrack-export").scroll_into_view_if_needed()
        found["details curves + export"] = axe_violations(page, DETAILS)
        screenshot(page, artifacts, f"a11y-details-{suffix}.png")
    finally:
        light_again(page)
    counts = ", ".join(f"{view} {len(v)}" for view, v in found.items())
    REPORT.append(f"axe-core WCAG 2 A/AA violations, merged views ({theme}): {counts}")
    assert not any(found.values()), "\n".join(report(v, f"the {k} ({theme})") for k, v in found.items() if v)


def _tab_until(page, label: str, limit: int = 60) -> list[tuple[str, dict[str, str]]]:
    """Press Tab until the focused element is named ``label``; every stop on the way with its focus ring."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stops.append((focused_label(page), focus_ring(page)))
        if stops[-1][0] == label:
            return stops
    raise AssertionError(f"Tab never reached {label!r}; stops: {[s for s, _ in stops]}")


def test_comparison_and_export_keyboard_order(page, lab, artifacts, views_runs):
    """Tab from the comparison's heading reaches the group-by boxes (in their order) before the chart picker;
    Tab from the export form's format reaches the file name, Overwrite and Export; every stop shows a ring."""
    _open(page, lab, views_runs)
    assert current_theme(page) == LIGHT
    _compare_all(page)
    view = page.locator(COMPARISON)
    boxes = view.locator("fieldset.jp-nbtrack-group-by input[type=checkbox]")
    params = [boxes.nth(k).get_attribute("value") for k in range(boxes.count())]
    assert "lr" in params, params
    view.locator("h2").first.click()  # focus inside the view, no control focused yet
    stops = _tab_until(page, "Chart")
    labels = [s for s, _ in stops]
    assert labels[:2] == ["Metric", "Run more…"], labels
    assert labels[2 : 2 + len(params)] == params, labels
    assert labels.index("Chart") > 2 + len(params)
    blind = [(s, r) for s, r in stops if not has_visible_ring(r)]
    assert not blind, f"focused without a visible focus ring: {blind}"
    REPORT.append(f"comparison Tab order: {' → '.join(labels)}")

    details = _details(page, NAMES[0])
    details.get_by_label("Format").focus()
    assert focused_label(page) == "Format" and has_visible_ring(focus_ring(page))
    stops = _tab_until(page, "Export to workspace", limit=3)
    labels = [s for s, _ in stops]
    assert labels == ["File name", "Overwrite", "Export to workspace"], labels
    blind = [(s, r) for s, r in stops if not has_visible_ring(r)]
    assert not blind, f"focused without a visible focus ring: {blind}"
    REPORT.append(f"export form Tab order: Format → {' → '.join(labels)}")
