"""nbtrack.analysis.loading: one failure policy on every entry point (issue 14)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack.analysis.comparison import compare


def _record():
    rng = np.random.default_rng(1)
    for cfg, mu in (("a", 0.80), ("b", 0.82)):
        for seed in range(5):
            with nbtrack.track(experiment="fail", params={"cfg": cfg, "seed": seed}, environment=False):
                nbtrack.log_metric("acc", mu + rng.normal(0, 0.01))
    with pytest.raises(RuntimeError), nbtrack.track(experiment="fail", params={"cfg": "b", "seed": 9}):
        nbtrack.log_metric("acc", 0.99)  # a partial metric of a failed run is not a score
        raise RuntimeError("diverged")


def test_failed_runs_count_the_same_from_an_experiment_ids_or_a_frame(store_dir):
    _record()
    ids = list(nbtrack.runs(experiment="fail").run_id)
    frame = nbtrack.runs(experiment="fail")
    for source in ("fail", ids, frame):
        cmp = compare(source, metric="acc")
        g = cmp.groups.set_index("group")
        assert (g.loc["cfg=b", "n"], g.loc["cfg=b", "n_failed"]) == (5, 1), type(source)
        assert (g.loc["cfg=a", "n"], g.loc["cfg=a", "n_failed"]) == (5, 0)
        assert 0.99 not in set(cmp.runs.value) and cmp.failure_policy == "worst"
        assert any("ranked as the worst outcomes" in w for w in cmp.warnings)
        assert "failure policy: worst" in cmp.to_text() and "failure policy: worst" in cmp._repr_html_()
        pair = cmp.pairs.set_index("group")
        assert pair.loc[pair.index[0], "test"] == "mann-whitney"


def test_running_runs_are_left_out_with_a_warning():
    rows = [{"run_id": f"r{i}", "status": s, "params.m": i % 2, "metrics.acc": 0.5 + i / 100}
            for i, s in enumerate(["finished"] * 8 + ["running"])]  # fmt: skip
    cmp = compare(pd.DataFrame(rows), metric="acc")
    assert cmp.groups.n.sum() == 8 and cmp.groups.n_failed.sum() == 0
    assert any("1 run still running" in w for w in cmp.warnings)
    assert not math.isnan(cmp.pairs.p_value.iloc[0])
