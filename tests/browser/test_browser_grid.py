"""The main-area runs table in a real browser: a 10,000-run store (sort, resize, column chooser saved across
reopening, the where filter and its error, keyboard navigation, virtualized scrolling, timings printed), a small
store (select-all, range select, bulk tag and delete reaching the store, group aggregates equal to
nbtrack.analysis), and the run id of a summary line opening the run's details."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import nbtrack
from nbtrack.analysis.intervals import mean_interval
from nbtrack.store import local as store_mod

from .conftest import REPORT, needs_chromium, notebook, open_notebook, open_sidebar, run_all_cells, screenshot
from .test_browser_sidebar import _fill_store

pytestmark = [pytest.mark.browser, needs_chromium]

VIEW = ".jp-nbtrack-grid-view"
GRID = f"{VIEW} .jp-nbtrack-grid"
ROWS = f"{GRID} .jp-nbtrack-grid-body .jp-nbtrack-grid-row"
OPEN_FROM_SIDEBAR = """async () => {
  const t0 = performance.now();
  document.querySelector('#nbtrack-runs button[title="Open these runs in a table"]').click();
  const frame = () => new Promise(r => requestAnimationFrame(r));
  while (!document.querySelector('.jp-nbtrack-grid-body .jp-nbtrack-grid-row')) { await frame(); }
  await frame();
  return performance.now() - t0;
}"""
SORT_BY = """async key => {
  const t0 = performance.now();
  document.querySelector(`.jp-nbtrack-grid-head [data-key="${key}"] button`).click();
  await new Promise(r => requestAnimationFrame(r));
  return performance.now() - t0;
}"""
FILTER = """async text => {
  const input = document.querySelector('.jp-nbtrack-grid-where');
  const view = document.querySelector('.jp-nbtrack-grid-view');
  const t0 = performance.now();
  input.value = text;
  input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
  const frame = () => new Promise(r => requestAnimationFrame(r));
  await frame();
  while (view.getAttribute('aria-busy') !== 'false') { await frame(); }
  return performance.now() - t0;
}"""
SCROLL_FPS = """async () => {
  const grid = document.querySelector('.jp-nbtrack-grid');
  grid.scrollTop = 0;
  const frame = () => new Promise(r => requestAnimationFrame(r));
  let idle = 0;
  const i0 = performance.now();
  while (performance.now() - i0 < 1000) { await frame(); idle++; }  // the page's frame rate, not scrolling
  const idleFps = idle / ((performance.now() - i0) / 1000);
  let frames = 0, most = 0;
  const t0 = performance.now();
  await new Promise(done => {
    const step = () => {
      frames++;
      most = Math.max(most, grid.querySelectorAll('.jp-nbtrack-grid-body .jp-nbtrack-grid-row').length);
      grid.scrollTop += 240;
      if (performance.now() - t0 < 2000 && grid.scrollTop + grid.clientHeight < grid.scrollHeight) {
        requestAnimationFrame(step);
      } else { done(); }
    };
    requestAnimationFrame(step);
  });
  const seconds = (performance.now() - t0) / 1000;
  return { fps: frames / seconds, idleFps, rows: most, top: grid.scrollTop };
}"""


def row(page, r: int):
    """The row shown at position r (0: the first), by aria-rowindex: rows are recycled, not in DOM order."""
    return page.locator(f"{ROWS}[aria-rowindex='{r + 2}']")


def column_texts(page, key: str, n: int = 10) -> list[str]:
    index = page.locator(f"{GRID} .jp-nbtrack-grid-head [data-key='{key}']").get_attribute("aria-colindex")
    return [row(page, i).locator(f"[aria-colindex='{index}']").inner_text() for i in range(n)]


def header(page, key: str):
    return page.locator(f"{GRID} .jp-nbtrack-grid-head [data-key='{key}']")


def open_palette_command(page, label: str) -> None:
    page.keyboard.press("Control+Shift+C")
    field = page.locator(".lm-CommandPalette-input")
    field.wait_for(timeout=10_000)
    field.fill(label)
    page.locator(".lm-CommandPalette-item", has_text=label).first.click()


@pytest.fixture(scope="module")
def big_store(lab):
    folder = lab.root / "gridbig"
    folder.mkdir()
    _fill_store(folder / ".nbtrack", 10_000)
    notebook(folder / "big.ipynb", ["1 + 1"])
    return folder


def test_grid_of_10000_runs(page, lab, artifacts, big_store):
    open_notebook(page, lab, "gridbig/big.ipynb")
    open_sidebar(page)
    page.locator("#nbtrack-runs .jp-nbtrack-pager", has_text="of 10,000").wait_for(timeout=60_000)
    first_rows = page.evaluate(OPEN_FROM_SIDEBAR)
    page.locator(f"{VIEW} .jp-nbtrack-grid-status", has_text="10,000 runs").wait_for(timeout=30_000)
    assert page.locator(ROWS).count() < 100  # virtualized: only the rows in view are in the DOM
    assert page.locator(GRID).get_attribute("aria-rowcount") == "10001"

    # sort: metric descending on the first click, missing values last; shift-click adds a second key
    sort_ms = page.evaluate(SORT_BY, "metrics.val_acc")
    assert header(page, "metrics.val_acc").get_attribute("aria-sort") == "descending"
    top = column_texts(page, "metrics.val_acc", 12)
    assert top == ["0.9800"] * 12  # the column's best, with the column's 4 decimals
    page.locator(f"{GRID} .jp-nbtrack-grid-head [data-key='params.lr'] button").click(modifiers=["Shift"])
    assert header(page, "metrics.val_acc").get_attribute("aria-sort") == "descending"
    lrs = [float(t) for t in column_texts(page, "params.lr", 12)]
    assert lrs == sorted(lrs, reverse=True) and "2" in header(page, "params.lr").inner_text()
    page.locator(f"{GRID} .jp-nbtrack-grid-head [data-key='params.lr'] button").click()  # plain click: lr only
    assert header(page, "metrics.val_acc").get_attribute("aria-sort") == "none"
    assert header(page, "params.lr").get_attribute("aria-sort") == "ascending"
    assert column_texts(page, "params.lr", 3) == ["0.0000"] * 3
    sort_ms_lr = page.evaluate(SORT_BY, "params.lr")
    assert header(page, "params.lr").get_attribute("aria-sort") == "descending"
    assert column_texts(page, "params.lr", 2) == ["0.1000", "0.0990"]  # the template run, then the sweep's top
    numbers = page.locator(f"{ROWS} .jp-nbtrack-grid-number").first
    assert numbers.evaluate("e => getComputedStyle(e).textAlign") == "right"

    # resize by dragging the handle, then with the keyboard
    cell = header(page, "metrics.val_acc")
    cell.scroll_into_view_if_needed()
    before = cell.bounding_box()["width"]
    handle = cell.locator(".jp-nbtrack-grid-resize").bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 80, y, steps=4)
    page.mouse.up()
    after = header(page, "metrics.val_acc").bounding_box()["width"]
    assert after == pytest.approx(before + 80, abs=3)
    header(page, "metrics.val_acc").locator(".jp-nbtrack-grid-resize").focus()
    page.keyboard.press("ArrowRight")
    assert header(page, "metrics.val_acc").bounding_box()["width"] == pytest.approx(after + 16, abs=2)
    first_cell = (
        page.locator(ROWS)
        .first.locator("[aria-colindex]")
        .nth(int(header(page, "metrics.val_acc").get_attribute("aria-colindex")) - 1)
    )
    assert first_cell.bounding_box()["width"] == pytest.approx(after + 16, abs=2)

    # the column chooser: hide depth, show the data fingerprint; the set survives closing and reopening
    view = page.locator(VIEW)
    view.locator("summary", has_text="Columns").click()
    chooser = view.locator(".jp-nbtrack-grid-chooser-panel")
    assert [t.strip() for t in chooser.locator("legend").all_inner_texts()][:3] == ["Run", "Params", "Metrics"]
    chooser.locator("input[data-key='params.depth']").uncheck()
    chooser.locator("input[data-key='data.train_df']").check()
    view.locator("summary", has_text="Columns").click()
    assert header(page, "params.depth").count() == 0 and header(page, "data.train_df").count() == 1
    page.locator(
        '.lm-DockPanel-tabBar .lm-TabBar-tab[data-id="nbtrack-grid-gridbig-big"] .lm-TabBar-tabCloseIcon'
    ).click()
    page.locator(VIEW).wait_for(state="detached", timeout=10_000)
    open_palette_command(page, "Open nbtrack runs table")
    page.locator(ROWS).first.wait_for(timeout=30_000)
    assert header(page, "params.depth").count() == 0 and header(page, "data.train_df").count() == 1
    width = header(page, "metrics.val_acc").bounding_box()["width"]
    assert width == pytest.approx(after + 16, abs=2)
    saved = page.evaluate("() => localStorage.getItem('nbtrack.grid.columns:gridbig:big')")
    assert "data.train_df" in saved and "params.depth" not in saved

    # filter: a bad expression shows its error next to the field; a good one filters on the server
    page.evaluate(FILTER, "params.depth >")
    error = page.locator(f"{VIEW} .jp-nbtrack-grid-filter-error [role=alert]")
    error.wait_for(timeout=10_000)
    assert "Fix the filter" in error.inner_text()
    assert page.locator(f"{VIEW} .jp-nbtrack-grid-where").get_attribute("aria-invalid") == "true"
    filter_ms = page.evaluate(FILTER, "params.depth == 3 and metrics.val_acc > 0.9")
    expected = sum(1 for i in range(9_999) if i % 7 == 3 and 0.5 + (i % 97) / 200 > 0.9)
    page.locator(f"{VIEW} .jp-nbtrack-grid-status", has_text=f"{expected:,} runs match the filter").wait_for(
        timeout=10_000
    )
    assert error.count() == 0
    page.evaluate(FILTER, "")
    page.locator(f"{VIEW} .jp-nbtrack-grid-status", has_text="10,000 runs ·").wait_for(timeout=10_000)

    # scrolling: rows stay virtualized all the way down
    scroll = page.evaluate(SCROLL_FPS)
    assert scroll["rows"] < 100 and scroll["top"] > 2_000

    # keyboard: a focused cell moves with the arrows, Space selects its row, Enter opens its details
    page.evaluate("() => { document.querySelector('.jp-nbtrack-grid').scrollTop = 0; }")
    row(page, 0).locator("[aria-colindex='3']").click()
    for key in ("ArrowDown", "ArrowDown", "ArrowDown", "ArrowRight", "ArrowLeft", "ArrowLeft"):
        page.keyboard.press(key)
    focused = page.evaluate(
        "() => [document.activeElement.parentElement.dataset.row, document.activeElement.dataset.col]"
    )
    assert focused == ["3", "1"]
    page.keyboard.press("Space")
    fourth = row(page, 3)
    assert fourth.get_attribute("aria-selected") == "true"
    run_id = fourth.get_attribute("data-run-id")
    assert page.locator(f"{VIEW} .jp-nbtrack-grid-status", has_text="1 selected").count() == 1
    screenshot(page, artifacts, "grid.png", readme=True)
    page.keyboard.press("Enter")
    details = page.locator(".jp-nbtrack-details").last
    details.locator("dl").wait_for(timeout=30_000)
    assert run_id in details.inner_text()

    report = (
        f"runs table, 10,000 runs (browser performance.now): first rows {first_rows:.0f} ms after Open table; "
        f"sort {sort_ms:.0f} ms (val_acc), {sort_ms_lr:.0f} ms (lr); filter {filter_ms:.0f} ms (server round trip); "
        f"scroll {scroll['fps']:.0f} fps (the idle page: {scroll['idleFps']:.0f} fps) with at most "
        f"{scroll['rows']} rows in the DOM"
    )
    REPORT.append(report)
    print(report)
    (artifacts / "grid-timing.txt").write_text(report + "\n")


def _small_store(path):
    store = store_mod.get_store(path)
    rng = np.random.default_rng(1)
    for lr in (0.1, 0.2, 0.3):
        for seed in range(6):
            with nbtrack.track(f"lr{lr}-s{seed}", "small", {"lr": lr, "seed": seed}, store=store, environment=False):
                nbtrack.log_metric("val_acc", 0.7 + lr / 2 + rng.normal(0, 0.02))
    store_mod._stores.pop(path.absolute(), None)


def _small_store_run(path) -> None:
    store = store_mod.Store(path)
    with nbtrack.track("late", "small", {"lr": 0.4, "seed": 0}, store=store, environment=False):
        nbtrack.log_metric("val_acc", 0.9)


def test_grid_selection_bulk_tag_delete_and_groups(page, lab, artifacts):
    folder = lab.root / "gridsmall"
    folder.mkdir()
    _small_store(folder / ".nbtrack")
    notebook(folder / "small.ipynb", ["1 + 1"])
    open_notebook(page, lab, "gridsmall/small.ipynb")
    open_sidebar(page)
    page.locator("#nbtrack-runs").get_by_role("button", name="Open table").click()
    status = page.locator(f"{VIEW} .jp-nbtrack-grid-status")
    status.get_by_text("18 runs · 0 selected").wait_for(timeout=30_000)
    everything = page.get_by_role("checkbox", name="Select all runs shown")

    # select-all, tri-state, range select with shift-click
    everything.click()
    status.get_by_text("18 runs · 18 selected").wait_for(timeout=5_000)
    assert everything.is_checked()
    row(page, 0).locator("input[type=checkbox]").click()
    assert everything.evaluate("e => e.indeterminate") and not everything.is_checked()
    everything.click()
    everything.click()
    status.get_by_text("0 selected").wait_for(timeout=5_000)
    row(page, 2).locator("input[type=checkbox]").click()
    row(page, 6).locator("input[type=checkbox]").click(modifiers=["Shift"])
    status.get_by_text("5 selected").wait_for(timeout=5_000)
    chosen = [row(page, i).get_attribute("data-run-id") for i in range(2, 7)]
    assert all(row(page, i).get_attribute("aria-selected") == "true" for i in range(2, 7))
    assert row(page, 7).get_attribute("aria-selected") == "false"

    # bulk tag: in the store, and shown once the tag column is chosen
    page.get_by_role("textbox", name="Tag for the selected runs, as name=value").fill("review=keep")
    page.get_by_role("button", name="Tag selected").click()
    page.locator(VIEW).get_by_text("Tagged 5 runs review=keep.").wait_for(timeout=30_000)
    # the sidebar's poll reloads the table after the writes: what the action did stays on screen
    page.locator(VIEW).get_by_role("button", name="Reload").click()
    status.get_by_text("18 runs · 5 selected").wait_for(timeout=30_000)
    page.locator(f"{VIEW}[aria-busy=false]").wait_for(timeout=30_000)
    page.wait_for_timeout(300)
    assert page.locator(VIEW).get_by_text("Tagged 5 runs review=keep.").is_visible()
    store = store_mod.Store(folder / ".nbtrack")
    tagged = {k for k, d in store.run_docs().items() if (d.get("tags") or {}).get("review") == "keep"}
    assert tagged == set(chosen)

    # bulk delete asks first; cancel keeps them, Delete removes them from the store
    row(page, 0).locator("input[type=checkbox]").click()
    status.get_by_text("6 selected").wait_for(timeout=5_000)
    gone = [chosen[0], row(page, 0).get_attribute("data-run-id")]
    for i in range(3, 7):  # unselect the rest of the range
        row(page, i).locator("input[type=checkbox]").click()
    status.get_by_text("2 selected").wait_for(timeout=5_000)
    page.get_by_role("button", name="Delete selected").click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_text("Delete 2 runs?").wait_for(timeout=10_000)
    dialog.get_by_role("button", name="Cancel").click()
    assert set(gone) <= set(store_mod.Store(folder / ".nbtrack").run_docs())
    page.get_by_role("button", name="Delete selected").click()
    page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
    status.get_by_text("16 runs · 0 selected").wait_for(timeout=30_000)
    remaining = store_mod.Store(folder / ".nbtrack").run_docs()
    assert not set(gone) & set(remaining) and len(remaining) == 16

    # group by lr: n, mean and interval as nbtrack.analysis computes them on the store's runs
    page.get_by_role("combobox", name="Metric to aggregate per group").select_option("val_acc")
    page.get_by_role("combobox", name="Group runs by param").select_option("lr")
    table = page.locator(f"{VIEW} table.jp-nbtrack-grid-groups")
    table.wait_for(timeout=30_000)
    shown = {}
    for tr in table.locator("tbody tr").all():
        cells = tr.locator("td").all_inner_texts()
        low, high = (float(v) for v in re.findall(r"-?\d+\.\d+", cells[3]))
        shown[cells[0]] = (int(cells[1]), float(cells[2]), low, high)
    by_lr: dict[str, list[float]] = {}
    for doc in remaining.values():
        by_lr.setdefault(str(doc["params"]["lr"]), []).append(doc["metrics"]["val_acc"])
    assert set(shown) == set(by_lr)
    for lr, scores in by_lr.items():
        n, mean, low, high = shown[lr]
        expected_low, expected_high = mean_interval(np.asarray(scores))
        assert n == len(scores)
        assert mean == pytest.approx(float(np.mean(scores)), abs=6e-4)
        assert (low, high) == pytest.approx((expected_low, expected_high), abs=6e-4)
        assert not math.isnan(low)
    table.get_by_role("button", name=re.compile(r"Select the \d+ runs of lr=0\.2")).click()
    status.get_by_text(f"{len(by_lr['0.2'])} selected").wait_for(timeout=5_000)
    assert page.get_by_role("button", name=f"Compare ({len(by_lr['0.2'])})").is_enabled()
    screenshot(page, artifacts, "grid-groups.png")

    # a run written meanwhile (here by this process) appears without reopening the table
    _small_store_run(folder / ".nbtrack")
    status.get_by_text("17 runs").wait_for(timeout=60_000)


def test_summary_run_id_opens_the_details(page, lab, artifacts):
    folder = lab.root / "gridlink"
    folder.mkdir()
    cells = ["%load_ext nbtrack\nimport nbtrack", "%%track --name linked-run\nx = 1\nnbtrack.log_metric('m', 0.5)"]
    notebook(folder / "linked.ipynb", cells)
    open_notebook(page, lab, "gridlink/linked.ipynb")
    run_all_cells(page)
    link = page.locator(".jp-OutputArea-output [data-nbtrack-run]")
    link.wait_for(timeout=90_000)
    run_id = link.get_attribute("data-nbtrack-run")
    assert run_id == link.inner_text()
    link.click()
    details = page.locator(".jp-nbtrack-details").last
    details.locator("h2", has_text="linked-run").wait_for(timeout=30_000)
    assert run_id in details.inner_text()
    screenshot(page, artifacts, "grid-summary-link.png")
