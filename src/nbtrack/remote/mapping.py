"""How an nbtrack run record maps onto an MLflow run, and back. Pure functions: no MLflow import here.

Push side: :func:`build_payload` turns a run record into what MLflow stores (string params and tags,
metric points with millisecond timestamps, artifacts as bytes, dataset inputs as plain dicts), and
:mod:`nbtrack.remote.batches` packs params, tags and metric points into ``log_batch`` requests;
:mod:`nbtrack.remote.datasets` maps data fingerprints onto dataset inputs.

Pull side: :func:`parse_param` restores a param's Python type from its text, :func:`derived_run_id`
gives an MLflow-native run a stable nbtrack id, and the status/time helpers convert back.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from nbtrack import ids, values
from nbtrack.remote.contents import ModelPart, contents_size, file_parts, model_parts
from nbtrack.remote.datasets import data_tag_text, dataset_record
from nbtrack.run import effective_status
from nbtrack.store.series import load as load_series

# The MLflow tags nbtrack owns.
TAG_RUN_ID = "nbtrack.run_id"  # the nbtrack id: how a pushed run is found again
TAG_PUSHED = "nbtrack.pushed"  # signature of the record once every part of it was pushed
TAG_STATUS = "nbtrack.status"  # nbtrack's own status (MLflow's KILLED covers interrupted and abandoned)
TAG_SOURCE = "nbtrack.source"
TAG_PARENT = "nbtrack.parent"
TAG_ERROR = "nbtrack.error"
TAG_LONG_PARAM = "nbtrack.long_param."  # + param key: artifact holding the full value
TAG_LONG_TAG = "nbtrack.long_tag."  # + tag key: artifact holding the full value
TAG_DATA = "nbtrack.data."  # + data name: fingerprint, where the server has no dataset inputs
TAG_RENAMED = "nbtrack.renamed"  # JSON {mlflow key: original name} for names MLflow does not accept

ARTIFACT_RECORD = "nbtrack/run.json"
ARTIFACT_CODE = "nbtrack/code.py"
ARTIFACT_HISTORY = "nbtrack/history.py"
ARTIFACT_HISTORY_JSON = "nbtrack/history.json"
ARTIFACT_NOTEBOOK = "nbtrack/notebook.ipynb"
ARTIFACT_REQUIREMENTS = "nbtrack/requirements.txt"

# MLflow's limits (mlflow.utils.validation), for servers of 2.10 and later.
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_BATCH_BYTES = 900_000  # MLflow rejects log_batch requests over 1 MB; keep a margin for JSON framing

STATUS_TO_MLFLOW = {
    "finished": "FINISHED",
    "failed": "FAILED",
    "interrupted": "KILLED",
    "abandoned": "KILLED",
    "running": "RUNNING",
}
MLFLOW_TO_STATUS = {
    "FINISHED": "finished",
    "FAILED": "failed",
    "KILLED": "interrupted",
    "RUNNING": "running",
    "SCHEDULED": "running",
}

_BAD_KEY_CHARS = re.compile(r"[^\w\-. :/]")
_SAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def digest(obj: Any) -> str:
    """Short content hash of a JSON-able value (for push-state bookkeeping)."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()


def record_signature(doc: dict[str, Any]) -> str:
    """What a push must match: the record as stored (minus pull bookkeeping) and its effective status."""
    body = {k: v for k, v in doc.items() if k != "origin"}
    return digest([body, effective_status(doc)])


# names and values ---------------------------------------------------------------------------------


def mlflow_key(name: str) -> str:
    """A param/metric/tag name MLflow accepts: letters, digits, ``_ - . space : /``, not path-like."""
    key = _BAD_KEY_CHARS.sub("_", name)[:MAX_KEY_LENGTH] or "_"
    norm = posixpath.normpath(key)
    if norm != key or norm == "." or norm.startswith("..") or norm.startswith("/"):
        key = key.replace("/", "_")
        if key in (".", "..") or key.startswith(".."):
            key = "_" + key[: MAX_KEY_LENGTH - 1]
    return key


def _unique_keys(names: list[str], taken: set[str] | None = None) -> dict[str, str]:
    """original name -> MLflow key, distinct within the group."""
    used = set(taken or ())
    result: dict[str, str] = {}
    for name in names:
        key = mlflow_key(name)
        if key in used:
            base, n = key[: MAX_KEY_LENGTH - 6], 2
            while f"{base}_{n}" in used:
                n += 1
            key = f"{base}_{n}"
        used.add(key)
        result[name] = key
    return result


def value_text(value: Any) -> str:
    """The ``str()`` form MLflow stores for a param or tag value."""
    if isinstance(value, str):
        return str(value)
    try:
        text = str(value)
    except Exception:
        return values.safe_repr(value)
    return text if isinstance(text, str) else values.safe_repr(value)


def safe_file_name(name: str) -> str:
    stem = _SAFE_FILE_CHARS.sub("_", name)[:80].strip(".") or "value"
    return f"{stem}-{hashlib.blake2b(name.encode('utf-8', 'surrogatepass'), digest_size=4).hexdigest()}.txt"


def parse_param(text: str) -> Any:
    """A param's Python value from MLflow's text: Python literals come back typed, anything else as text."""
    from nbtrack.capture.params import is_plain_literal

    if text in ("nan", "inf", "-inf"):
        return float(text)
    if not text or len(text) > 100_000 or text != text.strip():
        return text
    return values.literal_or_text(text, is_plain_literal)


def metric_value(value: Any) -> float:
    """A series value (a float, or 'nan'/'inf'/'-inf' as nbtrack stores non-finite values) as a float."""
    return float(value)


def series_value(value: float) -> Any:
    """The other way, for pulled points: MLflow's SQL stores keep +-inf as +-max float."""
    if math.isnan(value):
        return "nan"
    if value >= sys.float_info.max:
        return "inf"
    if value <= -sys.float_info.max:
        return "-inf"
    return value


def final_value(value: float) -> float:
    if value >= sys.float_info.max:
        return math.inf
    if value <= -sys.float_info.max:
        return -math.inf
    return value


def to_ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def derived_run_id(mlflow_run_id: str, start_ms: int | None) -> str:
    """A stable nbtrack id for an MLflow-native run: its start time, then a hash of its MLflow id."""
    ms = max(0, int(start_ms or 0)) % (1 << 48)
    rand = int.from_bytes(hashlib.blake2b(mlflow_run_id.encode(), digest_size=10).digest(), "big")
    return ids.run_id_from(ms, rand)


# the payload of one run ---------------------------------------------------------------------------


@dataclass
class Payload:
    """Everything one run sends to MLflow."""

    run_id: str
    experiment: str
    name: str | None
    status: str  # nbtrack's effective status
    mlflow_status: str
    start_ms: int
    end_ms: int | None
    signature: str
    params: list[tuple[str, str]] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)  # key, value, time ms, step
    artifacts: dict[str, bytes] = field(default_factory=dict)
    datasets: list[dict[str, Any]] = field(default_factory=list)
    data_tags: list[tuple[str, str]] = field(default_factory=list)  # for servers without dataset inputs
    notes: list[str] = field(default_factory=list)
    # models, artifacts and kept outputs (see nbtrack.remote.contents): their bytes are read when they are sent
    models: list[ModelPart] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # artifact path -> blob digest
    models_trusted: bool = True  # the models come from a store the user wrote: loading them may run their code
    contents_bytes: int = 0
    store: Any = field(default=None, repr=False, compare=False)  # where the blobs of models and files are read

    @property
    def metric_points(self) -> int:
        return len(self.metrics)

    def estimated_bytes(self) -> int:
        size = sum(len(v) for v in self.artifacts.values())
        size += sum(len(k) + len(v) + 30 for k, v in self.params + self.tags)
        size += sum(len(m[0]) + 70 for m in self.metrics)
        size += sum(len(json.dumps(d)) for d in self.datasets)
        return size + self.contents_bytes


def build_payload(doc: dict[str, Any], store: Any) -> Payload:
    """The MLflow form of one run record; blobs (series, history, snapshot, packages) are read from ``store``."""
    status = effective_status(doc)
    start_ms = to_ms(doc.get("start_time")) or 0
    end_ms = to_ms(doc.get("end_time"))
    payload = Payload(
        run_id=doc["id"],
        experiment=str(doc.get("experiment") or "default"),
        name=doc.get("name"),
        status=status,
        mlflow_status=STATUS_TO_MLFLOW.get(status, "FINISHED"),
        start_ms=start_ms,
        end_ms=end_ms,
        signature=record_signature(doc),
        store=store,
    )
    # Secrets are redacted when captured; again here for records stored before that (or with NBTRACK_REDACT=off
    # at capture time): what leaves the machine never carries a secret-looking param, token or %env value.
    from nbtrack.redact import for_store

    redactor = for_store(store.root)
    doc = redactor.doc(doc)
    renamed: dict[str, str] = {}

    # params: str() form; too long for MLflow -> a prefix, the full text as an artifact, a tag pointing to it
    params = values.decode(doc.get("params") or {})
    keys = _unique_keys(list(params))
    long_tags: list[tuple[str, str]] = []
    for name, value in params.items():
        key = keys[name]
        if key != name:
            renamed[key] = name
        text = value_text(value)
        if len(text) > MAX_PARAM_VALUE_LENGTH:
            path = f"nbtrack/params/{safe_file_name(name)}"
            payload.artifacts[path] = text.encode("utf-8", "surrogatepass")
            note = f" ... [{len(text):,} characters; full value in artifact {path}]"
            text = text[: MAX_PARAM_VALUE_LENGTH - len(note)] + note
            long_tags.append((mlflow_key(TAG_LONG_PARAM + key), path))
        payload.params.append((key, text))

    # metrics: every point of the series; a final value without a series is one point at step 0
    series: dict[str, Any] = {}
    if doc.get("series"):
        try:
            series = load_series(store, doc["series"])
        except (OSError, ValueError) as exc:
            payload.notes.append(f"metric series not readable ({exc}); final values only")
    metric_names = list(dict.fromkeys([*series, *(doc.get("metrics") or {})]))
    metric_keys = _unique_keys(metric_names)
    fallback_ms = end_ms or start_ms
    final = values.decode(doc.get("metrics") or {})
    for name in metric_names:
        key = metric_keys[name]
        if key != name:
            renamed[key] = name
        points = series.get(name)
        if points and points.get("step"):
            for step, value, t in zip(points["step"], points["value"], points["time"], strict=False):
                payload.metrics.append((key, metric_value(value), to_ms(t) or fallback_ms, int(step)))
        elif name in final:
            payload.metrics.append((key, float(final[name]), fallback_ms, 0))

    # tags: the user's, then nbtrack's own
    tags = values.decode(doc.get("tags") or {})
    system = _system_tags(doc, status)
    tag_keys = _unique_keys(list(tags), taken=set(system))
    for name, value in tags.items():
        key = tag_keys[name]
        if key != name:
            renamed[key] = name
        text = value_text(value)
        if len(text) > MAX_TAG_VALUE_LENGTH:
            path = f"nbtrack/tags/{safe_file_name(name)}"
            payload.artifacts[path] = text.encode("utf-8", "surrogatepass")
            note = f" ... [{len(text):,} characters; full value in artifact {path}]"
            text = text[: MAX_TAG_VALUE_LENGTH - len(note)] + note
            long_tags.append((mlflow_key(TAG_LONG_TAG + key), path))
        payload.tags.append((key, text))
    payload.tags.extend(system.items())
    payload.tags.extend(long_tags)
    if renamed:
        text = json.dumps(renamed, ensure_ascii=False, sort_keys=True)
        if len(text) <= MAX_TAG_VALUE_LENGTH:
            payload.tags.append((TAG_RENAMED, text))
        else:
            payload.notes.append(f"{len(renamed)} names were changed for MLflow; originals in {ARTIFACT_RECORD}")

    # data fingerprints: dataset inputs (digest, schema, profile), or tags where the server lacks them
    from nbtrack.run import inflate_data

    for name, record in inflate_data(store, doc.get("data") or {}).items():
        if not isinstance(record, dict) or not record.get("hash"):
            continue
        payload.datasets.append(dataset_record(name, record))
        payload.data_tags.append((mlflow_key(TAG_DATA + name), data_tag_text(record)))

    # models, artifacts, kept outputs: where each goes (nbtrack.remote.contents); the bytes stay in the store
    payload.models = model_parts(doc.get("models"))
    payload.files = file_parts(doc)
    payload.contents_bytes = contents_size(doc)
    if payload.models:
        from nbtrack.capture.model_loading import foreign_reason
        from nbtrack.run import Run

        payload.models_trusted = foreign_reason(Run.from_doc(doc, store), store) is None

    # artifacts: the record itself, code, history, notebook snapshot, requirements
    payload.artifacts[ARTIFACT_RECORD] = json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=1).encode(
        "utf-8", "surrogatepass"
    )
    from nbtrack.run import doc_code

    code = doc_code(store, doc)
    if code:
        payload.artifacts[ARTIFACT_CODE] = redactor.code(str(code)).encode("utf-8", "surrogatepass")
    if doc.get("history"):
        try:
            from nbtrack.capture.notebook import load_history

            history = [redactor.code(source) for source in load_history(store, doc["history"])]
        except (OSError, ValueError) as exc:
            payload.notes.append(f"execution history not readable ({exc})")
        else:
            payload.artifacts[ARTIFACT_HISTORY_JSON] = json.dumps(history, ensure_ascii=False).encode(
                "utf-8", "surrogatepass"
            )
            payload.artifacts[ARTIFACT_HISTORY] = history_text(history).encode("utf-8", "surrogatepass")
    snapshot = doc.get("snapshot")
    if isinstance(snapshot, dict) and snapshot.get("blob"):
        try:
            payload.artifacts[ARTIFACT_NOTEBOOK] = redactor.notebook(store.get_blob(snapshot["blob"]))
        except (OSError, ValueError) as exc:
            payload.notes.append(f"notebook snapshot not readable ({exc})")
    env = doc.get("env") or {}
    if isinstance(env.get("packages"), str):
        try:
            packages = store.get_json(env["packages"])
        except (OSError, ValueError) as exc:
            payload.notes.append(f"package list not readable ({exc})")
        else:
            payload.artifacts[ARTIFACT_REQUIREMENTS] = requirements_text(env, packages).encode("utf-8")
    return payload


def _system_tags(doc: dict[str, Any], status: str) -> dict[str, str]:
    tags = {TAG_STATUS: status, TAG_SOURCE: str(doc.get("source") or "")}
    if doc.get("parent"):
        tags[TAG_PARENT] = str(doc["parent"])
    error = doc.get("error")
    if isinstance(error, dict):
        tags[TAG_ERROR] = f"{error.get('type')}: {error.get('message')}"[:1000]
    snapshot = doc.get("snapshot")
    if isinstance(snapshot, dict) and snapshot.get("path"):
        tags["mlflow.source.name"] = str(snapshot["path"])[:MAX_TAG_VALUE_LENGTH]
        tags["mlflow.source.type"] = "NOTEBOOK"
    elif doc.get("code_location"):
        tags["mlflow.source.name"] = str(doc["code_location"])[:MAX_TAG_VALUE_LENGTH]
        tags["mlflow.source.type"] = "LOCAL"
    git = (doc.get("env") or {}).get("git")
    if isinstance(git, dict) and git.get("commit"):
        tags["mlflow.source.git.commit"] = str(git["commit"])
    return tags


def history_text(history: list[str]) -> str:
    parts = [f"# In[{n}]:\n{source}\n" for n, source in enumerate(history, 1)]
    return "\n".join(parts)


def requirements_text(env: dict[str, Any], packages: dict[str, str]) -> str:
    header = f"# packages the run ran with (Python {env.get('python', '?')}, {env.get('platform', '?')})"
    return "\n".join([header, *(f"{name}=={version}" for name, version in packages.items())]) + "\n"


def parse_requirements(text: str) -> dict[str, str]:
    packages: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith("#"):
            packages[name.strip()] = version.strip()
    return packages
