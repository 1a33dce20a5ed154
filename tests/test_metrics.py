"""nbtrack.analysis.metrics: which way is better for a metric, guessed from its name and shown in the notes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nbtrack.analysis.comparison import compare
from nbtrack.analysis.metrics import guess_direction


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


def test_direction_guessed_from_the_name_and_shown():
    assert guess_direction("val_loss")[0] is False and guess_direction("error_rate")[0] is False
    assert guess_direction("accuracy")[0] is True and guess_direction("f1_macro")[0] is True
    assert guess_direction("wall_time")[0] is False and "assumed" in guess_direction("zorglub")[1]
    rng = np.random.default_rng(1)
    loss = {"a": rng.normal(0.30, 0.01, 6), "b": rng.normal(0.20, 0.01, 6)}
    cmp = compare(frame(loss, param="opt", metric="val_loss"), metric="val_loss", baseline="opt=a")
    assert cmp.verdict("opt=b") == "better"  # lower loss
    assert any("lower is better (guessed" in n for n in cmp.notes)
    assert "lower is better" in cmp.to_text()
    flipped = compare(
        frame(loss, param="opt", metric="val_loss"), metric="val_loss", baseline="opt=a", higher_is_better=True
    )
    assert flipped.verdict("opt=b") == "worse" and any("(given)" in n for n in flipped.notes)
    # the reference picked without a baseline is the lowest loss
    assert compare(frame(loss, param="opt", metric="val_loss"), metric="val_loss").pairs.reference.iloc[0] == "opt=b"
