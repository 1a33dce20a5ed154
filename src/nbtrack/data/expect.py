"""``expect(df, schema=...)`` (or ``reference="RUN_ID:name"``): declared expectations of a dataset. It raises
:class:`~nbtrack.errors.DataExpectationError` with every problem listed, so a notebook cell fails early with a
clear message, and returns the data otherwise."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nbtrack.data.encoding import logical_type
from nbtrack.data.inputs import resolve_input
from nbtrack.errors import DataExpectationError

_INTEGERS = frozenset(f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64))
_FLOATS = frozenset(("float16", "float32", "float64"))


def _is_family(actual: str, base: str) -> bool:
    return actual == base or actual.startswith((f"{base}[", f"{base}@"))


_FAMILIES: dict[str, Any] = {
    "int": lambda t: t in _INTEGERS,
    "float": lambda t: t in _FLOATS,
    "number": lambda t: t in _INTEGERS or t in _FLOATS,
    "string": lambda t: t == "string",
    "bool": lambda t: t == "bool",
    "category": lambda t: t.startswith("category["),
    "datetime": lambda t: _is_family(t, "datetime"),
    "timedelta": lambda t: _is_family(t, "timedelta"),
    "object": lambda t: t == "object",
}
_ALIASES = {
    "integer": "int",
    "numeric": "number",
    "str": "string",
    "text": "string",
    "boolean": "bool",
    "categorical": "category",
}
_PYTHON_TYPES = {int: "int", float: "float", str: "string", bool: "bool"}


def _expected_type(spec: Any) -> tuple[str, Any]:
    """(shown name, predicate on logical types) for a type in an expectation."""
    spec = _PYTHON_TYPES.get(spec, spec) if isinstance(spec, type) else spec
    if isinstance(spec, str):
        family = _ALIASES.get(spec.lower(), spec.lower())
        if family in _FAMILIES:
            return family, _FAMILIES[family]
    import pandas as pd

    try:
        exact = logical_type(pd.Series([], dtype=spec))
    except (TypeError, ValueError) as exc:
        if not isinstance(spec, str):
            raise TypeError(f"unknown column type in the expectation: {spec!r}") from exc
        exact = spec  # a logical type name such as "category[string]"
    return exact, lambda t: t == exact


def _type_ok(actual: str, spec: Any) -> tuple[bool, str]:
    shown, accepts = _expected_type(spec)
    return accepts(actual), shown


def _schema_from(reference: Any, store: Any) -> dict[str, Any]:
    side = resolve_input(reference, store, "reference")
    schema = side.schema()
    if schema is None:
        raise ValueError(f"the reference {side.label} has no column schema")
    return schema


def expect(
    data: Any,
    schema: Any = None,
    *,
    reference: Any = None,
    allow_extra_columns: bool = True,
    name: str | None = None,
    store: Any = None,
) -> Any:
    """Check ``data`` (a DataFrame or Series) against an expected schema; return it unchanged or raise.

    ``schema`` maps column names to a type: a logical type (``"float64"``, ``"string"``,
    ``"category[string]"``), a family (``"int"``, ``"float"``, ``"number"``, ``"string"``, ``"bool"``,
    ``"category"``, ``"datetime"``), a Python type (``int``, ``float``, ``str``, ``bool``) or a numpy/pandas
    dtype; or to a dict with ``type`` and any of ``nullable`` (False: no missing values), ``min``,
    ``max`` and ``values`` (the allowed values). A list of names only requires the columns. With
    ``reference`` (a DataFrame, a fingerprint, or ``"RUN_ID:name"``), the schema is the reference's
    columns and logical types. Raises :class:`DataExpectationError` listing every problem.
    """
    import pandas as pd

    label = name or "data"
    if schema is None and reference is None:
        raise TypeError("expect() needs a schema or a reference")
    if schema is None:
        schema = _schema_from(reference, store)
    elif isinstance(schema, Mapping) and "hash" in schema:
        schema = _schema_from(schema, store)
    if not isinstance(schema, Mapping):
        schema = {str(column): None for column in schema}
    frame = data.to_frame() if isinstance(data, pd.Series) else data
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expect() checks a DataFrame or Series, not {type(data).__name__}")
    positions: dict[str, int] = {}
    for i, column in enumerate(frame.columns):
        positions.setdefault(str(column), i)
    problems: list[str] = []
    for column, spec in schema.items():
        column = str(column)
        rules = dict(spec) if isinstance(spec, Mapping) else {"type": spec}
        if column not in positions:
            wanted = f" (expected {_expected_type(rules['type'])[0]})" if rules.get("type") is not None else ""
            problems.append(f"column {column!r} is missing{wanted}")
            continue
        series = frame.iloc[:, positions[column]]
        if rules.get("type") is not None:
            actual = logical_type(series)
            ok, shown = _type_ok(actual, rules["type"])
            if not ok:
                problems.append(f"column {column!r} has type {actual}, expected {shown}")
                continue
        if rules.get("nullable") is False:
            nulls = int(series.isna().sum())
            if nulls:
                problems.append(f"column {column!r} has {nulls} missing value{'s' * (nulls != 1)}, expected none")
        if rules.get("min") is not None:
            below = int((series < rules["min"]).sum())
            if below:
                problems.append(
                    f"column {column!r} has {below} value{'s' * (below != 1)} below {rules['min']!r} "
                    f"(min {series.min()!r})"
                )
        if rules.get("max") is not None:
            above = int((series > rules["max"]).sum())
            if above:
                problems.append(
                    f"column {column!r} has {above} value{'s' * (above != 1)} above {rules['max']!r} "
                    f"(max {series.max()!r})"
                )
        if rules.get("values") is not None:
            allowed = list(rules["values"])
            present = series.dropna()
            bad = present[~present.isin(allowed)]
            if len(bad):
                shown = ", ".join(repr(v) for v in pd.unique(bad)[:5])
                problems.append(
                    f"column {column!r} has {len(bad)} value{'s' * (len(bad) != 1)} outside the allowed ones: {shown}"
                )
    if not allow_extra_columns:
        extra = [c for c in positions if c not in {str(k) for k in schema}]
        if extra:
            problems.append(f"unexpected column{'s' * (len(extra) != 1)}: {', '.join(repr(c) for c in extra)}")
    if problems:
        raise DataExpectationError(label, problems)
    return data
