"""Configurations ranked across data sets: the Friedman test of average ranks and the Nemenyi post-hoc test
(Demsar 2006), for comparisons whose runs name their data set."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nbtrack.analysis.grouping import Slice
from nbtrack.analysis.significance import friedman


@dataclass
class Ranking:
    """DataFrames of average ranks (one row per metric and group), the Friedman test (one row per metric) and
    pairwise Nemenyi p-values; all None when no metric was run on two data sets by two common groups."""

    ranks: Any = None
    friedman: Any = None
    nemenyi: Any = None
    warnings: list[str] = field(default_factory=list)


def rank_across_datasets(
    slices: list[Slice], metrics: list[str], directions: Mapping[str, bool], alpha: float, dataset_name: str
) -> Ranking:
    """Average ranks, the Friedman test and Nemenyi p-values per metric, over the data sets every group ran on."""
    import numpy as np
    import pandas as pd

    warnings: list[str] = []

    rank_rows, friedman_rows, nemenyi_rows = [], [], []
    for m in metrics:
        per_ds = {sl.dataset: {g.label: float(np.mean(g.values)) for g in sl.groups} for sl in slices if sl.metric == m}
        if len(per_ds) < 2:
            continue
        common = set.intersection(*(set(v) for v in per_ds.values()))
        every = set.union(*(set(v) for v in per_ds.values()))
        order = [g.label for sl in slices if sl.metric == m for g in sl.groups]
        labels = [lab for lab in dict.fromkeys(order) if lab in common]
        if every - common:
            warnings.append(
                f"{m}: {', '.join(sorted(every - common))} not run on every {dataset_name}: left out "
                f"of the Friedman test."
            )
        if len(labels) < 2:
            continue
        scores = np.array([[per_ds[d][lab] for lab in labels] for d in per_ds])
        res = friedman(scores, directions[m], alpha)
        friedman_rows.append(
            {
                "metric": m,
                "n_datasets": res.n_datasets,
                "k": res.k,
                "statistic": res.statistic,
                "p_value": res.p_value,
                "iman_davenport": res.iman_davenport,
                "p_value_f": res.p_value_f,
                "cd": res.cd,
                "alpha": alpha,
            }
        )
        for lab, r in sorted(zip(labels, res.average_ranks, strict=True), key=lambda t: t[1]):
            rank_rows.append({"metric": m, "group": lab, "avg_rank": float(r)})
        for i in range(len(labels)):
            for j in range(i + 1, len(labels)):
                nemenyi_rows.append(
                    {
                        "metric": m,
                        "group": labels[i],
                        "other": labels[j],
                        "rank_diff": float(res.average_ranks[i] - res.average_ranks[j]),
                        "p_value": float(res.nemenyi_p[i, j]),
                        "significant": bool(abs(res.average_ranks[i] - res.average_ranks[j]) >= res.cd),
                    }
                )
        if res.n_datasets < 5:
            warnings.append(f"{m}: only {res.n_datasets} data sets: the Friedman test has little power below 5.")
    if not friedman_rows:
        return Ranking(warnings=warnings)
    return Ranking(pd.DataFrame(rank_rows), pd.DataFrame(friedman_rows), pd.DataFrame(nemenyi_rows), warnings)
