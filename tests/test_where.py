"""The ``where`` evaluator: what it accepts, what it refuses, and that it never runs code."""

import pandas as pd
import pytest

from nbtrack.query.where import QueryError, evaluate

FRAME = pd.DataFrame(
    {
        "run_id": ["c", "b", "a"],
        "params.lr": [0.01, 0.1, 1.0],
        "params.opt": ["adam", "sgd", None],
        "params.mixed": [1, "x", 3],
        "metrics.acc": [0.5, 0.9, float("nan")],
    }
)


def rows(expression):
    return FRAME[evaluate(expression, FRAME)]["run_id"].tolist()


def test_comparisons_boolean_logic_and_arithmetic():
    assert rows("params.lr < 0.5") == ["c", "b"]
    assert rows("params.lr < 0.5 and metrics.acc > 0.6") == ["b"]
    assert rows("params.lr >= 1 or metrics.acc < 0.6") == ["c", "a"]
    assert rows("not params.lr == 0.1") == ["c", "a"]
    assert rows("params.lr * 10 == 1") == ["b"]
    assert rows("0.05 < params.lr < 0.5") == ["b"]  # chained
    assert rows("-params.lr < -0.5") == ["a"]


def test_membership_subscripts_and_missing_values():
    assert rows("params.opt in ['sgd', 'adam']") == ["c", "b"]
    assert rows("params.opt not in ('sgd',)") == ["c", "a"]
    assert rows("params['opt'] == 'sgd'") == ["b"]
    assert rows("metrics.acc > 0") == ["c", "b"]  # NaN never matches
    assert rows("True") == ["c", "b", "a"]


def test_mixed_types_compare_row_by_row():
    assert rows("params.mixed > 2") == ["a"]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('true')", "not allowed"),
        ("params.lr <", "cannot parse"),
        ("params.nope > 1", "unknown column 'params.nope'"),
        ("'a' in params.opt", "`in` needs a column"),
        ("params.lr is None", "not supported"),
        ("lambda: 1", "not allowed"),
    ],
)
def test_refused_expressions_raise_query_error(expression, message):
    with pytest.raises(QueryError, match=message):
        evaluate(expression, FRAME)


def test_query_error_is_a_value_error():
    assert issubclass(QueryError, ValueError)
