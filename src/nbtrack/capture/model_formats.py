"""How a model becomes bytes and back: the framework's own format where there is one, pickle only as the fallback.

======================  ==========================================================  ==========================
framework               format (the record's ``"format"``)                          loading runs user code?
======================  ==========================================================  ==========================
scikit-learn            ``skops`` (``skops.io``, when skops is installed)           only types the user trusts
XGBoost                 ``xgboost-ubj`` (``save_raw("ubj")``; wrappers keep class)  no
LightGBM                ``lightgbm`` (``model_to_string`` + the wrapper's state)     no
Keras                   ``keras`` (``model.save`` to a ``.keras`` zip)              not with ``safe_mode``
PyTorch, Lightning      ``torch-state-dict`` (``torch.save(state_dict)``)           no (``weights_only=True``)
anything else           ``pickle`` (cloudpickle for lambdas and local classes)      yes: ``"pickle": true``
======================  ==========================================================  ==========================

:func:`dump` never raises for a model pickle can save: when the framework's format fails it falls back to
pickle and says why in :attr:`Dumped.note`. :func:`load` is told whether the bytes may run code
(``trusted``); :mod:`nbtrack.capture.model_loading` decides that (the trust rule).

Frameworks are imported only here, inside the functions that save or load their models, and only when the
user already imported them (to save) or asks for such a model (to load).
"""

from __future__ import annotations

import importlib
import io
import json
import pickle
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbtrack.errors import NbtrackError, UnpicklableModelError, UntrustedModelError

PICKLE_FORMATS = frozenset({"pickle"})


@dataclass
class Dumped:
    """A model's bytes and how to read them back."""

    data: bytes
    format: str
    pickle: bool = False
    note: str | None = None  # why the framework's own format was not used


def qualified_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def dump(obj: Any, framework: str | None) -> Dumped:
    """The model's bytes in its framework's format, else pickled; :class:`UnpicklableModelError` if neither works."""
    note = None
    dumper = _DUMPERS.get(framework or "")
    if dumper is not None:
        try:
            result = dumper(obj)
        except Exception as exc:
            note = f"{framework} format failed ({type(exc).__name__}: {str(exc)[:200]}); pickled instead"
        else:
            if result is not None:
                return result
    data = dump_pickle(obj)
    return Dumped(data, "pickle", pickle=True, note=note)


def dump_pickle(obj: Any) -> bytes:
    """cloudpickle when installed (it saves lambdas and classes defined in a notebook by value, so they load in
    another process), else pickle."""
    try:
        import cloudpickle
    except ImportError:
        cloudpickle = None
    try:
        if cloudpickle is not None:
            data: bytes = cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
            return data
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise UnpicklableModelError(f"it cannot be pickled ({type(exc).__name__}: {exc})") from exc


# saving, per framework ----------------------------------------------------------------------------


def _dump_sklearn(obj: Any) -> Dumped | None:
    try:
        import skops.io as sio
    except ImportError:
        return None  # skops is optional (`pip install nbtrack[models]`): pickle it
    data = sio.dumps(obj)
    if _names_code_elsewhere(data):
        raise TypeError("it holds functions or classes defined in a notebook or a function, which skops cannot load")
    return Dumped(data, "skops")


def _names_code_elsewhere(data: bytes) -> bool:
    """Whether a skops file names a type or function skops could not find again when loading (a lambda, a class
    defined inside a function, anything of ``__main__``, i.e. of a notebook): skops saves them by name;
    cloudpickle saves them by value."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    pending = [schema]
    seen: set[tuple[str, str]] = set()
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        pending.extend(v for v in node.values() if isinstance(v, (dict, list)))
        module, name = node.get("__module__"), node.get("__class__")
        if isinstance(module, str) and isinstance(name, str) and (module, name) not in seen:
            seen.add((module, name))
            loaded = sys.modules.get(module)
            if module == "__main__" or loaded is None or not hasattr(loaded, name):
                return True
    return False


def _dump_xgboost(obj: Any) -> Dumped:
    booster = obj.get_booster() if hasattr(obj, "get_booster") else obj
    return Dumped(bytes(booster.save_raw("ubj")), "xgboost-ubj")


def _dump_lightgbm(obj: Any) -> Dumped:
    booster: Any = obj.booster_ if hasattr(obj, "fitted_") else obj  # booster_ raises when not fitted
    envelope: dict[str, Any] = {"booster": booster.model_to_string()}
    if booster is not obj:  # a scikit-learn wrapper: what it needs besides the booster to predict as it did
        state = {k: v for k, v in vars(obj).items() if k not in ("_Booster", "_le", "_class_map", "_classes")}
        envelope["state"] = state
        classes = getattr(obj, "_classes", None)
        if classes is not None:
            envelope["classes"] = {"values": classes.tolist(), "dtype": classes.dtype.str}
    return Dumped(json.dumps(envelope, default=_json_scalar, allow_nan=True).encode(), "lightgbm")


def _json_scalar(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        return item()
    raise TypeError(f"{type(value).__name__} is not a plain value")


def _dump_keras(obj: Any) -> Dumped:
    with tempfile.TemporaryDirectory(prefix="nbtrack-keras-") as folder:
        path = Path(folder) / "model.keras"
        obj.save(path)
        return Dumped(path.read_bytes(), "keras")


def _dump_torch(obj: Any) -> Dumped:
    import torch

    buffer = io.BytesIO()
    torch.save(obj.state_dict(), buffer)
    return Dumped(buffer.getvalue(), "torch-state-dict")


_DUMPERS = {
    "sklearn": _dump_sklearn,
    "xgboost": _dump_xgboost,
    "lightgbm": _dump_lightgbm,
    "keras": _dump_keras,
    "torch": _dump_torch,
    "lightning": _dump_torch,
}


# loading ------------------------------------------------------------------------------------------


def untrusted_types(data: bytes, format: str) -> list[str]:
    """The types loading would build that the format does not trust by itself (pickle: everything)."""
    if format in PICKLE_FORMATS:
        return ["pickle"]
    if format == "skops":
        import skops.io as sio

        return [str(t) for t in sio.get_untrusted_types(data=data)]
    return []


def load(data: bytes, record: dict[str, Any], *, trusted: bool, into: Any = None) -> Any:
    """The model the bytes hold. ``trusted``: the bytes may build any type and run code (pickle, skops types
    outside skops' default list, Keras without ``safe_mode``); otherwise :class:`UntrustedModelError`."""
    fmt = record.get("format")
    if fmt in PICKLE_FORMATS:
        if not trusted:
            raise UntrustedModelError("this model is a pickle; loading it runs code it contains")
        return pickle.loads(data)  # trusted: see the trust rule in nbtrack.capture.model_loading
    if fmt == "skops":
        import skops.io as sio

        unknown = sio.get_untrusted_types(data=data)
        if unknown and not trusted:
            shown = ", ".join(map(str, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
            raise UntrustedModelError(f"this skops file builds types skops does not trust by default ({shown})")
        return sio.loads(data, trusted=unknown)
    if fmt == "xgboost-ubj":
        return _load_xgboost(data, str(record.get("class") or ""))
    if fmt == "lightgbm":
        return _load_lightgbm(data, str(record.get("class") or ""))
    if fmt == "keras":
        return _load_keras(data, safe=not trusted)
    if fmt == "torch-state-dict":
        return _load_torch(data, into)
    raise NbtrackError(f"nbtrack cannot load models saved as {fmt!r}; a newer nbtrack may")


def _framework_class(qualified: str, package: str, base: Any) -> Any:
    """The class a record names, only if it comes from ``package`` and derives from ``base`` (never imports
    anything a record names otherwise)."""
    module, _, name = qualified.rpartition(".")
    if module.split(".", 1)[0] != package:
        return None
    cls = getattr(importlib.import_module(module), name, None)
    return cls if isinstance(cls, type) and issubclass(cls, base) else None


def _load_xgboost(data: bytes, qualified: str) -> Any:
    import xgboost

    cls = _framework_class(qualified, "xgboost", xgboost.XGBModel)
    if cls is None:
        booster = xgboost.Booster()
        booster.load_model(bytearray(data))
        return booster
    model = cls()
    model.load_model(bytearray(data))
    return model


def _load_lightgbm(data: bytes, qualified: str) -> Any:
    import lightgbm
    import numpy as np

    envelope = json.loads(data)
    booster = lightgbm.Booster(model_str=envelope["booster"])
    cls = _framework_class(qualified, "lightgbm", lightgbm.LGBMModel)
    if cls is None or "state" not in envelope:
        return booster
    model = cls.__new__(cls)
    vars(model).update(envelope["state"])
    model._Booster = booster
    classes = envelope.get("classes")
    if classes is not None:
        from sklearn.preprocessing import LabelEncoder

        values = np.asarray(classes["values"], dtype=np.dtype(classes["dtype"]))
        encoder = LabelEncoder()
        encoder.classes_ = values
        model._le = encoder
        model._classes = values
        model._class_map = dict(zip(values, encoder.transform(values), strict=True))
    return model


def _load_keras(data: bytes, *, safe: bool) -> Any:
    import keras

    with tempfile.TemporaryDirectory(prefix="nbtrack-keras-") as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(data)
        return keras.models.load_model(path, safe_mode=safe)


def _load_torch(data: bytes, into: Any) -> Any:
    import torch

    state = torch.load(io.BytesIO(data), weights_only=True)
    if into is None:
        return state  # the state dict: pass `into=` a module of the model's class to get the model
    into.load_state_dict(state)
    return into
