"""The JupyterLab sidebar in a real browser: runs appear as %%track cells finish, selection, comparison,
run details, HTML in names shown as text, and the first page of a 10,000-run store. The notebook-identity
behaviours (renames, per-notebook filters, the picker, the 250 px list) are in test_browser_notebooks.py."""

from __future__ import annotations

import copy
import time

import pytest

import nbtrack
from nbtrack import ids as ids_mod
from nbtrack.store import local as store_mod

from .conftest import (
    REPORT,
    needs_chromium,
    notebook,
    open_notebook,
    open_sidebar,
    run_all_cells,
    screenshot,
    widen_sidebar,
    workspace,
)

pytestmark = [pytest.mark.browser, needs_chromium]

XSS_NAME = "<img src=x onerror=alert(1)>"
SIDEBAR = "#nbtrack-runs"
ROWS = f"{SIDEBAR} li.jp-nbtrack-run"

SETUP = """%load_ext nbtrack
import numpy as np
import pandas as pd
import nbtrack
rng = np.random.default_rng(0)
train_df = pd.DataFrame({"x": rng.normal(size=500), "y": rng.integers(0, 2, 500)})

def train(df, lr, seed):
    noise = np.random.default_rng([seed, int(lr * 100)]).normal(0, 0.01)
    return 0.78 + 0.4 * lr - 0.5 * lr * lr + noise + 0.0001 * len(df)"""


def track_cell(lr: float, seed: int) -> str:
    return (
        f"%%track --name lr{lr}-seed{seed}\nlr = {lr}\nseed = {seed}\nval_acc = train(train_df, lr, seed)\n"
        f"nbtrack.log_metric('val_acc', val_acc)\nnbtrack.log_metric('loss', 1 - val_acc)"
    )


@pytest.fixture(scope="module")
def credit_notebook(lab):
    cells = [SETUP] + [track_cell(lr, seed) for lr in (0.1, 0.3) for seed in (0, 1, 2)]
    cells.append(f'%%track --name "{XSS_NAME}"\nlr = 0.2\nnbtrack.log_metric("val_acc", 0.5)')
    notebook(lab.root / "credit.ipynb", cells)
    return "credit.ipynb"


def test_runs_appear_live_compare_and_details(page, lab, artifacts, credit_notebook):
    open_notebook(page, lab, credit_notebook)
    open_sidebar(page)
    widen_sidebar(page)
    sidebar = page.locator(SIDEBAR)
    sidebar.get_by_text("No runs in experiment “credit” yet").wait_for(timeout=20_000)

    run_all_cells(page)  # the sidebar polls; no reload of the page
    page.locator(ROWS).nth(6).wait_for(timeout=90_000)
    assert page.locator(ROWS).count() == 7
    page.locator(f"{ROWS} .jp-nbtrack-status-finished").nth(6).wait_for(timeout=30_000)
    assert "credit" in sidebar.locator("select.jp-nbtrack-scope").inner_text()

    # a name full of HTML is text: shown verbatim, no <img> element, no alert (the page fixture checks)
    xss = sidebar.get_by_role("button", name=XSS_NAME, exact=True)
    assert xss.inner_text() == XSS_NAME
    assert sidebar.locator(".jp-nbtrack-run-list img").count() == 0

    # the list is real DOM text, labelled for a screen reader, with the one metric that matters
    header = sidebar.locator(".jp-nbtrack-run-header").inner_text()
    assert "Run" in header and "Status" in header and "val_acc" in header
    assert "Runs of notebook credit" in sidebar.locator("ul.jp-nbtrack-run-list").get_attribute("aria-label")
    assert page.locator(f"{ROWS} .jp-nbtrack-run-metric").first.inner_text() != "—"

    # select two runs (different lr) and compare them in the main area
    sidebar.get_by_role("checkbox", name="Select run lr0.1-seed0").check()
    sidebar.get_by_role("checkbox", name="Select run lr0.3-seed0").check()
    compare = sidebar.get_by_role("button", name="Compare (2)")
    assert compare.is_enabled()
    compare.click()
    view = page.locator(".jp-nbtrack-comparison")
    groups = view.locator("table.jp-nbtrack-table").first
    groups.wait_for(timeout=60_000)
    assert "lr=0.1" in groups.inner_text() and "lr=0.3" in groups.inner_text()
    assert view.locator("caption", has_text="Groups for val_acc").count() == 1
    view.locator(".jp-nbtrack-chart svg").first.wait_for(timeout=60_000)  # Vega-Lite, not a PNG
    assert view.locator(".jp-nbtrack-warning").count() >= 1  # one run per group: the warnings say so

    # all six seeds: three runs per group, intervals and a verdict
    for name in ("lr0.1-seed1", "lr0.1-seed2", "lr0.3-seed1", "lr0.3-seed2"):
        sidebar.get_by_role("checkbox", name=f"Select run {name}").check()
    sidebar.get_by_role("button", name="Compare (6)").click()
    six = page.locator(".jp-nbtrack-comparison", has_text="Comparison of 6 runs")
    six.locator("tr[data-verdict]").first.wait_for(timeout=60_000)
    six.locator(".jp-nbtrack-chart svg").first.wait_for(timeout=60_000)
    screenshot(page, artifacts, "sidebar-compare.png")

    # Run more shows what it would add (3 seeds a group decide nothing sequentially) and asks before starting
    six.get_by_role("button", name="Run more…").click()  # every metric shown: it asks which one decides
    six.get_by_text("say which metric to compare").wait_for(timeout=60_000)
    six.get_by_label("Metric").select_option("val_acc")
    six.locator("h3", has_text="loss").wait_for(state="detached", timeout=60_000)
    six.get_by_role("button", name="Run more…").click()
    planned = six.locator(".jp-nbtrack-run-more-box table")
    planned.wait_for(timeout=60_000)
    assert "Runs that Run more would add" in planned.locator("caption").inner_text()
    assert "lr=0.1" in planned.inner_text() and "lr=0.3" in planned.inner_text()
    assert six.get_by_role("button", name="Start", exact=False).is_visible()
    six.get_by_role("button", name="Cancel").click()
    assert six.locator(".jp-nbtrack-run-more-box table").count() == 0

    # details of the run with the HTML name: as text, with params, metrics, data and code
    xss.click()
    details = page.locator(".jp-nbtrack-details").last
    details.locator("h2").wait_for(timeout=30_000)
    assert details.locator("h2").inner_text() == XSS_NAME
    assert details.locator("img").count() == 0
    assert "val_acc" in details.inner_text() and "train_df" not in details.locator("h2").inner_text()
    sidebar.get_by_role("button", name="lr0.3-seed1", exact=True).click()
    details = page.locator(".jp-nbtrack-details", has_text="train_df").last
    details.wait_for(timeout=30_000)
    assert details.get_by_role("button", name="Export to workspace").is_enabled()  # test_browser_details.py exports
    screenshot(page, artifacts, "details-sidebar.png")  # the README's details.png: test_browser_details.py


CELL = """%%track --name sweep
lr = 0.01
seed = 3
depth = 4
model = fit(train_df, lr=lr, seed=seed, depth=depth)
nbtrack.log_metric("val_acc", score(model, val_df))"""


def _fill_store(path, n: int) -> None:
    """n runs of experiment ``big``, written as one journal append, shaped like real %%track records (a
    short cell, params, two metrics, a fingerprinted and profiled 4-column DataFrame)."""
    import numpy as np
    import pandas as pd

    store = store_mod.get_store(path)
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.4, 1000),
            "debt": rng.beta(2, 5, 1000),
            "age": rng.integers(18, 80, 1000),
            "region": rng.choice(["n", "s", "e", "w"], 1000),
        }
    )
    with nbtrack.track(
        "template", "big", {"lr": 0.1, "seed": 0, "depth": 3}, store=store, data={"train_df": df}, environment=False
    ) as run:
        nbtrack.log_metrics({"val_acc": 0.8, "loss": 0.2})
    template = dict(store.run_docs()[run.id], code=CELL, code_location=None)
    payloads = []
    for i in range(n - 1):
        doc = copy.deepcopy(template)
        doc["id"] = ids_mod.new_run_id()
        doc["name"] = f"sweep-{i}"
        doc["params"] = {"lr": round(0.001 * (i % 100), 3), "seed": i % 10, "depth": i % 7}
        doc["metrics"] = {"val_acc": 0.5 + (i % 97) / 200, "loss": 0.5 - (i % 89) / 200}
        payloads.append({"op": "put", "t": "runs", "id": doc["id"], "doc": doc})
    store.journal.append(payloads)
    store_mod._stores.pop(path.absolute(), None)


def test_first_page_of_a_10000_run_store(page, lab, artifacts):
    folder = lab.root / "big"
    folder.mkdir()
    _fill_store(folder / ".nbtrack", 10_000)
    notebook(folder / "big.ipynb", ["1 + 1"])
    size = (folder / ".nbtrack" / "runs.jsonl").stat().st_size
    first_page = page.locator(f"{SIDEBAR} .jp-nbtrack-pager", has_text="1–50 of 10,000")

    # 1. cold: the server has never read this store; JupyterLab opens on the notebook, then the sidebar
    started = time.perf_counter()
    page.goto(lab.page_url(f"lab/workspaces/{workspace('big')}/tree/big/big.ipynb"))
    open_sidebar(page)
    lab_up = time.perf_counter() - started
    first_page.wait_for(timeout=60_000)
    cold = time.perf_counter() - started
    assert page.locator(ROWS).count() == 50

    # 2. the usual case: working in the notebook (open, kernel idle), then opening the sidebar
    open_notebook(page, lab, "big/big.ipynb")
    started = time.perf_counter()
    open_sidebar(page)
    first_page.wait_for(timeout=60_000)
    page.locator(ROWS).nth(49).wait_for(timeout=10_000)
    on_open = time.perf_counter() - started

    # 3. the next page is one request
    started = time.perf_counter()
    page.locator(SIDEBAR).get_by_role("button", name="Next page").click()
    page.locator(f"{SIDEBAR} .jp-nbtrack-pager", has_text="51–100 of 10,000").wait_for(timeout=30_000)
    next_page = time.perf_counter() - started

    started = time.perf_counter()
    lab.api("runs?dir=big&experiment=big&limit=50")
    api_warm = time.perf_counter() - started
    report = (
        f"10,000-run store ({size / 1e6:.0f} MB journal): first page {on_open:.2f} s after opening the "
        f"sidebar next to the open notebook; {cold:.2f} s from navigating to JupyterLab with a server that "
        f"had never read the store (JupyterLab showed its sidebar tabs at {lab_up:.2f} s); "
        f"next page {next_page:.2f} s; warm API call {api_warm * 1000:.0f} ms"
    )
    REPORT.append(report)
    (artifacts / "timing.txt").write_text(report + "\n")
    screenshot(page, artifacts, "sidebar-10000.png")


def test_missing_or_different_server_extension(page, lab, artifacts):
    """What the sidebar says when /nbtrack/api/ is not there (the server extension is not enabled: jupyter_server
    answers 404) or reports another version."""
    page.route("**/nbtrack/api/**", lambda route: route.fulfill(status=404, body="<html>404 Not Found</html>"))
    page.goto(lab.page_url(f"lab/workspaces/{workspace('missing')}"))
    open_sidebar(page)
    alert = page.locator(f"{SIDEBAR} [role=alert]")
    alert.wait_for(timeout=30_000)
    assert "The nbtrack server extension is not running" in alert.inner_text()
    assert "jupyter server extension list" in alert.inner_text()
    screenshot(page, artifacts, "server-missing.png")

    page.unroute("**/nbtrack/api/**")
    version = {"name": "nbtrack", "version": "0.0.1", "api": 1}
    page.route("**/nbtrack/api/version*", lambda route: route.fulfill(json=version))
    page.reload()
    open_sidebar(page)
    alert.wait_for(timeout=30_000)
    text = alert.inner_text()
    assert "versions differ" in text and f"sidebar is {nbtrack.__version__}" in text and "0.0.1" in text
