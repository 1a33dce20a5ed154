"""The ipywidgets panel (``nbtrack.panel()``) in a real notebook: it renders, and Compare shows the table."""

from __future__ import annotations

import pytest

from .conftest import needs_chromium, notebook, open_notebook, run_all_cells, screenshot

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
]

RUNS = """import nbtrack
for lr in (0.01, 0.1):
    for seed in range(4):
        with nbtrack.track(f"lr{lr}-seed{seed}", params={"lr": lr, "seed": seed}):
            nbtrack.log_metric("val_acc", 0.8 + 2 * lr + 0.002 * seed)"""


def test_panel_compare(page, lab, artifacts):
    notebook(lab.root / "panel_demo.ipynb", [RUNS, "p = nbtrack.panel()\np"])
    open_notebook(page, lab, "panel_demo.ipynb")
    run_all_cells(page)
    output = page.locator(".jp-OutputArea-output").last
    select_page = output.locator("button.widget-button", has_text="Select page")
    select_page.wait_for(timeout=90_000)
    output.get_by_text("lr0.1-seed3").first.wait_for(timeout=30_000)
    select_page.click()
    compare = output.locator("button.widget-button", has_text="Compare")
    page.wait_for_function("b => !b.disabled", arg=compare.element_handle(), timeout=30_000)
    compare.click()
    table = output.locator(".nbtrack-compare table").first
    table.wait_for(timeout=60_000)
    assert "lr=0.01" in output.locator(".nbtrack-compare").inner_text()
    output.scroll_into_view_if_needed()
    screenshot(page, artifacts, "panel.png", readme=True)
