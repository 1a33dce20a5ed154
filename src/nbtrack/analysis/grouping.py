"""Runs into groups: which params make a configuration, which are seeds, which name the data set, and the
(metric, data set) slices of groups that :func:`nbtrack.analysis.comparison.compare` then tests.

Seed-like params (``seed``, ``random_state``, ``fold``, ``rep``) are left out of the configuration and kept as
each run's seed key, so runs of two groups can be paired by it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SEED_LIKE = ("seed", "random_state", "fold", "rep")

_RESERVED = {
    "metric",
    "dataset",
    "group",
    "reference",
    "n",
    "n_reference",
    "paired",
    "mean",
    "std",
    "median",
    "iqm",
    "ci_low",
    "ci_high",
    "ci_method",
    "iqm_ci_low",
    "iqm_ci_high",
    "iqm_ci_method",
    "median_ci_low",
    "median_ci_high",
    "min",
    "max",
    "same_data",
    "higher_is_better",
    "is_reference",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "p_greater",
    "p_greater_ci_low",
    "p_greater_ci_high",
    "test",
    "statistic",
    "df",
    "p_value",
    "p_adjusted",
    "effect_size",
    "verdict",
    "runs_needed",
    "run_id",
    "value",
}


# values and labels ------------------------------------------------------------------------------------------


def norm_value(value: Any) -> Any:
    """A param value usable as a dict key; NaN and None become None."""
    if value is None:
        return None
    try:
        if isinstance(value, float) and math.isnan(value):
            return None
    except TypeError:
        pass
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            value = value.item()
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def format_value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    return str(value)


def sort_key(value: Any) -> tuple[Any, ...]:
    if value is None:
        return (2, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def group_label(names: Sequence[str], key: tuple[Any, ...]) -> str:
    if not names:
        return "all"
    return ", ".join(f"{n}={format_value(v)}" for n, v in zip(names, key, strict=True))


@dataclass
class Group:
    label: str
    key: tuple[Any, ...]  # values of the label params
    run_ids: list[str]
    values: Any  # numpy array
    seeds: list[Any]  # seed key per run (None when the run has no seed-like params)
    data: dict[str, list[Any]]  # data name -> hash per run


@dataclass
class Slice:
    metric: str
    dataset: Any
    groups: list[Group]


def slice_rows(frame: Any, metric: str, dataset: Any) -> Any:
    """The rows of a result table (groups, pairs, runs) that belong to one (metric, data set) slice."""
    rows = frame[frame["metric"] == metric]
    if dataset is not None and "dataset" in frame.columns:
        rows = rows[rows["dataset"] == dataset]
    return rows


# loading runs -----------------------------------------------------------------------------------------------


def load_frame(runs: Any, store: Any, status: str | Sequence[str] | None) -> tuple[Any, str]:
    import pandas as pd

    from nbtrack.query.search import runs as query_runs
    from nbtrack.store.local import get_store

    if isinstance(runs, pd.DataFrame):
        return runs.copy(), "the given runs"
    if runs is None or isinstance(runs, str):
        if runs is None:
            from nbtrack.capture.lifecycle import default_experiment

            runs = default_experiment()
        wanted = status if status is None or isinstance(status, str) else list(status)
        frame = query_runs(experiment=runs, status=wanted, store=store)
        if frame.empty:
            state = f" {status}" if isinstance(status, str) else ""
            raise ValueError(f"no{state} runs in experiment {runs!r}")
        return frame, f"experiment {runs!r}"
    st = get_store(store)
    ids = [getattr(r, "id", r) for r in runs]
    full = [st.resolve(str(r)) for r in ids]
    frame = query_runs(store=st)
    frame = frame[frame["run_id"].isin(full)].reset_index(drop=True)
    return frame, f"{len(full)} runs"


def _dataset_column(
    frame: Any, dataset: str | None, exclude: frozenset[str] | set[str] = frozenset()
) -> tuple[str | None, str]:
    if dataset is not None:
        name = dataset.split(".", 1)[1] if dataset.startswith(("tags.", "params.")) else dataset
        for col in (dataset,) if dataset.startswith(("tags.", "params.")) else (f"tags.{name}", f"params.{name}"):
            if col in frame.columns:
                return col, name
        raise ValueError(f"no tag or param {dataset!r} naming the data set of runs")
    for col in ("tags.dataset", "params.dataset"):
        named_by_user = col.startswith("params.") and "dataset" in exclude
        if col in frame.columns and frame[col].nunique() > 1 and not named_by_user:
            return col, "dataset"
    return None, "dataset"


@dataclass
class Configuration:
    """How the runs of one comparison form groups, with each run's keys in the frame's row order."""

    label_params: list[str]  # params telling groups apart (all of ``by`` when it was given)
    param_columns: list[str]  # their column names in the result tables (``params.x`` where x is reserved)
    dataset_col: str | None  # the tag or param column naming each run's data set
    dataset_name: str
    folds_vary: bool  # runs differ by a ``fold`` param: cross-validation folds
    keys: list[tuple[Any, ...]]  # per run: values of the label params
    seeds: list[Any]  # per run: seed key, None without seed-like params
    datasets: list[Any]  # per run: data set, None when there is no data set column
    run_ids: list[str]
    data: dict[str, list[Any]]  # data name -> fingerprint hash per run


def configure(
    frame: Any, by: str | Sequence[str] | None, seed_params: Iterable[str], dataset: str | None, source: str
) -> Configuration:
    """Which params form a configuration (``by``, default every param but seed-like ones and the data set's),
    which are seeds, and which column names the data set."""
    param_names = [c[len("params.") :] for c in frame.columns if c.startswith("params.")]
    seed_like = set(SEED_LIKE) | set(seed_params)
    by_names = {str(b).strip().removeprefix("params.") for b in (by.split(",") if isinstance(by, str) else by or ())}
    dataset_col, dataset_name = _dataset_column(frame, dataset, exclude=by_names)
    dataset_param = dataset_col[len("params.") :] if dataset_col and dataset_col.startswith("params.") else None
    if by is None:
        config = [p for p in param_names if p not in seed_like and p != dataset_param]
        explicit = False
    else:
        names = [b.strip() for b in by.split(",")] if isinstance(by, str) else list(by)
        config = [n[len("params.") :] if n.startswith("params.") else n for n in names if n]
        missing = [n for n in config if f"params.{n}" not in frame.columns]
        if missing:
            raise ValueError(
                f"no param {', '.join(map(repr, missing))} in {source} (params: {', '.join(param_names) or 'none'})"
            )
        explicit = True
    seed_cols = [p for p in param_names if p in seed_like and p not in config]
    keys_all = (
        [
            tuple(norm_value(v) for v in row)
            for row in frame[[f"params.{p}" for p in config]].itertuples(index=False, name=None)
        ]
        if config
        else [()] * len(frame)
    )
    varying = [p for i, p in enumerate(config) if len({k[i] for k in keys_all}) > 1]
    label_params = list(config) if explicit else varying
    label_idx = [config.index(p) for p in label_params]
    seed_keys: list[Any] = []
    for row in (
        frame[[f"params.{p}" for p in seed_cols]].itertuples(index=False, name=None) if seed_cols else [()] * len(frame)
    ):
        key = tuple(norm_value(v) for v in row)
        seed_keys.append(key if key and any(v is not None for v in key) else None)
    data_cols = [c for c in frame.columns if c.startswith("data.")]
    return Configuration(
        label_params=label_params,
        param_columns=[p if p not in _RESERVED else f"params.{p}" for p in label_params],
        dataset_col=dataset_col,
        dataset_name=dataset_name,
        folds_vary="fold" in seed_cols and frame["params.fold"].nunique() > 1,
        keys=[tuple(k[j] for j in label_idx) for k in keys_all],
        seeds=seed_keys,
        datasets=[None] * len(frame) if dataset_col is None else [norm_value(v) for v in frame[dataset_col]],
        run_ids=[str(r) for r in frame["run_id"]] if "run_id" in frame.columns else [""] * len(frame),
        data={c[len("data.") :]: [norm_value(v) for v in frame[c]] for c in data_cols},
    )


def build_slices(frame: Any, metrics: list[str], config: Configuration, source: str) -> tuple[list[Slice], list[str]]:
    """One slice per (metric, data set), its runs grouped by configuration; and a warning per metric some runs
    have no finite value of (those runs are left out)."""
    import numpy as np
    import pandas as pd

    slices: list[Slice] = []
    warnings: list[str] = []
    for m in metrics:
        values_all = pd.to_numeric(frame[f"metrics.{m}"], errors="coerce").to_numpy(dtype=float)
        finite = np.isfinite(values_all)
        for ds in sorted({d for d, ok in zip(config.datasets, finite, strict=True) if ok}, key=sort_key):
            members: dict[tuple[Any, ...], list[int]] = {}
            for i, ok in enumerate(finite):
                if ok and config.datasets[i] == ds:
                    members.setdefault(config.keys[i], []).append(i)
            groups = []
            for key in sorted(members, key=lambda k: tuple(sort_key(v) for v in k)):
                rows = members[key]
                groups.append(
                    Group(
                        label=group_label(config.label_params, key),
                        key=key,
                        run_ids=[config.run_ids[i] for i in rows],
                        values=values_all[rows],
                        seeds=[config.seeds[i] for i in rows],
                        data={name: [hashes[i] for i in rows] for name, hashes in config.data.items()},
                    )
                )
            slices.append(Slice(m, ds, groups))
        count = int((~finite).sum())
        if count:
            warnings.append(f"{count} run{'s' * (count != 1)} without a finite value of {m} left out.")
    if not slices:
        raise ValueError(f"no run in {source} has a value for {', '.join(metrics)}")
    return slices, warnings


def match_baseline(groups: list[Group], baseline: Any, label_params: list[str]) -> int | None:
    def equal(a: Any, b: Any) -> bool:
        if a == b:
            return True
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return str(a) == str(b)

    def by_dict(wanted: Mapping[str, Any]) -> int | None:
        wanted = {str(k)[len("params.") :] if str(k).startswith("params.") else str(k): v for k, v in wanted.items()}
        unknown = [k for k in wanted if k not in label_params]
        if unknown:
            raise ValueError(
                f"baseline names {', '.join(map(repr, unknown))}, not a param that varies between "
                f"groups ({', '.join(label_params) or 'none'})"
            )
        hits = [
            k for k, g in enumerate(groups) if all(equal(g.key[label_params.index(p)], v) for p, v in wanted.items())
        ]
        if len(hits) > 1:
            raise ValueError(
                f"baseline {dict(wanted)!r} matches {len(hits)} groups: {', '.join(groups[k].label for k in hits)}"
            )
        return hits[0] if hits else None

    if isinstance(baseline, Mapping):
        return by_dict(baseline)
    text = str(getattr(baseline, "id", baseline)).strip()
    for k, g in enumerate(groups):
        if g.label == text:
            return k
    hits = {k for k, g in enumerate(groups) for r in g.run_ids if r and r.startswith(text)}
    if len(hits) == 1:
        return hits.pop()
    if "=" in text:
        parsed = {}
        for part in text.split(","):
            name, _, value = part.partition("=")
            parsed[name.strip()] = value.strip()
        return by_dict(parsed)
    return None


# data identity ------------------------------------------------------------------------------------------------


def same_data(g: Group) -> Any:
    import pandas as pd

    if not g.data:
        return pd.NA
    recorded = False
    for hashes in g.data.values():
        present = [h for h in hashes if h is not None]
        if present:
            recorded = True
            if len(set(present)) > 1 or len(present) != len(hashes):
                return False
    return True if recorded else pd.NA


def data_warnings(sl: Slice, warnings: list[str]) -> None:
    names = sorted({n for g in sl.groups for n in g.data})
    for name in names:
        inside = []
        for g in sl.groups:
            hashes = g.data.get(name, [])
            present = {h for h in hashes if h is not None}
            if len(present) > 1 or (present and None in hashes):
                inside.append(g.label)
        if inside:
            warnings.append(
                f"Runs within {', '.join(inside)} used different data {name!r} (fingerprints differ): "
                f"their spread mixes data and configuration."
            )
        versions = {h for g in sl.groups for h in g.data.get(name, []) if h is not None}
        if len(versions) > 1 and not inside:
            warnings.append(
                f"Groups used different data {name!r} ({len(versions)} versions by fingerprint): "
                f"differences may come from the data, not the configuration."
            )


def tidy_runs(slices: list[Slice], label_params: list[str], param_columns: list[str], with_dataset: bool) -> Any:
    import pandas as pd

    rows = []
    for sl in slices:
        for g in sl.groups:
            for run_id, value, seed_key in zip(g.run_ids, g.values, g.seeds, strict=True):
                rows.append(
                    {
                        "metric": sl.metric,
                        **({"dataset": sl.dataset} if with_dataset else {}),
                        **dict(zip(param_columns, g.key, strict=True)),
                        "group": g.label,
                        "run_id": run_id,
                        "value": float(value),
                        "seed_key": seed_key,
                    }
                )
    return pd.DataFrame(rows)
