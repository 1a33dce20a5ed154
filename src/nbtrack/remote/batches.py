"""Params, tags and metric points packed into MLflow ``log_batch`` requests within MLflow's limits, skipping
the parts the push state says the server already has (pure functions: no MLflow import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nbtrack.remote.mapping import (
    MAX_BATCH_BYTES,
    MAX_ENTITIES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAMS_TAGS_PER_BATCH,
    Payload,
    digest,
)


@dataclass
class Batch:
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)
    params: list[tuple[str, str]] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)
    completes: dict[str, Any] = field(default_factory=dict)  # push-state parts confirmed once it is sent

    @property
    def entities(self) -> int:
        return len(self.metrics) + len(self.params) + len(self.tags)

    def size(self) -> int:
        texts = self.params + self.tags
        return sum(len(m[0]) + 70 for m in self.metrics) + sum(
            len(k.encode()) + len(v.encode("utf-8", "surrogatepass")) + 40 for k, v in texts
        )

    def room_for(self, params: list[tuple[str, str]], tags: list[tuple[str, str]]) -> bool:
        extra = Batch(params=params, tags=tags)
        return (
            len(self.params) + len(params) <= MAX_PARAMS_TAGS_PER_BATCH
            and len(self.tags) + len(tags) <= MAX_PARAMS_TAGS_PER_BATCH
            and self.entities + extra.entities <= MAX_ENTITIES_PER_BATCH
            and self.size() + extra.size() <= MAX_BATCH_BYTES
        )


def _chunks(items: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Params or tags in groups of at most 100 and MAX_BATCH_BYTES / 2."""
    chunks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    size = 0
    for item in items:
        item_size = len(item[0].encode()) + len(item[1].encode("utf-8", "surrogatepass")) + 40
        if current and (len(current) >= MAX_PARAMS_TAGS_PER_BATCH or size + item_size > MAX_BATCH_BYTES // 2):
            chunks.append(current)
            current, size = [], 0
        current.append(item)
        size += item_size
    if current:
        chunks.append(current)
    return chunks


def plan_batches(payload: Payload, parts: dict[str, Any], marker: tuple[str, str]) -> list[Batch]:
    """The log_batch requests still to send: metric batches from the first unconfirmed one, then params and
    tags unless confirmed with the same content, the ``marker`` tag in the last request."""
    batches: list[Batch] = []
    metrics_hash = digest(payload.metrics)
    done = parts.get("metrics")
    start = done[1] if isinstance(done, list) and len(done) == 2 and done[0] == metrics_hash else 0
    for i in range(start * MAX_METRICS_PER_BATCH, len(payload.metrics), MAX_METRICS_PER_BATCH):
        number = i // MAX_METRICS_PER_BATCH + 1
        batches.append(
            Batch(metrics=payload.metrics[i : i + MAX_METRICS_PER_BATCH], completes={"metrics": [metrics_hash, number]})
        )

    pending: list[tuple[str, list[list[tuple[str, str]]], str]] = []
    params_hash, tags_hash = digest(payload.params), digest(payload.tags)
    if payload.params and parts.get("params") != params_hash:
        pending.append(("params", _chunks(payload.params), params_hash))
    if payload.tags and parts.get("tags") != tags_hash:
        pending.append(("tags", _chunks(payload.tags), tags_hash))
    for part, chunks, part_hash in pending:
        for n, chunk in enumerate(chunks, 1):
            target = next(
                (
                    b
                    for b in batches[-1:]
                    if b.room_for(chunk if part == "params" else [], chunk if part == "tags" else [])
                ),
                None,
            )
            if target is None:
                target = Batch()
                batches.append(target)
            getattr(target, part).extend(chunk)
            if n == len(chunks):
                target.completes[part] = part_hash
    if batches and batches[-1].room_for([], [marker]):
        batches[-1].tags.append(marker)
    else:
        batches.append(Batch(tags=[marker]))
    return batches
