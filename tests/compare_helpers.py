"""Runs as ``runs()`` returns them, for the comparison tests (imported the way kernel_helpers is)."""

import numpy as np
import pandas as pd

import nbtrack


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


def record_runs(experiment="exp", data=None, n=6):
    """Two learning rates x ``n`` seeds of a 3-step fit, recorded through ``nbtrack.track``."""
    rng = np.random.default_rng(9)
    for lr, mu in ((0.01, 0.80), (0.1, 0.84)):
        for seed in range(n):
            payload = None if data is None else {"train": data(lr, seed)}
            with nbtrack.track(
                name="fit",
                experiment=experiment,
                params={"lr": lr, "seed": seed, "epochs": 3},
                data=payload,
                environment=False,
            ):
                for step in range(3):
                    nbtrack.log_metric("acc", mu - 0.05 * (2 - step) + rng.normal(0, 0.005), step=step)
