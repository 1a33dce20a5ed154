"""Runs into groups: which params make a configuration, which are seeds, which name the data set, and the
(metric, data set) slices of groups that :func:`nbtrack.analysis.comparison.compare` then tests.

- **Seed-like params** are sources of run-to-run variance, not configuration: they are left out of the
  configuration and kept as each run's seed key, so runs of two groups can be paired by it. A param is
  seed-like when its name (any case) is one of :data:`SEED_LIKE` (``seed``, ``random_state``, ``random_seed``,
  ``rng_seed``, ``fold``, ``cv_fold``, ``rep``, ``repeat``, ``repetition``, ``replicate``, ``trial``, ``run``)
  or ends in ``_seed``/``_fold`` or starts with ``seed_``/``fold_`` (of a param a cell's code or a model gave,
  the argument's name counts: ``clf.random_state``); ``seed_params=`` declares more (e.g.
  ``["seed", "split"]``: runs pair only when every declared source matches). ``split`` and ``iteration``
  are not guessed: they are often real settings.
- **Group keys are typed**: ``depth=3`` and ``depth='3'`` are two groups with two labels (a string that
  reads as a number, bool or None is quoted), ``3`` and ``3.0`` one; ``True`` is not ``1``. A param a run did
  not record is ``<missing>``, distinct from an explicit ``None`` (from a DataFrame, NaN reads as missing).
  Floats equal to 6 significant digits but not exactly (``0.1`` vs ``0.1000000001``) stay apart, with a
  warning.
- **Failures are outcomes** (:data:`FAILURE_POLICY`): a failed, interrupted or abandoned run, and a run whose
  metric is NaN or infinite, counts in its group as a failure (``n_failed``) and is ranked below every
  finished score by the tests, on every entry point (experiment, ids, DataFrame); runs still running are
  left out with a warning.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nbtrack.analysis.keys import (
    MISSING,
    group_label,
    key_params,
    norm_value,
    param_value,
    parse_value,
    sort_key,
    value_identity,
)
from nbtrack.analysis.loading import FAILURE_POLICY as FAILURE_POLICY
from nbtrack.analysis.loading import PARAMS_COLUMN, SOURCES_COLUMN, run_outcomes
from nbtrack.analysis.loading import load_frame as load_frame

SEED_LIKE = (
    "seed",
    "random_state",
    "random_seed",
    "rng_seed",
    "fold",
    "cv_fold",
    "rep",
    "repeat",
    "repetition",
    "replicate",
    "trial",
    "run",
)


def is_seed_like(name: str) -> bool:
    """Whether a param name reads as a source of run-to-run variance (see the module docstring)."""
    n = name.lower().rsplit(".", 1)[-1].rsplit("__", 1)[-1]  # clf.random_state, pipe.model__seed too
    return n in SEED_LIKE or n.endswith(("_seed", "_fold")) or n.startswith(("seed_", "fold_"))


def is_fold_like(name: str) -> bool:
    n = name.lower()
    return n in ("fold", "cv_fold") or n.endswith("_fold") or n.startswith("fold_")


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
    "p_better",
    "p_better_ci_low",
    "p_better_ci_high",
    "n_failed",
    "n_failed_reference",
    "median_ci_coverage",
    "margin",
    "p_equivalence",
    "equivalent",
    "flag",
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


@dataclass
class Group:
    """The runs of one configuration in one slice: finite scores in ``values``, failures counted apart."""

    label: str
    key: tuple[Any, ...]  # values of the label params
    run_ids: list[str]  # runs with a finite score, in the order of values
    values: Any  # numpy array
    seeds: list[Any]  # seed key per run (None when the run has no seed-like params)
    data: dict[str, list[Any]]  # data name -> hash per run
    failed_run_ids: list[str] = field(default_factory=list)  # failed runs and runs without a finite score

    @property
    def n_failed(self) -> int:
        return len(self.failed_run_ids)

    @property
    def n_total(self) -> int:
        return len(self.values) + len(self.failed_run_ids)

    def outcomes(self, higher_is_better: bool) -> Any:
        """Scores with failures as the worst outcome (-inf or +inf), for the rank-based tests."""
        import numpy as np

        worst = -math.inf if higher_is_better else math.inf
        return np.concatenate([np.asarray(self.values, dtype=float), np.full(self.n_failed, worst)])


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
    outcomes: list[str] = field(default_factory=list)  # per run: "ok", "failed" or "skip" (see run_outcomes)
    seed_params: list[str] = field(default_factory=list)  # the seed-like params runs pair by
    warnings: list[str] = field(default_factory=list)


def configure(
    frame: Any,
    by: str | Sequence[str] | None,
    seed_params: Iterable[str],
    dataset: str | None,
    source: str,
    status: str | Sequence[str] | None = "finished",
) -> Configuration:
    """Which params form a configuration (``by``, default every param but seed-like ones and the data set's),
    which are seeds, and which column names the data set."""
    param_names = [c[len("params.") :] for c in frame.columns if c.startswith("params.")]
    declared = [str(p).removeprefix("params.") for p in seed_params]
    by_names = {str(b).strip().removeprefix("params.") for b in (by.split(",") if isinstance(by, str) else by or ())}
    dataset_col, dataset_name = _dataset_column(frame, dataset, exclude=by_names)
    dataset_param = dataset_col[len("params.") :] if dataset_col and dataset_col.startswith("params.") else None
    warnings = [f"seed_params names {p!r}, a param no run in {source} has." for p in declared if p not in param_names]
    if by is None:
        config = [p for p in param_names if not (is_seed_like(p) or p in declared) and p != dataset_param]
        if SOURCES_COLUMN in frame.columns:  # a param repeating an inline one, or at its framework default
            config = key_params(config, frame[SOURCES_COLUMN])
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
    seed_cols = [p for p in param_names if (is_seed_like(p) or p in declared) and p not in config]
    keys_all = _param_keys(frame, config)
    idents = [tuple(value_identity(v) for v in k) for k in keys_all]
    varying = [p for i, p in enumerate(config) if len({k[i] for k in idents}) > 1]
    label_params = list(config) if explicit else varying
    label_idx = [config.index(p) for p in label_params]
    warnings += _near_equal_warnings(label_params, [[k[j] for k in keys_all] for j in label_idx])
    seed_keys: list[Any] = []
    for row in (
        frame[[f"params.{p}" for p in seed_cols]].itertuples(index=False, name=None) if seed_cols else [()] * len(frame)
    ):
        key = tuple(norm_value(v) for v in row)
        seed_keys.append(key if key and any(v is not None for v in key) else None)
    data_cols = [c for c in frame.columns if c.startswith("data.")]
    fold_cols = [p for p in seed_cols if is_fold_like(p)]
    return Configuration(
        label_params=label_params,
        param_columns=[p if p not in _RESERVED else f"params.{p}" for p in label_params],
        dataset_col=dataset_col,
        dataset_name=dataset_name,
        folds_vary=any(frame[f"params.{p}"].nunique() > 1 for p in fold_cols),
        keys=[tuple(k[j] for j in label_idx) for k in keys_all],
        seeds=seed_keys,
        datasets=[None] * len(frame) if dataset_col is None else [norm_value(v) for v in frame[dataset_col]],
        run_ids=[str(r) for r in frame["run_id"]] if "run_id" in frame.columns else [""] * len(frame),
        data={c[len("data.") :]: [norm_value(v) for v in frame[c]] for c in data_cols},
        outcomes=run_outcomes(frame, status),
        seed_params=seed_cols,
        warnings=warnings,
    )


def _param_keys(frame: Any, config: list[str]) -> list[tuple[Any, ...]]:
    """Per run, the values of the ``config`` params: as recorded when the frame came from the store (types kept,
    a param not recorded is MISSING), else from the frame's columns (NaN is MISSING)."""
    if not config:
        return [()] * len(frame)
    if PARAMS_COLUMN in frame.columns:
        return [tuple(param_value(rec.get(p, MISSING)) for p in config) for rec in frame[PARAMS_COLUMN]]
    cols = frame[[f"params.{p}" for p in config]].astype(object)
    return [tuple(param_value(v) for v in row) for row in cols.itertuples(index=False, name=None)]


def _near_equal_warnings(names: list[str], columns: list[list[Any]]) -> list[str]:
    out = []
    for name, column in zip(names, columns, strict=True):
        floats = sorted({float(v) for v in column if isinstance(v, (int, float)) and not isinstance(v, bool)})
        close = [(a, b) for a, b in itertools.pairwise(floats) if math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)]
        if close:
            shown = ", ".join(f"{a!r} and {b!r}" for a, b in close[:3])
            out.append(
                f"Param {name!r} has values that differ only past the 6th significant digit ({shown}): they are "
                f"separate groups; round them when they are the same setting."
            )
    return out


def build_slices(frame: Any, metrics: list[str], config: Configuration, source: str) -> tuple[list[Slice], list[str]]:
    """One slice per (metric, data set), its runs grouped by configuration; failures (failed runs and runs
    without a finite value) counted in their group, runs still running left out; a warning for each."""
    import numpy as np
    import pandas as pd

    slices: list[Slice] = []
    warnings: list[str] = list(config.warnings)
    outcome = np.asarray(config.outcomes or ["ok"] * len(frame), dtype=object)
    skipped = int((outcome == "skip").sum())
    if skipped:
        warnings.append(f"{skipped} run{'s' * (skipped != 1)} still running (or of a status not asked for) left out.")
    idents = [tuple(value_identity(v) for v in k) for k in config.keys]
    for m in metrics:
        values_all = pd.to_numeric(frame[f"metrics.{m}"], errors="coerce").to_numpy(dtype=float)
        good = np.isfinite(values_all) & (outcome == "ok")
        counted = outcome != "skip"
        # a run that recorded the metric, or failed, says something about its group; NaN in every run of a
        # finished group is a metric that configuration never logs, not a failure
        telling = good | (outcome == "failed") | np.isinf(values_all)
        for ds in sorted({d for d, ok in zip(config.datasets, counted, strict=True) if ok}, key=sort_key):
            members: dict[tuple[Any, ...], list[int]] = {}
            for i in np.flatnonzero(counted):
                if config.datasets[i] == ds:
                    members.setdefault(idents[i], []).append(int(i))
            groups = []
            order = sorted(members, key=lambda k: tuple(sort_key(v) for v in config.keys[members[k][0]]))
            for ident in order:
                rows = members[ident]
                if not telling[rows].any():
                    continue
                ok_rows = [i for i in rows if good[i]]
                key = config.keys[rows[0]]
                groups.append(
                    Group(
                        label=group_label(config.label_params, key),
                        key=key,
                        run_ids=[config.run_ids[i] for i in ok_rows],
                        values=values_all[ok_rows],
                        seeds=[config.seeds[i] for i in ok_rows],
                        data={name: [hashes[i] for i in ok_rows] for name, hashes in config.data.items()},
                        failed_run_ids=[config.run_ids[i] for i in rows if not good[i]],
                    )
                )
            if any(len(g.values) for g in groups):
                slices.append(Slice(m, ds, groups))
        count = sum(g.n_failed for sl in slices if sl.metric == m for g in sl.groups)
        if count:
            warnings.append(
                f"{count} run{'s' * (count != 1)} without a finite value of {m} (NaN, inf, or failed/interrupted): "
                f"counted as failures per group (n_failed) and ranked as the worst outcomes, not left out."
            )
    if not slices:
        raise ValueError(f"no run in {source} has a value for {', '.join(metrics)}")
    return slices, warnings


def match_baseline(groups: list[Group], baseline: Any, label_params: list[str]) -> int | None:
    """The index of the group ``baseline`` names: a label, a run id (or prefix), ``"k=v, ..."`` or a dict of
    param values, matched by type first (``3`` is not ``'3'``) and by value only when nothing matches so."""

    def loose(a: Any, b: Any) -> bool:
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
        for same in (lambda a, b: value_identity(a) == value_identity(b), loose):
            hits = [
                k for k, g in enumerate(groups) if all(same(g.key[label_params.index(p)], v) for p, v in wanted.items())
            ]
            if len(hits) > 1:
                raise ValueError(
                    f"baseline {dict(wanted)!r} matches {len(hits)} groups: {', '.join(groups[k].label for k in hits)}"
                )
            if hits:
                return hits[0]
        return None

    if isinstance(baseline, Mapping):
        return by_dict(baseline)
    text = str(getattr(baseline, "id", baseline)).strip()
    for k, g in enumerate(groups):
        if g.label == text:
            return k
    hits = {k for k, g in enumerate(groups) for r in [*g.run_ids, *g.failed_run_ids] if r and r.startswith(text)}
    if len(hits) == 1:
        return hits.pop()
    if "=" in text:
        parsed = {}
        for part in text.split(","):
            name, _, value = part.partition("=")
            parsed[name.strip()] = parse_value(value)
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
