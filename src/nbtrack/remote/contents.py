"""Where a run's models, artifacts and kept output files go among an MLflow run's artifacts, and back (pure
functions: no MLflow import here).

======================  =====================================================================================
record                  MLflow run artifacts
======================  =====================================================================================
``run.models[name]``    ``models/<name>/``: an MLflow model (``MLmodel`` + the flavor's files) where MLflow has
                        the flavor (scikit-learn; XGBoost, LightGBM when their package is importable), so
                        ``mlflow.sklearn.load_model("runs:/<id>/models/<name>")`` works; else the plain file
                        ``models/<name>/<name>.<format>``. nbtrack's own bytes are among these files, unchanged
                        (skops, pickle and XGBoost files are the flavor's data file; a LightGBM model adds
                        ``nbtrack-model.json``); ``nbtrack/models.json`` says which file is which, so pull
                        restores each model bit for bit.
``run.artifacts[name]`` ``artifacts/<name>`` (figures as PNG files, logged files and bytes)
``run.outputs[path]``   kept outputs: ``outputs/<path>``; outputs only hashed stay in the record alone
                        (``nbtrack/run.json``: path, size, hash), as their bytes were never kept
======================  =====================================================================================

A part is sent once: the push state keys each by its artifact path with the blob's digest as its content, so
a model, figure or file pushed once is not sent again and a changed one is.
"""

from __future__ import annotations

import hashlib
import importlib.util
import posixpath
import re
from dataclasses import dataclass
from typing import Any

ARTIFACT_MODELS = "nbtrack/models.json"  # name -> {"file": path of nbtrack's bytes, "flavor": ..., "mlflow": dir}
MODELS_DIR = "models"
ARTIFACTS_DIR = "artifacts"
OUTPUTS_DIR = "outputs"

# The flavor each of nbtrack's model formats maps onto, and the package the flavor needs besides MLflow.
FLAVORS = {
    ("sklearn", "skops"): ("sklearn", "sklearn"),
    ("sklearn", "pickle"): ("sklearn", "sklearn"),
    ("xgboost", "xgboost-ubj"): ("xgboost", "xgboost"),
    ("lightgbm", "lightgbm"): ("lightgbm", "lightgbm"),
}
# where nbtrack's bytes sit inside the flavor's model directory (the flavor's own data file, when it is the
# same format; else a file of nbtrack's beside the flavor's)
_FLAVOR_FILE = {
    "skops": "model.skops",
    "pickle": "model.pkl",
    "xgboost-ubj": "model.ubj",
    "lightgbm": "nbtrack-model.json",
}
_SUFFIX = {"skops": ".skops", "pickle": ".pkl", "xgboost-ubj": ".ubj", "keras": ".keras", "torch-state-dict": ".pt"}
_DIGEST = re.compile(r"[0-9a-f]{32}")
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def is_digest(value: Any) -> bool:
    return isinstance(value, str) and _DIGEST.fullmatch(value) is not None


def segment(name: str) -> str:
    """One path segment MLflow and every artifact store accept: the name when it is plain, else its plain
    characters plus a short hash of the name (two names never share a segment)."""
    plain = _SAFE.sub("_", name)[:100].strip(".")
    if plain == name and plain:
        return plain
    return f"{plain or 'item'}-{hashlib.blake2b(name.encode('utf-8', 'surrogatepass'), digest_size=4).hexdigest()}"


def relative_path(path: str) -> str:
    """A relative path (an output file's) as plain segments: no ``..``, no absolute part."""
    parts = [p for p in posixpath.normpath(path.replace("\\", "/")).split("/") if p not in ("", ".", "..")]
    return "/".join(segment(p) for p in parts) or segment(path)


@dataclass(frozen=True)
class ModelPart:
    """One model of a run as it is pushed: its record, the blob holding its bytes, and where they go."""

    name: str
    record: dict[str, Any]
    blob: str
    folder: str  # models/<name>
    flavor: str | None  # the MLflow flavor it is logged with, or None: a plain artifact

    @property
    def file(self) -> str:
        """The artifact path of nbtrack's bytes."""
        fmt = str(self.record.get("format"))
        if self.flavor is not None:
            return f"{self.folder}/{_FLAVOR_FILE[fmt]}"
        return f"{self.folder}/{posixpath.basename(self.folder)}{_SUFFIX.get(fmt, '.' + segment(fmt))}"

    @property
    def key(self) -> str:
        """The push-state part: sent again when the bytes or the way they are logged change."""
        return f"m:{self.folder}"

    @property
    def content(self) -> list[Any]:
        return [self.blob, self.flavor]

    def manifest(self) -> dict[str, Any]:
        return {"file": self.file, "flavor": self.flavor, "mlflow": self.folder if self.flavor else None}


def flavor_for(record: dict[str, Any]) -> str | None:
    """The MLflow flavor a model record is pushed with, or None when MLflow has none for it here (its package
    is not importable) or the record is not one of the formats a flavor reads."""
    found = FLAVORS.get((str(record.get("framework")), str(record.get("format"))))
    if found is None:
        return None
    flavor, package = found
    return flavor if importlib.util.find_spec(package) is not None else None


def model_parts(models: Any) -> list[ModelPart]:
    """The saved models of a record (not those skipped for their size), with where each goes."""
    parts: list[ModelPart] = []
    if not isinstance(models, dict):
        return parts
    for name, record in models.items():
        if not isinstance(record, dict) or record.get("skipped") or not is_digest(record.get("blob")):
            continue
        folder = f"{MODELS_DIR}/{segment(str(name))}"
        parts.append(ModelPart(str(name), record, record["blob"], folder, flavor_for(record)))
    return parts


def file_parts(doc: dict[str, Any]) -> dict[str, str]:
    """Artifact path -> blob digest, for the run's artifacts and its kept outputs."""
    files: dict[str, str] = {}
    for name, record in (doc.get("artifacts") or {}).items():
        if isinstance(record, dict) and is_digest(record.get("blob")):
            files[artifact_path(str(name))] = record["blob"]
    for path, record in (doc.get("outputs") or {}).items():
        if isinstance(record, dict) and is_digest(record.get("kept")):
            files[output_path(str(path))] = record["kept"]
    return files


def artifact_path(name: str) -> str:
    return f"{ARTIFACTS_DIR}/{segment(name)}"


def output_path(path: str) -> str:
    return f"{OUTPUTS_DIR}/{relative_path(path)}"


def contents_size(doc: dict[str, Any]) -> int:
    """Bytes the models, artifacts and kept outputs of a record take (from the records' sizes)."""
    total = 0
    for part in model_parts(doc.get("models")):
        size = part.record.get("size")
        total += size if isinstance(size, int) else 0
    for group in ("artifacts", "outputs"):
        for record in (doc.get(group) or {}).values():
            kept = isinstance(record, dict) and is_digest(record.get("blob") or record.get("kept"))
            size = record.get("size") if kept else None
            total += size if isinstance(size, int) else 0
    return total
