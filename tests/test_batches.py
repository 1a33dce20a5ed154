"""log_batch planning: MLflow's request limits, and resuming after the confirmed batches."""

from __future__ import annotations

from nbtrack.remote.batches import plan_batches
from nbtrack.remote.mapping import (
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_TAGS_PER_BATCH,
    TAG_PUSHED,
    Payload,
)


def _payload(n_metrics: int, n_params: int, n_tags: int) -> Payload:
    payload = Payload("01" * 13, "e", None, "finished", "FINISHED", 0, 1, "sig")
    payload.metrics = [("m", float(i), i, i) for i in range(n_metrics)]
    payload.params = [(f"p{i}", "v") for i in range(n_params)]
    payload.tags = [(f"t{i}", "v") for i in range(n_tags)]
    return payload


def test_batches_respect_mlflow_limits_and_resume_where_they_stopped():
    payload = _payload(2500, 150, 120)
    marker = (TAG_PUSHED, "sig")
    batches = plan_batches(payload, {}, marker)
    for batch in batches:
        assert len(batch.metrics) <= MAX_METRICS_PER_BATCH
        assert len(batch.params) <= MAX_PARAMS_TAGS_PER_BATCH and len(batch.tags) <= MAX_PARAMS_TAGS_PER_BATCH
        assert batch.entities <= MAX_ENTITIES_PER_BATCH
    assert sum(len(b.metrics) for b in batches) == 2500
    assert sum(len(b.params) for b in batches) == 150
    assert sum(len(b.tags) for b in batches) == 121
    assert batches[-1].tags[-1] == marker  # the completion marker goes last
    # the first two metric batches confirmed: only the rest of the metrics, then params and tags
    parts = {}
    for batch in batches[:2]:
        parts.update(batch.completes)
    rest = plan_batches(payload, parts, marker)
    assert sum(len(b.metrics) for b in rest) == 500
    # everything confirmed: only the marker is left
    for batch in batches:
        parts.update(batch.completes)
    assert [(b.metrics, b.params, b.tags) for b in plan_batches(payload, parts, marker)] == [([], [], [marker])]
    # small runs go in one request
    assert len(plan_batches(_payload(50, 20, 8), {}, marker)) == 1
