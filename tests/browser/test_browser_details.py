"""The diff and details views in a real browser, over runs a real kernel recorded: the diff shows both sources of
the cells that differ with their changed lines marked, metric deltas and the data's change note; the details show
tags, the error's traceback, the upstream run as a link to its details; export writes the verified script into
the workspace and opens it; a run that cannot be exported says why on a disabled button."""

from __future__ import annotations

import pytest

from nbtrack.store import local as store_mod
from tests.kernel_helpers import code, new_session

from .conftest import needs_chromium, open_notebook, open_sidebar, screenshot, widen_sidebar

pytestmark = [pytest.mark.browser, needs_chromium]

SIDEBAR = "#nbtrack-runs"
SETUP = """%load_ext nbtrack
import numpy as np
import pandas as pd
import nbtrack
rng = np.random.default_rng(0)
train_df = pd.DataFrame({"debt_ratio": rng.normal(0.3, 0.1, 500), "age": rng.integers(20, 70, 500)})"""
SHIFT = 'train_df["debt_ratio"] = train_df["debt_ratio"] + 0.09'
PREP = """%%track --name prep -e pipe -t stage=prep
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
train_df.to_csv("clean.csv", index=False)
fig, ax = plt.subplots(figsize=(3, 2))
ax.hist(train_df["debt_ratio"], bins=20)
fig.savefig("hist.png", dpi=60)
plt.close(fig)
nbtrack.log_metric("rows", len(train_df))"""
FIT = """%%track --name {name} -e pipe -t stage=fit -t owner=ana
clean = pd.read_csv("clean.csv")
lr = {lr}
score = 0.7 + lr * train_df["debt_ratio"].mean() + 0.0 * len(clean)
nbtrack.log_metric("val_acc", score)"""
BROKEN = """%%track --name broken -e pipe
lr = 5.0
raise ValueError("lr too large for this model")"""


@pytest.fixture(scope="module")
def pipe(lab):
    """Two notebooks of experiment ``pipe`` run in real kernels: ``first.ipynb`` (prep, fit-a with lr 0.1, a
    failing run), then ``pipe.ipynb`` (the same, but shifting debt_ratio before prep, and fit-b with lr 0.3)."""
    folder = lab.root / "pipe"
    folder.mkdir()
    first = new_session(
        folder,
        [code(SETUP), code(PREP), code(FIT.format(name="fit-a", lr=0.1)), code(BROKEN, tags=["raises-exception"])],
        name="first.ipynb",
    )
    first.execute_all()
    second = new_session(
        folder, [code(SETUP), code(SHIFT), code(PREP), code(FIT.format(name="fit-b", lr=0.3))], name="pipe.ipynb"
    )
    second.execute_all()
    runs = {run.name: run for run in second.all_runs()}
    store_mod._stores.pop((folder / ".nbtrack").absolute(), None)
    return folder, runs


def test_diff_shows_both_sources_deltas_and_data_notes(page, lab, artifacts, pipe):
    _, runs = pipe
    open_notebook(page, lab, "pipe/pipe.ipynb")
    open_sidebar(page)
    widen_sidebar(page)
    sidebar = page.locator(SIDEBAR)
    sidebar.get_by_role("checkbox", name="Select run fit-a").check()
    sidebar.get_by_role("checkbox", name="Select run fit-b").check()
    sidebar.get_by_role("button", name="Diff", exact=True).click()
    view = page.locator(".jp-nbtrack-diff").last
    view.locator(".jp-nbtrack-cell-change").first.wait_for(timeout=60_000)

    # the edited fit cell: A's source beside B's, the changed lines marked by class and by words
    changed = view.locator(".jp-nbtrack-cell-changed", has_text="fit-b")
    sources = changed.locator(".jp-nbtrack-source")
    assert sources.count() == 2
    assert "lr = 0.1" in sources.nth(0).inner_text() and "lr = 0.3" in sources.nth(1).inner_text()
    removed = sources.nth(0).locator(".jp-nbtrack-line-removed")
    added = sources.nth(1).locator(".jp-nbtrack-line-added")
    assert "lr = 0.1" in removed.all_inner_texts()[-1] and any("lr = 0.3" in t for t in added.all_inner_texts())
    assert removed.first.locator(".jp-nbtrack-sr-only").inner_text().startswith("removed line")
    assert added.first.locator(".jp-nbtrack-sr-only").inner_text().startswith("added line")
    unmarked = sources.nth(0).locator(".jp-nbtrack-line:not(.jp-nbtrack-line-removed)").all_inner_texts()
    assert "lr = 0.1" not in " ".join(unmarked) and any("clean.csv" in t for t in unmarked)
    # the cell only B ran, with its source, every line added
    only_b = view.locator(".jp-nbtrack-cell-added", has_text="added in B")
    assert only_b.count() == 1 and "+ 0.09" in only_b.locator(".jp-nbtrack-line-added").inner_text()
    assert "Not in A." in only_b.inner_text()

    # metrics: A, B, B - A and the relative change, short numbers
    metrics = view.locator("table", has=page.locator("caption", has_text="Metrics that differ"))
    row = metrics.locator("tr", has_text="val_acc").inner_text()
    a, b = runs["fit-a"].metrics["val_acc"], runs["fit-b"].metrics["val_acc"]
    assert f"{a:.4g}"[:5] in row and f"{b:.4g}"[:5] in row
    assert f"+{b - a:.4g}"[:6] in row and "%" in row and "e-" not in row
    assert all(len(t) < 12 for t in metrics.locator("td .jp-nbtrack-number").all_inner_texts())
    # data: the note says what changed instead of two hashes
    data = view.locator("table", has=page.locator("caption", has_text="Data inputs that differ"))
    assert "debt_ratio" in data.locator("tr", has_text="train_df").inner_text()
    screenshot(page, artifacts, "diff.png", readme=True)


def test_details_tags_traceback_upstream_and_export(page, lab, artifacts, pipe):
    folder, runs = pipe
    open_notebook(page, lab, "pipe/pipe.ipynb")
    open_sidebar(page)
    widen_sidebar(page)
    sidebar = page.locator(SIDEBAR)

    # a failed run: its error, the traceback folded under it, and export disabled with the reason shown
    sidebar.get_by_role("button", name="broken", exact=True).click()
    broken = page.locator(".jp-nbtrack-details", has=page.locator("h2", has_text="broken")).last
    broken.locator(".jp-nbtrack-error").wait_for(timeout=30_000)
    assert "ValueError: lr too large for this model" in broken.locator(".jp-nbtrack-error").inner_text()
    traceback = broken.locator("details.jp-nbtrack-traceback")
    assert not traceback.locator("pre").is_visible()
    traceback.locator("summary").click()
    assert "ValueError" in traceback.locator("pre").inner_text()
    button = broken.get_by_role("button", name="Export to workspace")
    assert button.is_disabled()
    reason = broken.locator(".jp-nbtrack-export-reason").inner_text()
    assert "failed (ValueError)" in reason
    assert button.get_attribute("aria-describedby") == broken.locator(".jp-nbtrack-export-reason").get_attribute("id")

    # fit-b: its tags, the curves slot, and its upstream run (prep) as a link that opens prep's details
    sidebar.get_by_role("button", name="fit-b", exact=True).click()
    details = page.locator(".jp-nbtrack-details", has=page.locator("h2", has_text="fit-b")).last
    details.locator(".jp-nbtrack-tags").wait_for(timeout=30_000)
    assert set(details.locator(".jp-nbtrack-tag").all_inner_texts()) >= {"stage: fit", "owner: ana"}
    assert details.locator(".jp-nbtrack-curves-slot").count() == 1
    prep = runs["prep"].id
    assert runs["fit-b"].upstream, "the kernel linked fit-b to the run that wrote clean.csv"
    (upstream,) = set(runs["fit-b"].upstream.values())
    assert upstream == prep

    # export into the workspace: written next to the notebook, verified, opened in JupyterLab
    assert details.get_by_role("button", name="Export to workspace").is_enabled()
    name = details.get_by_label("File name")
    assert name.input_value() == "fit-b_export.py"
    details.get_by_role("button", name="Export to workspace").click()
    page.locator(".lm-TabBar-tab.lm-mod-current", has_text="fit-b_export.py").wait_for(timeout=120_000)
    assert "VERIFIED" in (folder / "fit-b_export.py").read_text()
    page.locator(".lm-TabBar-tab", has_text="Run fit-b").click()  # back to the details: the verdict is there
    result = details.locator(".jp-nbtrack-export-status .jp-nbtrack-message")
    result.wait_for(timeout=30_000)
    assert "Verified" in result.inner_text() and "pipe/fit-b_export.py" in result.inner_text()
    page.set_viewport_size({"width": 1400, "height": 1500})  # the whole details, down to the export's verdict
    screenshot(page, artifacts, "details.png", readme=True)
    page.set_viewport_size({"width": 1400, "height": 860})
    # again: refused, the file is not overwritten unasked
    details.get_by_role("button", name="Export to workspace").click()
    details.get_by_text("already exists").wait_for(timeout=120_000)

    # the upstream link opens prep's details, where the histogram prep wrote (hist.png, kept) shows inline
    details.get_by_role("button", name=prep, exact=True).click()
    prep_view = page.locator(".jp-nbtrack-details", has=page.locator("h2", has_text="prep")).last
    prep_view.wait_for(timeout=30_000)
    assert page.locator(".lm-TabBar-tab.lm-mod-current", has_text="Run prep").count() == 1
    figure = prep_view.locator("img.jp-nbtrack-figure[alt='hist.png']")
    figure.wait_for(timeout=30_000)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=figure.element_handle(), timeout=30_000)
