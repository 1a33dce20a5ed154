"""nbtrack.analysis.summary: per-group statistics (with the median interval's true coverage) and the reference."""

from __future__ import annotations

import pandas as pd

from nbtrack.analysis.comparison import compare


def test_median_interval_at_three_runs_is_flagged_with_its_coverage():
    rows = [{"run_id": f"{c}{i}", "params.c": c, "metrics.acc": v}
            for c in "ab" for i, v in enumerate([0.1, 0.2, 0.3] if c == "a" else [0.3, 0.4, 0.5])]  # fmt: skip
    cmp = compare(pd.DataFrame(rows), metric="acc")
    g = cmp.groups.set_index("group")
    assert (g.loc["c=a", "median_ci_low"], g.loc["c=a", "median_ci_high"]) == (0.1, 0.3)
    assert g.loc["c=a", "median_ci_coverage"] == 0.75
    assert any("75.00% at 3 runs" in w for w in cmp.warnings)


def test_reference_needs_three_runs_even_when_failures_count():
    rows = [{"run_id": f"{c}{i}", "params.c": c, "metrics.acc": v}
            for c, vals in (("a", [0.9, float("nan"), float("nan")]), ("b", [0.5, 0.6, 0.55]), ("c", [0.99, 0.98]))
            for i, v in enumerate(vals)]  # fmt: skip
    cmp = compare(pd.DataFrame(rows), metric="acc")
    assert cmp.pairs.reference.iloc[0] == "c=b"  # a failed twice (ranked worst), c has 2 runs
