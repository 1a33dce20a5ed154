"""The ipywidgets panel (``nbtrack.panel()``) in a real notebook: rows are selected by clicking their checkboxes,
header buttons sort, Compare shows the table and the chart (Vega-Lite when nbtrack.charts is there, else a PNG
at its natural size), and in a 600 px window the rows of controls wrap with every button label whole."""

from __future__ import annotations

import importlib.util

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

HAS_CHARTS = importlib.util.find_spec("nbtrack.charts") is not None

# Buttons whose text is cut (ellipsis) or that stick out of the output area: [label, ...]
CUT_OR_OUTSIDE = """out => {
  const right = out.getBoundingClientRect().right + 1;
  return [...out.querySelectorAll('button')]
    .filter(b => b.offsetParent !== null && b.closest('.nbtrack-grid') === null)
    .filter(b => b.scrollWidth > b.clientWidth + 1 || b.getBoundingClientRect().right > right)
    .map(b => b.textContent.trim() || b.title);
}"""

# WCAG contrast of an element's text against the background it is drawn on (alpha composited up the tree)
CONTRAST = """e => {
  const parse = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const over = (top, bottom) => {
    const a = top.length > 3 ? top[3] : 1;
    return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a));
  };
  const layers = [];
  for (let n = e; n; n = n.parentElement) {
    const c = parse(getComputedStyle(n).backgroundColor);
    if (c.length > 3 && c[3] === 0) continue;
    layers.push(c);
    if (c.length === 3 || c[3] === 1) break;
  }
  let bg = [255, 255, 255];
  for (const c of layers.reverse()) bg = over(c, bg);
  const fg = over(parse(getComputedStyle(e).color), bg);
  const lum = c => {
    const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [l1, l2] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (l1 + 0.05) / (l2 + 0.05);
}"""


def set_theme(page, name: str) -> None:
    page.locator(".lm-MenuBar-item", has_text="Settings").first.click()
    page.locator(".lm-Menu-item", has_text="Theme").first.hover()
    page.locator('.lm-Menu-item[data-command="apputils:change-theme"]', has_text=name).first.click()
    light = "true" if "Light" in name else "false"
    page.locator(f'body[data-jp-theme-light="{light}"]').wait_for(state="attached", timeout=30_000)


def low_contrast(output) -> list[tuple[str, float]]:
    """Grid cells (selected rows and status badges included) whose text is below WCAG AA (4.5:1)."""
    found = []
    cells = output.locator(".nbtrack-grid-row .nbtrack-cell").all()[:40]
    assert len(cells) == 40
    for cell in cells:
        ratio = cell.evaluate(CONTRAST)
        if ratio < 4.5:
            found.append((cell.inner_text(), round(ratio, 2)))
    return found


def test_panel_rows_sort_compare_and_chart(page, lab, artifacts):
    notebook(lab.root / "panel_demo.ipynb", [RUNS, "p = nbtrack.panel()\np"])
    open_notebook(page, lab, "panel_demo.ipynb")
    run_all_cells(page)
    # the panel's own output area (its Vega-Lite chart is an Output widget: an output area inside this one)
    output = page.locator(".jp-OutputArea-output", has=page.locator(".nbtrack-panel")).first
    rows = output.locator(".nbtrack-grid-row")
    output.get_by_text("lr0.1-seed3").first.wait_for(timeout=90_000)
    assert rows.count() == 8

    # rows are selected by clicking their checkbox
    first, second = rows.nth(0), rows.nth(1)
    first.locator("input[type=checkbox]").click()
    second.locator("input[type=checkbox]").click()
    output.get_by_text("2 selected").first.wait_for(timeout=30_000)
    page.wait_for_function("r => r.classList.contains('nbtrack-selected')", arg=second.element_handle(), timeout=30_000)
    selected_bg = second.evaluate("e => getComputedStyle(e).backgroundColor")
    plain_bg = rows.nth(5).evaluate("e => getComputedStyle(e).backgroundColor")
    assert selected_bg != plain_bg  # the theme's second layout colour marks the selection

    # a header button sorts (val_acc, largest first), a second click reverses
    header = output.locator(".nbtrack-grid-head button", has_text="val_acc")
    header.click()
    output.locator(".nbtrack-grid-head button", has_text="val_acc ▼").wait_for(timeout=30_000)
    assert "lr0.1-seed3" in rows.nth(0).inner_text()
    output.locator(".nbtrack-grid-head button", has_text="val_acc ▼").click()
    output.locator(".nbtrack-grid-head button", has_text="val_acc ▲").wait_for(timeout=30_000)
    page.wait_for_function("r => r.innerText.includes('lr0.01-seed0')", arg=rows.nth(0).element_handle())

    # the page checkbox selects all eight, Compare shows the table and the chart
    output.locator(".nbtrack-grid-head input[type=checkbox]").click()
    output.get_by_text("8 selected").first.wait_for(timeout=30_000)
    compare = output.locator("button.widget-button", has_text="Compare")
    page.wait_for_function("b => !b.disabled", arg=compare.element_handle(), timeout=30_000)
    compare.click()
    output.locator(".nbtrack-compare table").first.wait_for(timeout=60_000)
    assert "lr=0.01" in output.locator(".nbtrack-compare").inner_text()
    if HAS_CHARTS:
        output.locator(".nbtrack-chart svg, .nbtrack-chart canvas").first.wait_for(timeout=60_000)
    else:
        image = output.locator(".widget-image").first
        image.wait_for(timeout=60_000)
        page.wait_for_function("i => i.naturalWidth > 0", arg=image.element_handle(), timeout=30_000)
        shown, natural = image.evaluate("i => [i.getBoundingClientRect().width, i.naturalWidth]")
        assert shown <= natural + 1, (shown, natural)  # never blown up past its natural size
    output.scroll_into_view_if_needed()
    screenshot(page, artifacts, "panel.png", readme=True)

    # the theme's colours only: text of selected rows and status badges stays AA in light and dark
    first.locator("input[type=checkbox]").click()  # one row not selected, the others selected
    page.wait_for_function("r => !r.classList.contains('nbtrack-selected')", arg=first.element_handle())
    assert low_contrast(output) == []
    set_theme(page, "JupyterLab Dark")
    try:
        page.wait_for_timeout(500)
        assert low_contrast(output) == []
        dark_bg = second.evaluate("e => getComputedStyle(e).backgroundColor")
        assert dark_bg != selected_bg  # the selected shade follows the theme
        screenshot(page, artifacts, "panel-dark.png", readme=True)
    finally:
        set_theme(page, "JupyterLab Light")

    # a 600 px window: the rows of controls wrap, no label is cut, nothing sticks out
    page.set_viewport_size({"width": 600, "height": 860})
    page.wait_for_timeout(500)  # one layout pass after the resize
    width = output.evaluate("o => o.getBoundingClientRect().width")
    assert width <= 600
    assert output.evaluate(CUT_OR_OUTSIDE) == []
    for label in ("Compare", "Export", "Delete", "Clear selection", "▼ desc"):
        button = output.locator("button", has_text=label).first
        assert button.inner_text().strip().endswith(label.split()[-1])
        assert button.bounding_box()["width"] > 40  # not squeezed to an icon
    screenshot(page, artifacts, "panel-600px.png")
