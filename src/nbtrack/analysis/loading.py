"""Which runs a comparison reads, from an experiment, run ids or a DataFrame, and what each run counts as.

One policy on every entry point (:data:`FAILURE_POLICY`): runs whose status is one of ``status`` (finished by
default) are scores; failed, interrupted and abandoned runs are failures, kept and counted in their group
and ranked as the worst outcomes; runs still running are left out with a warning. Runs from the store also
carry their params as recorded (:data:`PARAMS_COLUMN`), so group keys keep types and tell a param not
recorded from an explicit None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

FAILURE_STATUSES = ("failed", "interrupted", "abandoned")
FAILURE_POLICY = "worst"  # failures ranked below every finished score (rank-based tests)
PARAMS_COLUMN = "nbtrack.recorded_params"  # per run, the params dict as recorded (types, missing vs None)
SOURCES_COLUMN = "nbtrack.param_sources"  # per run, where each param came from (Run.param_sources)


def load_frame(runs: Any, store: Any, status: str | Sequence[str] | None) -> tuple[Any, str]:
    """The runs to compare as a ``runs()`` frame, with every status (failures are outcomes: see the module
    docstring), and for runs from the store their params as recorded (:data:`PARAMS_COLUMN`)."""
    import pandas as pd

    from nbtrack.query.search import runs as query_runs
    from nbtrack.store.local import get_store

    if isinstance(runs, pd.DataFrame):
        return runs.copy(), "the given runs"
    st = get_store(store)
    if runs is None or isinstance(runs, str):
        if runs is None:
            from nbtrack.capture.lifecycle import default_experiment

            runs = default_experiment()
        frame = query_runs(experiment=runs, store=st)
        wanted = completed_statuses(status)
        if frame.empty or (wanted is not None and not frame["status"].isin(wanted).any()):
            state = f" {status}" if isinstance(status, str) else ""
            raise ValueError(f"no{state} runs in experiment {runs!r}")
        source = f"experiment {runs!r}"
    else:
        ids = [getattr(r, "id", r) for r in runs]
        full = [st.resolve(str(r)) for r in ids]
        frame = query_runs(store=st)
        frame = frame[frame["run_id"].isin(full)].reset_index(drop=True)
        source = f"{len(full)} runs"
    docs = st.run_docs()
    frame[PARAMS_COLUMN] = [_recorded_params(docs.get(r, {})) for r in frame["run_id"]]
    frame[SOURCES_COLUMN] = [dict(docs.get(r, {}).get("param_sources") or {}) for r in frame["run_id"]]
    return frame, source


def _recorded_params(doc: Mapping[str, Any]) -> dict[str, Any]:
    from nbtrack import values

    params = doc.get("params") or {}
    return {k: values.decode(v) if isinstance(v, (dict, list)) else v for k, v in params.items()}


def completed_statuses(status: str | Sequence[str] | None) -> list[str] | None:
    """The statuses whose runs are scores (None: every status)."""
    return None if status is None else [status] if isinstance(status, str) else list(status)


def run_outcomes(frame: Any, status: str | Sequence[str] | None) -> list[str]:
    """Per run: ``"ok"`` (its status is one of ``status``), ``"failed"`` (failed, interrupted or abandoned)
    or ``"skip"`` (still running, or another status not asked for)."""
    wanted = completed_statuses(status)
    if wanted is None or "status" not in frame.columns:
        return ["ok"] * len(frame)
    out = []
    for value in frame["status"]:
        text = str(value)
        out.append("ok" if text in wanted else "failed" if text in FAILURE_STATUSES else "skip")
    return out
