"""Sending a run's models, artifacts and kept outputs to its MLflow run, and bringing them back on pull.

Where each goes is :mod:`nbtrack.remote.contents`; how a model becomes an MLflow model is
:mod:`nbtrack.remote.flavors`. Each part is confirmed in the push state once sent (key: its artifact path,
content: the blob's digest), so a push sends a model or file once, again only when it changed, and a push
cut short resumes from the first part not confirmed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeGuard

from nbtrack.remote.client import Server, short_error
from nbtrack.remote.contents import (
    ARTIFACT_MODELS,
    MODELS_DIR,
    ModelPart,
    artifact_path,
    is_digest,
    output_path,
    segment,
)
from nbtrack.remote.flavors import native_record, remove_dir, write_model_dir
from nbtrack.remote.mapping import Payload
from nbtrack.remote.report import warn
from nbtrack.remote.state import PushState

MLFLOW_MODEL_HISTORY = "mlflow.log-model.history"  # MLflow 2: JSON list of the models log_model saved in the run


def push_contents(
    server: Server,
    state: PushState,
    payload: Payload,
    mlflow_id: str,
    artifact_uri: str | None,
    parts: dict[str, Any],
    check: Callable[[], None],
) -> None:
    """Upload the run's artifacts, kept outputs and models the server does not have yet, then the models'
    manifest (``nbtrack/models.json``: which file holds nbtrack's bytes of each)."""
    run_id, store = payload.run_id, payload.store
    for path, digest in payload.files.items():
        key = f"a:{path}"
        if parts.get(key) != digest:
            check()
            server.upload(mlflow_id, artifact_uri, path, store.get_blob(digest))
            state.record(run_id, parts={key: digest})
    manifest: dict[str, Any] = {}
    for part in payload.models:
        done = parts.get(part.key)
        if isinstance(done, dict) and done.get("c") == part.content and isinstance(done.get("m"), dict):
            manifest[part.name] = done["m"]
            continue
        check()
        entry = _push_model(server, payload, part, mlflow_id, artifact_uri)
        state.record(run_id, parts={part.key: {"c": part.content, "m": entry}})
        manifest[part.name] = entry
    if manifest:
        data = json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8", "surrogatepass")
        content = hashlib.blake2b(data, digest_size=10).hexdigest()
        key = f"a:{ARTIFACT_MODELS}"
        if parts.get(key) != content:
            check()
            server.upload(mlflow_id, artifact_uri, ARTIFACT_MODELS, data)
            state.record(run_id, parts={key: content})


def _push_model(
    server: Server, payload: Payload, part: ModelPart, mlflow_id: str, artifact_uri: str | None
) -> dict[str, Any]:
    """Send one model: an MLflow model directory where the flavor saves it, else nbtrack's file alone."""
    data = payload.store.get_blob(part.blob)
    if part.flavor is not None:
        scratch = Path(tempfile.mkdtemp(prefix="nbtrack-model-"))
        folder = scratch / segment(part.name)
        try:
            try:
                written = write_model_dir(part, data, folder, trusted=payload.models_trusted)
            except Exception as exc:
                warn(
                    f"run {payload.run_id}: model {part.name!r} is pushed as a plain file: MLflow's {part.flavor} "
                    f"flavor could not save it ({short_error(exc, 200)})"
                )
                written = False
            if written:
                server.upload_dir(mlflow_id, artifact_uri, folder, part.folder)
                return part.manifest()
        finally:
            remove_dir(scratch)
    plain = replace(part, flavor=None)
    server.upload(mlflow_id, artifact_uri, plain.file, data)
    return plain.manifest()


# pull ---------------------------------------------------------------------------------------------------


def restore_contents(server: Server, store: Any, run: Any, doc: dict[str, Any]) -> None:
    """Put the bytes of a pushed record's models, artifacts and kept outputs into ``store`` (the record names
    their digests); what the server does not have is marked as not kept."""
    mlflow_id, artifact_uri = run.info.run_id, run.info.artifact_uri

    def fetch(path: str) -> str | None:
        data = server.download(mlflow_id, artifact_uri, path)
        return None if data is None else store.put_blob(data)

    artifacts = doc.get("artifacts")
    if isinstance(artifacts, dict):
        doc["artifacts"] = {
            name: {**record, "blob": fetch(artifact_path(str(name)))}
            if isinstance(record, dict) and is_digest(record.get("blob"))
            else record
            for name, record in artifacts.items()
        }
    outputs = doc.get("outputs")
    if isinstance(outputs, dict):
        doc["outputs"] = {
            path: {**record, "kept": fetch(output_path(str(path)))}
            if isinstance(record, dict) and is_digest(record.get("kept"))
            else record
            for path, record in outputs.items()
        }
    models = doc.get("models")
    if not isinstance(models, dict) or not models:
        return
    manifest: dict[str, Any] = {}
    raw = server.download(mlflow_id, artifact_uri, ARTIFACT_MODELS)
    with contextlib.suppress(ValueError, TypeError):
        manifest = dict(json.loads(raw)) if raw is not None else {}
    restored: dict[str, Any] = {}
    for name, record in models.items():
        if isinstance(record, dict) and is_digest(record.get("blob")) and not record.get("skipped"):
            entry = manifest.get(name)
            path = entry.get("file") if isinstance(entry, dict) else None
            blob = fetch(path) if _inside_models(path) else None
            if blob is None:
                record = {**record, "blob": None, "skipped": "its file is not on the MLflow server"}
            else:
                record = {**record, "blob": blob}
                if isinstance(entry, dict) and entry.get("mlflow"):
                    record["mlflow_uri"] = f"runs:/{mlflow_id}/{entry['mlflow']}"
        restored[name] = record
    doc["models"] = restored


def _inside_models(path: Any) -> TypeGuard[str]:
    """A manifest's file path names a file under ``models/`` (the manifest comes from the server: never trusted
    to name anything else)."""
    if not isinstance(path, str):
        return False
    parts = path.split("/")
    return len(parts) >= 3 and parts[0] == MODELS_DIR and all(p not in ("", ".", "..") for p in parts)


def native_models(server: Server, store: Any, run: Any) -> dict[str, dict[str, Any]]:
    """The MLflow models of a run made with MLflow, each as an nbtrack model record: MLflow 3's logged models
    the run produced (``run.outputs``), and the model folders MLflow 2 logged among the run's artifacts (its
    ``mlflow.log-model.history`` tag lists them). A run with neither costs no request."""
    found: dict[str, dict[str, Any]] = {}
    mlflow_id, artifact_uri = run.info.run_id, run.info.artifact_uri
    outputs = getattr(getattr(run, "outputs", None), "model_outputs", None) or []
    with tempfile.TemporaryDirectory(prefix="nbtrack-pull-model-") as tmp:
        for n, output in enumerate(outputs):
            model_id = str(output.model_id)
            got = server.logged_model_dir(model_id, Path(tmp) / f"logged-{n}")
            if got is not None and (got[1] / "MLmodel").is_file():
                _add(found, got[0], got[1], f"models:/{model_id}", store)
        for n, path in enumerate(_history_paths(run.data.tags.get(MLFLOW_MODEL_HISTORY))):
            folder = server.download_dir(mlflow_id, artifact_uri, path, Path(tmp) / f"run-{n}")
            if folder is not None and (folder / "MLmodel").is_file():
                _add(found, path, folder, f"runs:/{mlflow_id}/{path}", store)
    return found


def _history_paths(text: str | None) -> list[str]:
    """The artifact paths an ``mlflow.log-model.history`` tag lists (MLflow 2's log_model), once each."""
    if not text:
        return []
    try:
        entries = json.loads(text)
    except ValueError:
        return []
    paths = [e.get("artifact_path") for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    return [p for p in dict.fromkeys(paths) if isinstance(p, str) and p and ".." not in p.split("/")]


def _add(found: dict[str, dict[str, Any]], name: str, folder: Path, uri: str, store: Any) -> None:
    try:
        record = native_record(folder, uri, store)
    except Exception as exc:  # an MLmodel this MLflow cannot read: listed, not kept
        record = {"mlflow_uri": uri, "skipped": f"its MLmodel could not be read ({short_error(exc, 200)})"}
    key, n = name, 2
    while key in found:
        key, n = f"{name}-{n}", n + 1
    found[key] = record
