"""views/run_more_action.py without a kernel: the preview table, its escaping, and errors as one sentence.

The runs of the ``sweep`` fixture are tracked from pytest (no notebook history), so a preview of them works
(nothing is exported for it) but starting a job cannot export them: the error must land in the panel's message.
Starting real jobs from the panel, with exported notebook runs, is tests/jobs/test_run_more_panel.py.
"""

from __future__ import annotations

import html

from panel_helpers import EVIL, tick

import nbtrack
from nbtrack.views.run_more_action import preview_html, seconds_text


def test_preview_html_escapes_every_value_and_says_the_totals():
    plan = {
        "groups": [
            {"group": EVIL, "runs": 2, "new_runs": 1, "seed_param": "seed", "seeds": [2], "seconds": 3.0},
            {"group": "b", "runs": 3, "new_runs": 0, "seed_param": "seed", "seeds": [], "seconds": None},
        ],
        "runs": 1,
        "seconds": 3.0,
        "workers": 2,
    }
    out = preview_html(plan)
    assert EVIL not in out and "&lt;img" in out
    assert "seed = 2" in out and "about 3 s" in out
    assert "1 new run on 2 workers" in out
    assert out.count("<tr>") == 3  # the head and two groups


def test_seconds_text_reads_like_a_person_would_say_it():
    assert seconds_text(None).startswith("unknown")
    assert seconds_text(0.2) == "about 1 s"
    assert seconds_text(600) == "about 10 min"
    assert seconds_text(3 * 3600) == "about 3.0 h"


def test_run_more_is_offered_after_a_comparison_and_its_failure_is_one_sentence(sweep):
    p = nbtrack.panel("sweep", live=False)
    try:
        action = p.run_more
        assert action.button.layout.display == "none"  # nothing compared yet
        tick(p)
        p.metric.value = "acc"
        p.compare_button.click()
        assert action.button.layout.display == "" and not action.button.disabled, action.button.tooltip
        assert action.box.layout.display == "none"  # asks first: nothing shown or run yet

        action.button.click()
        assert action.box.layout.display == ""
        assert "nbtrack-run-more" in action.preview.value
        for lr in ("lr=0.01", "lr=0.1", "lr=1"):
            assert lr in action.preview.value
        assert "seed = 2" in action.preview.value  # 2 seeds each: one more to reach 3, a seed not recorded
        action.cancel_button.click()
        assert action.box.layout.display == "none" and len(nbtrack.runs(experiment="sweep")) == 6

        action.button.click()
        action.start_button.click()
        action.thread.join(timeout=120)
        assert not action.running
        assert action.error and "\n" not in action.error
        assert action.error.startswith("Run more failed: group lr=") and "cannot be exported" in action.error
        assert html.escape(action.error) in p.message.value
        assert "nbtrack-note-error" in p.message.value  # shown as an error
        assert len(nbtrack.runs(experiment="sweep")) == 6  # nothing recorded
        assert action.stop_button.layout.display == "none"

        tick(p, value=False)
        p.grid.rows[0].check.value = True
        p.details_button.click()
        assert action.button.layout.display == "none"  # another result: nothing to run more of
    finally:
        p.close()


def test_run_more_is_not_offered_for_runs_without_a_seed(store_dir):
    for lr in (0.1, 1.0):
        for i in range(2):
            with nbtrack.track(name="x", experiment="noseed", params={"lr": lr, "i": i}, environment=False):
                nbtrack.log_metric("acc", lr + i / 10)
    p = nbtrack.panel("noseed", live=False)
    try:
        tick(p)
        p.metric.value = "acc"
        p.compare_button.click()
        assert p.run_more.button.disabled
        assert "no seed-like param" in p.run_more.button.tooltip
        p.run_more.button.click()  # from code: explains instead of previewing
        assert p.run_more.box.layout.display == "none"
        assert "compare runs first" in p.message.value
    finally:
        p.close()
