"""nbtrack.analysis.ranking: configurations ranked across data sets (Friedman, Nemenyi critical difference)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nbtrack.analysis import significance
from nbtrack.analysis.comparison import compare

# several data sets ----------------------------------------------------------------------------------------------


def test_across_datasets_friedman_and_cd():
    rng = np.random.default_rng(10)
    rows = []
    for d in range(6):
        base = rng.uniform(0.6, 0.9)
        for model, effect in (("a", 0.0), ("b", 0.01), ("c", 0.03)):
            for seed in range(5):
                rows.append(
                    {
                        "run_id": f"{d}{model}{seed}",
                        "params.model": model,
                        "params.seed": seed,
                        "tags.dataset": f"ds{d}",
                        "metrics.acc": base + effect + rng.normal(0, 0.005),
                    }
                )
    cmp = compare(pd.DataFrame(rows), metric="acc")
    assert "dataset" in cmp.groups.columns and cmp.groups.dataset.nunique() == 6
    assert "dataset" in cmp.pairs.columns
    assert list(cmp.ranks.group) == ["model=c", "model=b", "model=a"]
    means = pd.DataFrame(rows).groupby(["tags.dataset", "params.model"])["metrics.acc"].mean().unstack()
    expected = significance.friedman(means[["a", "b", "c"]].to_numpy())
    row = cmp.friedman.iloc[0]
    assert row.statistic == pytest.approx(expected.statistic) and row.cd == pytest.approx(significance.nemenyi_cd(3, 6))
    doc = json.loads(cmp.to_json())
    assert set(doc) == {"groups", "pairs", "warnings", "ranks", "friedman", "tasks"}
    assert set(doc["tasks"]) == {"aggregate", "profiles", "improvement", "pairwise"}
    assert "Friedman" in cmp.to_text() and "Friedman" in cmp._repr_html_()
    fig = cmp.plot("cd")
    assert type(fig).__name__ == "Figure"
