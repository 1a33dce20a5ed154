"""The sidebar follows notebooks by their own id, in a real JupyterLab: runs stay with a renamed notebook and new
runs of its kernel keep its experiment; filter and selection are each notebook's own; the experiment picker;
an honest empty state; the compact list at JupyterLab's default 250 px sidebar width."""

from __future__ import annotations

import pytest

from .conftest import needs_chromium, notebook, open_notebook, open_sidebar, run_all_cells, screenshot, widen_sidebar

pytestmark = [pytest.mark.browser, needs_chromium]

SIDEBAR = "#nbtrack-runs"
ROWS = f"{SIDEBAR} li.jp-nbtrack-run"
LONG_NAME = "lr-sweep-" + "x" * 291  # 300 characters

LOAD = "%load_ext nbtrack\nimport nbtrack"


def curve(name: str, lr: float, steps: int = 40, experiment: str = "") -> str:
    flag = f" -e {experiment}" if experiment else ""
    return (
        f"%%track --name {name}{flag}\nlr = {lr}\nfor step in range({steps}):\n"
        f"    nbtrack.log_metric('loss', 1 / (1 + lr * step), step=step)\nnbtrack.log_metric('val_acc', 0.7 + lr)"
    )


def set_sidebar_width(page, width: int) -> None:
    box = page.locator(SIDEBAR).bounding_box()
    widen_sidebar(page, pixels=round(width - box["width"]))
    page.wait_for_function(
        f"() => Math.abs(document.querySelector('{SIDEBAR}').getBoundingClientRect().width - {width}) <= 2",
        timeout=10_000,
    )


def main_tab(page, name: str):
    return page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text=name)


def wait_idle(page) -> None:
    page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for(timeout=60_000)


def test_compact_list_fits_250_px(page, lab, artifacts):
    notebook(lab.root / "curves.ipynb", [LOAD, curve(LONG_NAME, 0.3), curve("lr0.1", 0.1), curve("lr0.05", 0.05)])
    open_notebook(page, lab, "curves.ipynb")
    open_sidebar(page)
    set_sidebar_width(page, 250)
    run_all_cells(page)
    page.locator(ROWS).nth(2).wait_for(timeout=90_000)
    page.locator(f"{ROWS} .jp-nbtrack-status-finished").nth(2).wait_for(timeout=30_000)
    sidebar = page.locator(SIDEBAR)

    # nothing wider than the sidebar: no horizontal scroll, the long name cut with its full text on hover
    widths = page.evaluate(
        """sel => [...document.querySelectorAll(sel + ', ' + sel + ' .jp-nbtrack-body')]
               .map(n => [n.scrollWidth, n.clientWidth])""",
        SIDEBAR,
    )
    assert all(scroll <= client for scroll, client in widths), widths
    name = sidebar.get_by_role("button", name=LONG_NAME, exact=True)
    assert LONG_NAME in name.get_attribute("title")
    assert name.evaluate("n => n.scrollWidth > n.clientWidth")  # cut by the ellipsis, not overflowing
    right = sidebar.bounding_box()["x"] + sidebar.bounding_box()["width"]
    for box in (page.locator(f"{ROWS} .jp-nbtrack-badge").first.bounding_box(), name.bounding_box()):
        assert box["x"] + box["width"] <= right

    # the one metric that matters (the first the runs logged: loss) with its sparkline; a chooser for the others
    assert "loss" in sidebar.locator(".jp-nbtrack-run-header").inner_text()
    chooser = sidebar.get_by_label("Metric shown for each run")
    chooser.select_option("val_acc")
    sidebar.locator(".jp-nbtrack-run-header", has_text="val_acc").wait_for(timeout=30_000)
    assert page.locator(f"{ROWS} svg.jp-nbtrack-spark").count() == 0  # one value each: no line to draw
    chooser.select_option("loss")
    spark = page.locator(f"{ROWS} svg.jp-nbtrack-spark path")
    spark.nth(2).wait_for(timeout=30_000)
    assert spark.first.get_attribute("d").count("L") == 31  # 40 steps, downsampled to 32 points on the server
    assert "loss by step" in page.locator(f"{ROWS} svg.jp-nbtrack-spark").first.get_attribute("aria-label")
    screenshot(page, artifacts, "sidebar.png", readme=True)


def test_runs_follow_the_notebook_through_a_rename_and_each_notebook_keeps_its_filter(page, lab, artifacts):
    notebook(lab.root / "losses.ipynb", [LOAD, curve("a", 0.1, 3), curve("sweep", 0.2, 3, "lr-sweep")])
    notebook(lab.root / "other.ipynb", [LOAD, curve("o1", 0.1, 3)])
    open_notebook(page, lab, "losses.ipynb")
    open_sidebar(page)
    sidebar = page.locator(SIDEBAR)
    sidebar.get_by_text("No runs in experiment “losses” yet").wait_for(timeout=20_000)
    run_all_cells(page)
    page.locator(ROWS).nth(1).wait_for(timeout=90_000)
    wait_idle(page)

    # the run logged to lr-sweep is this notebook's: listed, its experiment named in the picker and the list
    scope = sidebar.locator("select.jp-nbtrack-scope")
    page.wait_for_function(
        f"() => document.querySelector('{SIDEBAR} select.jp-nbtrack-scope option').textContent.includes('lr-sweep')",
        timeout=30_000,
    )
    assert scope.locator("option").first.inner_text() == "This notebook (losses, lr-sweep)"
    assert sorted(sidebar.locator(".jp-nbtrack-run-experiment").all_inner_texts()) == ["losses", "lr-sweep"]

    # select a run, then filter everything out: the empty state says how many runs the filter hides
    sidebar.get_by_role("checkbox", name="Select run a").check()
    sidebar.get_by_label("Filter runs").fill("zzz")
    sidebar.get_by_text("2 runs hidden by the filter “zzz”.").wait_for(timeout=30_000)
    assert sidebar.get_by_role("button", name="Compare (1)").count() == 1
    assert "1 selected run is not in this list" in sidebar.locator(".jp-nbtrack-selection-note").inner_text()

    # another notebook: its own (empty) filter and selection
    page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="filebrowser"]').click()
    page.locator(".jp-DirListing-item", has_text="other.ipynb").dblclick()
    page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(timeout=60_000)
    wait_idle(page)
    open_sidebar(page)
    sidebar.get_by_text("No runs in experiment “other” yet").wait_for(timeout=30_000)
    assert sidebar.get_by_label("Filter runs").input_value() == ""
    assert sidebar.get_by_role("button", name="Compare (0)").is_disabled()
    assert sidebar.get_by_role("button", name="Clear selection").is_disabled()
    run_all_cells(page)
    sidebar.get_by_role("button", name="o1", exact=True).wait_for(timeout=90_000)
    wait_idle(page)

    # back: that notebook's filter and selection again; Clear filter shows its runs
    main_tab(page, "losses.ipynb").click()
    sidebar.get_by_text("2 runs hidden by the filter “zzz”.").wait_for(timeout=30_000)
    assert sidebar.get_by_label("Filter runs").input_value() == "zzz"
    sidebar.get_by_role("button", name="Clear filter").click()
    page.locator(ROWS).nth(1).wait_for(timeout=30_000)
    assert sidebar.get_by_role("checkbox", name="Select run a").is_checked()
    assert sidebar.get_by_role("button", name="Compare (1)").count() == 1
    assert sidebar.locator(".jp-nbtrack-selection-note").inner_text() == ""

    # rename the notebook: its runs stay in the sidebar
    page.locator(".lm-MenuBar-item", has_text="File").first.click()
    page.locator('.lm-Menu-item[data-command="docmanager:rename"]').click()
    field = page.locator(".jp-Dialog input")
    field.fill("losses v2.ipynb")
    page.locator(".jp-Dialog button.jp-mod-accept").click()
    main_tab(page, "losses v2.ipynb").wait_for(timeout=30_000)
    page.wait_for_timeout(500)  # let the sidebar follow the new path (the rows must stay, not come back later)
    assert page.locator(ROWS).count() == 2
    assert scope.locator("option").first.inner_text() == "This notebook (losses, lr-sweep)"

    # new runs of the same kernel: the same notebook id, the same experiment as before the rename
    run_all_cells(page)
    page.locator(ROWS).nth(3).wait_for(timeout=90_000)
    wait_idle(page)
    runs = lab.api("runs?limit=100")["runs"]
    mine = [r for r in runs if r["name"] in ("a", "sweep")]
    assert len(mine) == 4 and len({r.get("notebook_id") for r in mine}) == 1 and mine[0].get("notebook_id")
    assert sorted(r["experiment"] for r in mine) == ["losses", "losses", "lr-sweep", "lr-sweep"]
    assert not [r for r in runs if r["experiment"] == "losses v2"]

    # the picker: one experiment of the store, then all of them with an Experiment field
    scope.select_option("experiment:lr-sweep")
    page.wait_for_function(
        f"() => [...document.querySelectorAll('{ROWS} .jp-nbtrack-run-name')].every(n => n.textContent === 'sweep')",
        timeout=30_000,
    )
    scope.select_option("all")
    sidebar.get_by_role("button", name="o1", exact=True).wait_for(timeout=30_000)
    assert "Experiment" in sidebar.locator(".jp-nbtrack-run-header").inner_text()
    assert "other" in sidebar.locator(".jp-nbtrack-run-experiment").all_inner_texts()
    assert scope.locator("option").first.inner_text() == "This notebook (losses, lr-sweep)"  # still its own
    screenshot(page, artifacts, "sidebar-all-experiments.png")
