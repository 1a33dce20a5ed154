"""Data fingerprints as MLflow dataset inputs, and back (pure functions: no MLflow import)."""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DATASET_NAME = 500  # MLflow's limits (mlflow.utils.validation)
MAX_DATASET_DIGEST = 36


_MLFLOW_TYPES = {
    "int64": "long",
    "int32": "integer",
    "int16": "integer",
    "int8": "integer",
    "uint8": "integer",
    "uint16": "integer",
    "float64": "double",
    "float32": "float",
    "bool": "boolean",
    "object": "string",
    "string": "string",
    "str": "string",
}


def dataset_record(name: str, record: dict[str, Any]) -> dict[str, Any]:
    """An nbtrack fingerprint as the fields of an MLflow dataset input."""
    kind = record.get("kind")
    shape = record.get("shape") or []
    schema: dict[str, Any] | None = None
    profile: dict[str, Any] = {"nbtrack_kind": kind, "algorithm": record.get("algorithm")}
    if kind in ("dataframe", "series"):
        columns = record.get("columns") or []
        schema = {
            "mlflow_colspec": [
                {
                    "type": _column_type(str(c.get("type") or c.get("dtype"))),
                    "name": str(c.get("name")),
                    "required": True,
                }
                for c in columns
                if isinstance(c, dict)
            ]
        }
        profile["num_rows"] = shape[0] if shape else None
        profile["num_elements"] = math.prod(shape) if shape else None
        source_type, source = "code", {"nbtrack": name}
    elif kind == "ndarray":
        spec = [{"type": "tensor", "tensor-spec": {"dtype": str(record.get("dtype")), "shape": list(shape)}}]
        schema = {"mlflow_tensorspec": {"features": json.dumps(spec), "targets": None}}
        profile["features_shape"] = list(shape)
        profile["features_size"] = math.prod(shape) if shape else 0
        source_type, source = "code", {"nbtrack": name}
    else:
        source_type, source = "local", {"uri": str(record.get("path") or name)}
        for key in ("size", "files", "format"):
            if record.get(key) is not None:
                profile[key] = record[key]
    if isinstance(record.get("profile"), dict):  # nbtrack's statistical profile, when the run recorded one
        profile["nbtrack_profile"] = record["profile"]
    return {
        "name": name[:MAX_DATASET_NAME],
        "digest": str(record["hash"])[:MAX_DATASET_DIGEST],
        "source_type": source_type,
        "source": json.dumps(source, ensure_ascii=False),
        "schema": json.dumps(schema, ensure_ascii=False) if schema else None,
        "profile": json.dumps(profile, ensure_ascii=False),
    }


def _column_type(dtype: str) -> str:
    """MLflow's column type for a pandas dtype or an nbtrack logical type (int64, datetime[UTC]...)."""
    if dtype.startswith("datetime"):
        return "datetime"
    if dtype.startswith(("uint32", "uint64", "Int64", "UInt")):
        return "long"
    if dtype.startswith("Int") or dtype.startswith("int"):
        return _MLFLOW_TYPES.get(dtype.lower(), "long")
    if dtype.startswith(("float16", "Float")):
        return "double"
    return _MLFLOW_TYPES.get(dtype, "string")


def data_tag_text(record: dict[str, Any]) -> str:
    shape = "x".join(str(n) for n in record.get("shape") or [])
    return " ".join(str(p) for p in (record.get("kind"), shape, record.get("hash")) if p)


def data_from_dataset(dataset: Any) -> dict[str, Any]:
    """An MLflow dataset input (entity with name/digest/...) as an nbtrack data record."""
    record: dict[str, Any] = {
        "algorithm": "mlflow",
        "hash": dataset.digest,
        "kind": "mlflow-dataset",
        "source_type": dataset.source_type,
    }
    for attr in ("source", "schema", "profile"):
        text = getattr(dataset, attr, None)
        if text:
            try:
                record[attr] = json.loads(text)
            except ValueError:
                record[attr] = text
    profile = record.get("profile")
    if isinstance(profile, dict):
        if profile.get("algorithm"):
            record["algorithm"] = profile["algorithm"]
        if profile.get("nbtrack_kind"):
            record["kind"] = profile["nbtrack_kind"]
        if isinstance(profile.get("nbtrack_profile"), dict):
            record["profile"] = profile["nbtrack_profile"]
    return record
