"""Models as MLflow models: the flavor's model directory written for a pushed model, and MLflow models of a
run made with MLflow read back into nbtrack model records.

Push (:func:`write_model_dir`): the model is loaded from the store (nbtrack's own store: trusted; a model
whose loading could run code and that came from a store the user did not write is pushed as a plain file
instead), saved with ``mlflow.<flavor>.save_model`` into a temporary folder, and nbtrack's own bytes then
replace the flavor's data file where they are the same format (skops, pickle, XGBoost UBJSON), so the MLflow
model and nbtrack's record hold the same bytes. The fluent API (``mlflow.sklearn.log_model``) is not used: it
needs a global active run. MLflow 3's "logged models" (``LoggedModel``, ``models:/<model_id>``) are not used
either: they take three more requests per model (create, upload elsewhere, finalize), do not exist on
servers before 3.0, and ``runs:/<run id>/models/<name>`` loads the classic run-artifact model on every
MLflow version.

Pull (:func:`native_record`): an MLflow model directory's ``MLmodel`` says its flavor and data file; the
scikit-learn flavor's file becomes an nbtrack ``skops`` or ``pickle`` model, the XGBoost flavor's UBJSON an
``xgboost-ubj`` one, so ``nbtrack.load_model`` reads it without MLflow (a pickle needs ``trusted=True``: a
pulled run is never from a store the user wrote). Other flavors are listed with the MLflow URI to load them
with (``"skipped"`` says so).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from nbtrack.capture.model_formats import PICKLE_FORMATS, load, untrusted_types
from nbtrack.remote.contents import ModelPart

_SKLEARN_FORMATS = {"skops": "skops", "pickle": "cloudpickle"}  # nbtrack format -> MLflow serialization_format


def write_model_dir(part: ModelPart, data: bytes, folder: Path, *, trusted: bool) -> bool:
    """Write ``part``'s MLflow model directory at ``folder`` (which must not exist); False when the model cannot
    be loaded here without trusting it, or MLflow cannot save it (it is then pushed as a plain file)."""
    fmt = str(part.record.get("format"))
    if not trusted and untrusted_types(data, fmt):
        return False
    model = load(data, part.record, trusted=trusted)
    # The flavor's own requirements (the framework pinned at its version here, plus skops or cloudpickle) are
    # passed: otherwise MLflow infers them by loading the model in a subprocess, 15 s a model on a busy machine.
    if part.flavor == "sklearn":
        import mlflow.sklearn

        serialization = _SKLEARN_FORMATS[fmt]
        requirements = mlflow.sklearn.get_default_pip_requirements(
            include_cloudpickle=serialization == "cloudpickle", include_skops=serialization == "skops"
        )
        skops_types = untrusted_types(data, "skops") if fmt == "skops" else None
        mlflow.sklearn.save_model(
            model,
            str(folder),
            serialization_format=serialization,
            skops_trusted_types=skops_types or None,
            pip_requirements=requirements,
        )
    elif part.flavor == "xgboost":
        import mlflow.xgboost

        requirements = mlflow.xgboost.get_default_pip_requirements()
        mlflow.xgboost.save_model(model, str(folder), model_format="ubj", pip_requirements=requirements)
    elif part.flavor == "lightgbm":
        import lightgbm
        import mlflow.lightgbm

        wrapper = not isinstance(model, lightgbm.Booster)
        requirements = mlflow.lightgbm.get_default_pip_requirements(include_cloudpickle=wrapper)
        mlflow.lightgbm.save_model(
            model, str(folder), serialization_format="cloudpickle", pip_requirements=requirements
        )
    else:
        return False
    (folder / Path(part.file).name).write_bytes(data)  # nbtrack's bytes: the flavor's data file or beside it
    return True


def model_dir_files(folder: Path) -> list[tuple[Path, str]]:
    """Every file of a model directory with its path relative to the directory (POSIX form)."""
    return [(p, p.relative_to(folder).as_posix()) for p in sorted(folder.rglob("*")) if p.is_file()]


# pull: MLflow models of runs made with MLflow -----------------------------------------------------------


def native_record(folder: Path, uri: str, store: Any) -> dict[str, Any]:
    """The nbtrack model record of the MLflow model downloaded at ``folder`` (``uri``: where it is on the
    server), its bytes put in ``store`` where nbtrack can read the flavor's file."""
    from mlflow.models import Model

    meta = Model.load(str(folder / "MLmodel"))
    flavors = meta.flavors or {}
    record: dict[str, Any] = {"mlflow_uri": uri, "auto": False}
    if meta.model_id:
        record["mlflow_model_id"] = meta.model_id
    sklearn = flavors.get("sklearn")
    xgb = flavors.get("xgboost")
    if isinstance(sklearn, dict) and sklearn.get("pickled_model"):
        serialization = str(sklearn.get("serialization_format") or "cloudpickle")
        fmt = "skops" if serialization == "skops" else "pickle"
        record.update(framework="sklearn", framework_version=sklearn.get("sklearn_version"))
        return _with_file(record, folder / str(sklearn["pickled_model"]), fmt, store)
    if isinstance(xgb, dict) and str(xgb.get("data", "")).endswith(".ubj"):
        record.update(
            framework="xgboost", framework_version=xgb.get("xgb_version"), **{"class": xgb.get("model_class")}
        )
        return _with_file(record, folder / str(xgb["data"]), "xgboost-ubj", store)
    named = sorted(k for k in flavors if k != "python_function") or sorted(flavors)
    flavor = named[0] if named else "unknown"
    module = "pyfunc" if flavor == "python_function" else flavor  # the flavor's module in mlflow
    record.update(framework=flavor, format=f"mlflow-{flavor}")
    record["skipped"] = f"an MLflow {flavor} model: load it with mlflow.{module}.load_model({uri!r})"
    return record


def _with_file(record: dict[str, Any], path: Path, fmt: str, store: Any) -> dict[str, Any]:
    data = path.read_bytes()
    record.update(format=fmt, pickle=fmt in PICKLE_FORMATS, size=len(data))
    if fmt == "skops" and not record.get("class"):
        record["class"] = _skops_class(data)
    record["blob"] = store.put_blob(data)
    record["hash"] = record["blob"]  # the bytes are what identifies a model MLflow saved
    return record


def _skops_class(data: bytes) -> str | None:
    """The qualified class a skops file's top object names (read from its schema, nothing is built)."""
    import io
    import json
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    module, name = schema.get("__module__"), schema.get("__class__")
    return f"{module}.{name}" if isinstance(module, str) and isinstance(name, str) else None


def remove_dir(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
