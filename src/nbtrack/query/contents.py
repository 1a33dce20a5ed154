"""What a run holds beyond its params and metrics, as rows every view shows the same way: models, artifacts,
output files, the runs upstream and downstream of it, and its params grouped by where they were written.

The cell summary, ``nbtrack show``, ``diff``, the panel's details and the server's details all read these, so
"1 model not kept: over the 500 MB limit" or "kept"/"hashed only" mean one thing everywhere. Each function takes
the mapping as the record holds it (``Run.models``, ``doc["models"]``...) and never raises on a malformed entry:
a record written by another release shows what it can. Only the standard library (the summary imports this).

:func:`blob_of` says whether a digest is referenced by a run's models, artifacts or kept outputs, and what it is:
the server serves a download only for such a digest, never for a path or a digest the record does not name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

# Run.param_sources values -> how the views name them: "inline" is written in the cell's code (a literal
# assignment, a call's literal argument, a dict of literals), "input" a plain value an earlier cell assigned
SOURCE_LABELS = {
    "explicit": "explicit",
    "assigned": "inline",
    "call": "inline",
    "config": "inline",
    "input": "input",
    "framework": "framework",
}
LABEL_ORDER = ("explicit", "inline", "input", "framework", "other")
OTHER = "other"  # a param without a recorded source (runs of earlier releases), or a source this one does not know
HASH_CHARS = 12  # a content hash as shown in tables: enough to tell two apart
DIGEST = re.compile(r"[0-9a-f]{32}")  # a blob digest (BLAKE2b-128, see nbtrack.store.blobs)


def source_label(source: Any) -> str:
    """The label of a ``param_sources`` value (:data:`SOURCE_LABELS`), :data:`OTHER` when unknown or absent."""
    return SOURCE_LABELS.get(source, OTHER) if isinstance(source, str) else OTHER


def params_by_label(params: Iterable[str], sources: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """Param names grouped by :func:`source_label`, in :data:`LABEL_ORDER` (only the labels that have some)."""
    sources = sources if isinstance(sources, Mapping) else {}
    groups: dict[str, list[str]] = {}
    for name in params:
        groups.setdefault(source_label(sources.get(name)), []).append(name)
    return {label: groups[label] for label in LABEL_ORDER if label in groups}


def short_hash(value: Any) -> str | None:
    """A hash cut to :data:`HASH_CHARS` characters; None when there is none."""
    return value[:HASH_CHARS] if isinstance(value, str) and value else None


def _entries(mapping: Any) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(mapping, Mapping):
        return []
    return [(str(name), dict(record) if isinstance(record, Mapping) else {}) for name, record in mapping.items()]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def model_hash(record: Mapping[str, Any]) -> str | None:
    """What identifies a model's content: its ``hash``, else its blob's digest."""
    value = record.get("hash") or record.get("blob")
    return value if isinstance(value, str) and value else None


def model_rows(models: Any) -> list[dict[str, Any]]:
    """One row per model: name, class, framework, version, format, size, hash, pickle, auto, kept, skipped."""
    rows = []
    for name, record in _entries(models):
        skipped = record.get("skipped")
        rows.append(
            {
                "name": name,
                "class": record.get("class") if isinstance(record.get("class"), str) else None,
                "framework": record.get("framework"),
                "framework_version": record.get("framework_version"),
                "format": record.get("format"),
                "size": _int(record.get("size")),
                "hash": model_hash(record),
                "blob": record.get("blob") if _is_digest(record.get("blob")) else None,
                "pickle": bool(record.get("pickle")),
                "auto": bool(record.get("auto")),
                "kept": not skipped and _is_digest(record.get("blob")),
                "skipped": str(skipped) if skipped else None,
            }
        )
    return rows


def artifact_rows(artifacts: Any) -> list[dict[str, Any]]:
    """One row per artifact: name, kind (``figure``, ``file``, ``bytes``), media type, size, blob."""
    return [
        {
            "name": name,
            "kind": record.get("kind") if isinstance(record.get("kind"), str) else "file",
            "media_type": record.get("media_type") if isinstance(record.get("media_type"), str) else None,
            "size": _int(record.get("size")),
            "blob": record.get("blob") if _is_digest(record.get("blob")) else None,
        }
        for name, record in _entries(artifacts)
    ]


def output_rows(outputs: Any) -> list[dict[str, Any]]:
    """One row per output file: path, size, hash, and ``kept`` (the blob's digest, or None when only hashed)."""
    return [
        {
            "path": path,
            "size": _int(record.get("size")),
            "hash": record.get("hash") if isinstance(record.get("hash"), str) else None,
            "kept": record.get("kept") if _is_digest(record.get("kept")) else None,
        }
        for path, record in _entries(outputs)
    ]


def is_figure(row: Mapping[str, Any]) -> bool:
    """An artifact shown as an image: a figure, or any artifact with an ``image/*`` media type."""
    media = row.get("media_type") or ""
    return row.get("kind") == "figure" or (isinstance(media, str) and media.startswith("image/"))


def skipped_counts(models: Any) -> dict[str, int]:
    """Models not kept, counted by the reason the record gives (``over the 500 MB limit``...)."""
    counts: dict[str, int] = {}
    for row in model_rows(models):
        if row["skipped"]:
            counts[row["skipped"]] = counts.get(row["skipped"], 0) + 1
    return counts


def downstream(docs: Mapping[str, Mapping[str, Any]], run_id: str) -> dict[str, list[str]]:
    """The runs that read an output of ``run_id`` (their ``upstream`` names it): input -> run ids, oldest first."""
    found: dict[str, list[str]] = {}
    for other_id in sorted(docs):
        upstream = docs[other_id].get("upstream")
        if other_id == run_id or not isinstance(upstream, Mapping):
            continue
        for name, source in upstream.items():
            if source == run_id:
                found.setdefault(str(name), []).append(other_id)
    return found


@dataclass(frozen=True)
class BlobRef:
    """A blob a run's record references: what it is (``model``, ``artifact``, ``output``), its name, media type."""

    digest: str
    part: str
    name: str
    media_type: str

    @property
    def filename(self) -> str:
        """A file name safe in a ``Content-Disposition`` header: the last part of the name, plain characters."""
        base = PurePosixPath(self.name.replace("\\", "/")).name or self.part
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._") or self.part
        return safe[-120:]


# the suffix a model's download gets, by its record's format
_MODEL_FORMAT_SUFFIX = {
    "skops": ".skops",
    "xgboost-ubj": ".ubj",
    "lightgbm-txt": ".txt",
    "keras": ".keras",
    "torch-state": ".pt",
    "pickle": ".pkl",
}


def blob_of(doc: Mapping[str, Any], digest: str) -> BlobRef | None:
    """The part of the record that references ``digest`` (a model, an artifact or a kept output), else None."""
    if not _is_digest(digest):
        return None
    for row in model_rows(doc.get("models")):
        if row["blob"] == digest and not row["skipped"]:
            name = row["name"] + _MODEL_FORMAT_SUFFIX.get(str(row["format"]), "")
            return BlobRef(digest, "model", name, "text/plain" if row["format"] == "lightgbm-txt" else _OCTETS)
    for row in artifact_rows(doc.get("artifacts")):
        if row["blob"] == digest:
            return BlobRef(digest, "artifact", row["name"], _media(row["media_type"]))
    for row in output_rows(doc.get("outputs")):
        if row["kept"] == digest:
            return BlobRef(digest, "output", row["path"], _OCTETS)
    return None


_OCTETS = "application/octet-stream"
_MEDIA = re.compile(r"[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*")


def _media(value: Any) -> str:
    """A media type from a record, if it is one (a header must never carry what a record made up)."""
    text = value.strip().lower() if isinstance(value, str) else ""
    return text if _MEDIA.fullmatch(text) else _OCTETS


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and DIGEST.fullmatch(value) is not None


def export_reason(doc: Mapping[str, Any], status: str) -> str | None:
    """Why ``nbtrack.export`` would refuse the run (one sentence saying what to do), or None when it can export it.

    Read from the record alone (``status`` is the status as shown), so the views say it before anyone clicks:
    a run still running, one without an execution history or a cell to export (the refusals of
    :func:`nbtrack.exporting.exporter.plan_export`), and a run that failed (its script would reproduce the error,
    with no final metrics to verify it against)."""
    if status == "running":
        return "The run is still running; export it once it has finished."
    if not doc.get("history"):
        how = "a nbtrack.track() block outside a notebook cell" if doc.get("source") == "api" else "an older nbtrack"
        return f"The run has no recorded execution history (recorded by {how}); run it as a %%track cell to export it."
    if doc.get("source") != "magic" and not doc.get("cell_block"):
        return "The run was not recorded by a %%track cell or a nbtrack.track() block in a cell; rerun it in one."
    if status in ("failed", "interrupted", "abandoned"):
        error = doc.get("error")
        what = f" ({error.get('type')})" if isinstance(error, Mapping) and error.get("type") else ""
        return f"The run {status}{what}, so a script has no result to reproduce; fix it and export a finished run."
    return None


def export_availability(doc: Mapping[str, Any], status: str) -> dict[str, Any]:
    """``{"available": bool, "reason": str | None}`` for the details of a run (see :func:`export_reason`)."""
    reason = export_reason(doc, status)
    return {"available": reason is None, "reason": reason}
