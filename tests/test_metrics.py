"""nbtrack.analysis.metrics: which way is better for a metric, guessed from its name and shown in the notes."""

from __future__ import annotations

import numpy as np
from compare_helpers import frame

from nbtrack.analysis.comparison import compare
from nbtrack.analysis.metrics import guess_direction


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


DIRECTIONS = {  # name -> higher is better (issue 14: neg_*, change words, 1-x)
    "neg_mean_squared_error": True,
    "neg_log_loss": True,
    "neg_root_mean_squared_error": True,
    "neg_mean_absolute_error": True,
    "error_reduction": True,
    "loss_reduction": True,
    "accuracy_drop": False,
    "accuracy_gain": True,
    "loss_increase": False,
    "1-acc": False,
    "1_minus_accuracy": False,
    "one_minus_auc": False,
    "latency_improvement": True,
    "val_loss": False,
    "valLoss": False,
    "error_rate": False,
    "accuracy": True,
    "top1_acc": True,
    "r2": True,
    "mean_absolute_error": False,
    "wall_time": False,
}


def test_direction_rule_on_a_table_of_names():
    wrong = {name: guess_direction(name) for name, up in DIRECTIONS.items() if guess_direction(name)[0] is not up}
    assert not wrong
    for name in DIRECTIONS:
        assert "higher_is_better=" in guess_direction(name)[1]  # a guess always names its override
    cmp = compare(frame({"a": [-0.3, -0.31, -0.29], "b": [-0.2, -0.21, -0.19]}, param="m", metric="neg_mse"),
                  metric="neg_mse", baseline="m=a")  # fmt: skip
    assert cmp.directions == {"neg_mse": True} and "guessed from the name" in cmp.to_text()
    assert "guessed" not in compare(frame({"a": [1.0, 2.0]}, param="m", metric="x"), metric="x",
                                    higher_is_better=True).to_text().split("\n\n")[1]  # fmt: skip
