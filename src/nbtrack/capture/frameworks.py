"""Which objects are models, and of which framework, by duck typing: no framework is imported here.

A model is recognised by the module its class (or a base class) comes from and by the methods it has,
so scikit-learn, XGBoost, LightGBM, Keras and PyTorch stay optional and are never imported because
nbtrack looked at an object. :func:`models_in_cell` finds the models a tracked cell assigned or fitted.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from nbtrack.capture.params import nodes_of

FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "keras", "torch", "lightning")
_MODULE_FRAMEWORK = {
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "keras": "keras",
    "tf_keras": "keras",
    "tensorflow": "keras",
    "lightning": "lightning",
    "pytorch_lightning": "lightning",
    "torch": "torch",
    "sklearn": "sklearn",
}
_FIT_METHODS = frozenset({"fit", "fit_transform", "fit_predict", "partial_fit", "train", "compile"})


def _root(module: str | None) -> str:
    return (module or "").split(".", 1)[0]


def framework_of(obj: Any) -> str | None:
    """``"sklearn"``, ``"xgboost"``, ... for a model object, else None (classes and modules are not models)."""
    if isinstance(obj, type) or obj is None or isinstance(obj, (str, bytes, int, float, bool, list, dict, tuple)):
        return None
    cls = type(obj)
    # the class's own package first: an XGBClassifier is an sklearn estimator too, but saved the XGBoost way
    for klass in cls.__mro__:
        framework = _MODULE_FRAMEWORK.get(_root(getattr(klass, "__module__", None)))
        if framework == "torch" and not (hasattr(obj, "state_dict") and hasattr(obj, "parameters")):
            continue  # a tensor or an optimizer is not a model
        if framework == "keras" and not (hasattr(obj, "fit") and hasattr(obj, "get_config")):
            continue
        if framework == "sklearn" and not (hasattr(obj, "get_params") and hasattr(obj, "fit")):
            continue
        if framework is not None:
            return framework
    if callable(getattr(obj, "get_params", None)) and callable(getattr(obj, "fit", None)):
        return "sklearn"  # scikit-learn's estimator API, from another package
    return None


def framework_version(framework: str) -> str | None:
    """The installed version of a framework the user already imported (never imports it)."""
    import sys

    module = {"sklearn": "sklearn", "keras": "keras", "lightning": "lightning"}.get(framework, framework)
    mod = sys.modules.get(module)
    if mod is None and framework == "lightning":
        mod = sys.modules.get("pytorch_lightning")
    version = getattr(mod, "__version__", None)
    return str(version) if version is not None else None


def is_fitted(obj: Any) -> bool:
    """Whether a model has learned something (scikit-learn's convention: attributes ending in ``_``)."""
    framework = framework_of(obj)
    if framework in ("sklearn", "xgboost", "lightgbm"):
        check = getattr(obj, "__sklearn_is_fitted__", None)  # a Pipeline holds no fitted attributes itself
        if callable(check):
            try:
                return bool(check())
            except Exception:
                pass
        try:
            attributes = vars(obj)
        except TypeError:
            return True
        if any(k.endswith("_") and not k.startswith("__") for k in attributes):
            return True
        booster = attributes.get("_Booster") or attributes.get("_booster")
        return booster is not None or type(obj).__name__ == "Booster"
    return framework is not None


def cell_model_names(tree: ast.Module | None) -> list[str]:
    """Names a cell binds at top level or calls a fitting method on (``clf.fit(...)``), in order of appearance."""
    if tree is None:
        return []
    names: dict[str, None] = {}
    for node in nodes_of(tree):  # the cell's one walk, shared with its params
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names[node.id] = None
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _FIT_METHODS:
            receiver = node.func.value
            while isinstance(receiver, ast.Attribute):
                receiver = receiver.value
            if isinstance(receiver, ast.Name):
                names[receiver.id] = None
    return [n for n in names if not n.startswith("_")]


def models_in_cell(tree: ast.Module | None, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The models a cell assigned or fitted, by name, as the namespace holds them after the cell ran."""
    found: dict[str, Any] = {}
    seen: set[int] = set()
    for name in cell_model_names(tree):
        obj = namespace.get(name)
        if obj is None or id(obj) in seen or framework_of(obj) is None:
            continue
        seen.add(id(obj))
        found[name] = obj
    return found
