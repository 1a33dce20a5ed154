"""The parameters models hold themselves, for the models a tracked cell assigned or fitted; by duck typing.

No framework is imported here: an object is read through the methods it has (``get_params``, ``param_groups``,
``get_config``...), after :func:`nbtrack.capture.frameworks.framework_of` placed it by its class's module.

Names, all prefixed by the variable that holds the model so they never collide with the cell's inline params
(the inline ``C=0.5`` and the framework's ``clf.C`` both exist):

- ``clf``: the model's class name (so runs of different estimators fall into different groups);
- scikit-learn and the scikit-learn APIs of XGBoost and LightGBM: ``clf.<name>`` for each of
  ``get_params(deep=True)``, nested estimators and pipeline steps as scikit-learn spells them
  (``pipe.logisticregression__C``, ``pipe.steps``); values made loggable (an estimator becomes its class name,
  a function or class its qualified name, another object its short repr or its class name);
- native XGBoost / LightGBM boosters: ``booster.<key>`` of ``attributes()`` / ``params``;
- Keras: ``model.optimizer`` (class), ``model.optimizer.<key>`` (``get_config()``), ``model.epochs`` and
  ``model.batch_size`` (the cell's ``model.fit(...)`` call, else the History's ``params``);
- PyTorch: an optimizer the cell binds gives ``opt`` (class) and ``opt.<key>`` of its ``param_groups`` (lr,
  momentum, weight_decay, betas...; ``opt.<i>.<key>`` for groups after the first); a Lightning module gives
  ``model.<key>`` of its ``hparams``.

Source: ``framework`` when the value differs from the constructor's default (or the parameter has none, like a
pipeline's ``steps``), ``framework-default`` when it is the default; a parameter a class takes through
``**kwargs`` (XGBoost's) is at its default when it is None. The comparison's default group key leaves out
``framework-default`` params and framework params that repeat an inline one (:mod:`nbtrack.analysis.keys`).

Metrics: ``clf.best_iteration`` (XGBoost, LightGBM, with early stopping), evaluation results as series
``clf.<data set>.<metric>`` by iteration (``evals_result()``, ``evals_result_``), and a Keras ``History``
(the model's, or one the cell binds) as series ``<name>.<metric>`` by epoch. A metric the cell logged itself
is never overwritten.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
from collections.abc import Mapping
from typing import Any

from nbtrack.capture.frameworks import cell_model_names, framework_of
from nbtrack.capture.hyperparams import CellParams, log_discovered
from nbtrack.capture.params import is_plain_literal, nodes_of, static_value

MAX_PARAMS = 2000  # framework params one cell records at most
_NO_DEFAULT = object()
_defaults_cache: dict[type, dict[str, Any] | None] = {}
_instance_cache: dict[type, dict[str, Any]] = {}


def _qualified(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    module = getattr(obj, "__module__", None)
    return f"{module}.{name}" if module and module != "builtins" else str(name)


def loggable(value: Any, depth: int = 0) -> Any:
    """A parameter value as a param can hold it, stable across runs (no memory addresses)."""
    if is_plain_literal(value) and not isinstance(value, (list, tuple, dict)):
        return value
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        try:
            item = value.item()
        except Exception:
            item = None
        if is_plain_literal(item):
            return item
    if depth < 4 and isinstance(value, (list, tuple)) and len(value) <= 100:
        return type(value)(loggable(v, depth + 1) for v in value) if type(value) in (list, tuple) else list(value)
    if depth < 4 and isinstance(value, dict) and len(value) <= 100:
        return {str(k): loggable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, type) or inspect.isroutine(value):
        return _qualified(value)
    if callable(getattr(value, "get_params", None)):
        return type(value).__name__
    try:
        text = repr(value)
    except Exception:
        text = ""
    if text and len(text) <= 200 and " at 0x" not in text:
        return text
    return type(value).__name__


def _defaults(cls: type) -> dict[str, Any] | None:
    """A class's constructor parameters and their defaults (``_NO_DEFAULT`` when required); None if unknown."""
    if cls in _defaults_cache:
        return _defaults_cache[cls]
    try:
        parameters = inspect.signature(cls).parameters.values()
        found: dict[str, Any] | None = {
            p.name: (_NO_DEFAULT if p.default is p.empty else p.default)
            for p in parameters
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
    except (TypeError, ValueError, RecursionError):
        found = None
    _defaults_cache[cls] = found
    return found


def is_default(owner: Any, name: str, value: Any) -> bool:
    """Whether ``owner``'s parameter ``name`` holds its constructor default."""
    defaults = _defaults(type(owner))
    if defaults is None:
        return False
    if name not in defaults:  # taken through **kwargs (XGBoost): None means "the library's default"
        return value is None or _same(value, _instance_defaults(type(owner)).get(name, _NO_DEFAULT))
    return _same(value, defaults[name])


def _same(value: Any, default: Any) -> bool:
    if default is _NO_DEFAULT:
        return False
    if value is default:
        return True
    if type(value) is not type(default):
        return False
    if isinstance(value, float) and value != value and default != default:
        return True  # NaN, XGBoost's default ``missing``
    try:
        return bool(value == default)
    except Exception:  # arrays and other objects without a plain ==
        return False


def _instance_defaults(cls: type) -> dict[str, Any]:
    """``get_params()`` of an estimator built with no arguments (scikit-learn's convention that defaults are
    what a bare constructor gives), for parameters its signature does not list; empty when it cannot be built."""
    if cls not in _instance_cache:
        try:
            _instance_cache[cls] = dict(cls().get_params(deep=False))
        except Exception:
            _instance_cache[cls] = {}
    return _instance_cache[cls]


def _sklearn_params(name: str, model: Any, found: CellParams) -> None:
    try:
        params = model.get_params(deep=True)
    except Exception:
        return
    for key, value in params.items():
        owner_key, _, attr = key.rpartition("__")
        owner = params.get(owner_key, model) if owner_key else model
        source = "framework-default" if is_default(owner, attr, value) else "framework"
        found.add(f"{name}.{key}", loggable(value), source)


def _booster_params(name: str, model: Any, found: CellParams) -> None:
    attributes = getattr(model, "attributes", None)
    raw: Any = getattr(model, "params", None)
    if callable(attributes):
        try:
            raw = attributes()
        except Exception:
            raw = None
    if isinstance(raw, Mapping):
        for key, value in raw.items():
            found.add(f"{name}.{key}", loggable(value), "framework")
    rounds = getattr(model, "num_boosted_rounds", None) or getattr(model, "num_trees", None)
    if callable(rounds):
        with contextlib.suppress(Exception):  # an empty booster has no rounds to count
            found.add(f"{name}.num_boosted_rounds", int(rounds()), "framework")


def _keras_params(name: str, model: Any, tree: ast.Module | None, namespace: Mapping[str, Any]) -> CellParams:
    found = CellParams()
    optimizer = getattr(model, "optimizer", None)
    get_config = getattr(optimizer, "get_config", None)
    if optimizer is not None and callable(get_config):
        found.add(f"{name}.optimizer", type(optimizer).__name__, "framework")
        try:
            config = get_config()
        except Exception:
            config = {}
        for key, value in (config or {}).items():
            if key != "name":
                found.add(f"{name}.optimizer.{key}", loggable(value), "framework")
    for key, value in _fit_arguments(name, tree, namespace).items():
        found.add(f"{name}.{key}", value, "framework")
    history_params = getattr(getattr(model, "history", None), "params", None)
    if isinstance(history_params, Mapping):
        for key in ("epochs", "batch_size", "steps"):
            if key in history_params:
                found.add(f"{name}.{key}", loggable(history_params[key]), "framework")
    return found


_FIT_POSITIONS = {"batch_size": 2, "epochs": 3}  # keras Model.fit(x, y, batch_size, epochs, ...)


def _fit_arguments(name: str, tree: ast.Module | None, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """``epochs`` and ``batch_size`` of the cell's ``name.fit(...)`` calls: literals or names holding numbers."""
    out: dict[str, Any] = {}
    if tree is None:
        return out
    for node in nodes_of(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "fit"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == name
        ):
            continue
        given = {k.arg: k.value for k in node.keywords if k.arg in _FIT_POSITIONS}
        starred = any(isinstance(a, ast.Starred) for a in node.args)
        for key, position in _FIT_POSITIONS.items():
            if key not in given and len(node.args) > position and not starred:
                given[key] = node.args[position]
        for key, value_node in given.items():
            ok, value = static_value(value_node)
            if not ok and isinstance(value_node, ast.Name):
                value = namespace.get(value_node.id)
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok:
                out[str(key)] = value
    return out


def _root_module(obj: Any) -> str:
    for klass in type(obj).__mro__:
        root = (getattr(klass, "__module__", None) or "").split(".", 1)[0]
        if root not in ("", "builtins", "__main__"):
            return root
    return ""


def is_torch_optimizer(obj: Any) -> bool:
    return _root_module(obj) == "torch" and isinstance(getattr(obj, "param_groups", None), list)


def is_history(obj: Any) -> bool:
    """A Keras ``History`` callback: ``history`` is a dict of per-epoch lists."""
    return _root_module(obj) in ("keras", "tensorflow", "tf_keras") and isinstance(getattr(obj, "history", None), dict)


def _optimizer_params(name: str, optimizer: Any, found: CellParams) -> None:
    found.add(name, type(optimizer).__name__, "framework")
    for index, group in enumerate(optimizer.param_groups):
        if not isinstance(group, Mapping):
            continue
        prefix = name if index == 0 else f"{name}.{index}"
        for key, value in group.items():
            if key != "params":
                found.add(f"{prefix}.{key}", loggable(value), "framework")


def model_params(
    name: str, model: Any, tree: ast.Module | None = None, namespace: Mapping[str, Any] | None = None
) -> CellParams:
    """The parameters of one model, named after the variable ``name`` that holds it."""
    found = CellParams()
    framework = framework_of(model)
    if framework is None:
        return found
    found.add(name, type(model).__name__, "framework")
    if callable(getattr(model, "get_params", None)):
        _sklearn_params(name, model, found)
    elif framework in ("xgboost", "lightgbm"):
        _booster_params(name, model, found)
    if framework == "keras":
        keras = _keras_params(name, model, tree, namespace or {})
        for key, value in keras.params.items():
            found.add(key, value, keras.sources[key])
    hparams = getattr(model, "hparams", None) if framework == "lightning" else None
    if isinstance(hparams, Mapping):
        for key, value in hparams.items():
            found.add(f"{name}.{key}", loggable(value), "framework")
    return found


def model_series(name: str, model: Any) -> dict[str, list[float]]:
    """Per metric name, its values by step (iteration or epoch): evaluation results and Keras histories."""
    series: dict[str, list[float]] = {}
    evals: Any = None
    method = getattr(model, "evals_result", None)
    if callable(method) and framework_of(model) == "xgboost":
        try:
            evals = method()
        except Exception:  # not evaluated during training
            evals = None
    if evals is None:
        try:
            evals = getattr(model, "evals_result_", None)
        except Exception:  # a property of an unfitted model
            evals = None
    if isinstance(evals, Mapping):
        for data_set, metrics in evals.items():
            if isinstance(metrics, Mapping):
                for metric, points in metrics.items():
                    if isinstance(points, (list, tuple)):
                        series[f"{name}.{data_set}.{metric}"] = list(points)
    history = getattr(model, "history", None) if framework_of(model) == "keras" else None
    if is_history(history):
        series.update(history_series(name, history))
    return series


def history_series(name: str, history: Any) -> dict[str, list[float]]:
    return {f"{name}.{k}": list(v) for k, v in history.history.items() if isinstance(v, (list, tuple))}


def best_iteration(model: Any) -> int | None:
    """The best iteration of a boosted model trained with early stopping (None without it)."""
    if framework_of(model) not in ("xgboost", "lightgbm"):
        return None
    for attr in ("best_iteration_", "best_iteration"):
        try:
            value = getattr(model, attr, None)
        except Exception:  # XGBoost raises when there was no early stopping
            value = None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def record_framework(run: Any, tree: ast.Module | None, namespace: Mapping[str, Any]) -> None:
    """Log the framework params and metrics of the models (and optimizers, histories) a cell assigned or
    fitted into ``run``: never over what the run already has."""
    found = CellParams()
    series: dict[str, list[float]] = {}
    metrics: dict[str, float] = {}
    names = cell_model_names(tree)
    models: dict[str, Any] = {}  # frameworks.models_in_cell, sharing the one walk of cell_model_names
    for name in names:
        obj = namespace.get(name)
        if obj is not None and id(obj) not in {id(m) for m in models.values()} and framework_of(obj) is not None:
            models[name] = obj
    seen = {id(m) for m in models.values()}
    for name, model in models.items():
        params = model_params(name, model, tree, namespace)
        for key, value in params.params.items():
            found.add(key, value, params.sources[key])
        series.update(model_series(name, model))
        best = best_iteration(model)
        if best is not None:
            metrics[f"{name}.best_iteration"] = best
        history = getattr(model, "history", None)
        if history is not None:
            seen.add(id(history))
    for name in names:
        obj = namespace.get(name)
        if obj is None or id(obj) in seen:
            continue
        if is_torch_optimizer(obj):
            seen.add(id(obj))
            _optimizer_params(name, obj, found)
        elif is_history(obj):
            seen.add(id(obj))
            series.update(history_series(name, obj))
    if len(found.params) > MAX_PARAMS:
        kept = list(found.params)[:MAX_PARAMS]
        found = CellParams({k: found.params[k] for k in kept}, {k: found.sources[k] for k in kept})
    log_discovered(run, found)
    for metric, value in metrics.items():
        if metric not in run.record.metrics:
            run.log_metric(metric, value)
    for metric, points in series.items():
        if metric in run.record.metrics:
            continue
        for step, value in enumerate(points):
            run.log_metric(metric, value, step)
