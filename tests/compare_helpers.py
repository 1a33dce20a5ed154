"""Runs as ``runs()`` returns them, for the comparison tests (imported the way kernel_helpers is)."""

import pandas as pd


def frame(groups: dict, param: str = "lr", metric: str = "acc", seeds: bool = True, extra: dict | None = None):
    """A runs() shaped DataFrame: one row per value, params.<param> = the group key, params.seed = position."""
    rows = []
    for key, values in groups.items():
        for i, v in enumerate(values):
            row = {"run_id": f"run-{key}-{i}", "experiment": "x", f"params.{param}": key, f"metrics.{metric}": v}
            if seeds:
                row["params.seed"] = i
            row.update(extra or {})
            rows.append(row)
    return pd.DataFrame(rows)
