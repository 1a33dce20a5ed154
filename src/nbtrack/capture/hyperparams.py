"""Hyperparameters where ML code writes them, read from a cell's code (never by running it).

A tracked cell's params and their source (``Run.param_sources``):

- ``assigned``: a top-level assignment of a literal, ``lr = 0.1``.
- ``config``: a dict of literals, as a literal or a ``dict(...)`` call, flattened with dots:
  ``config = dict(lr=0.1, depth=3)`` gives ``config.lr`` and ``config.depth``; nested dicts go further
  (``params.opt.beta``). An empty dict, or one with a key that is not a simple name (letters, digits, ``_``,
  ``-``: no dots or spaces), stays one param.
- ``call``: literal arguments of the cell's calls, keyword ones and positional ones the callee's signature
  names (the callee is looked up in the namespace; only ``inspect.signature`` runs).
- ``input``: a name the cell reads whose value an earlier cell assigned as a literal and that still holds it
  (same type, equal value): :class:`LiteralMemory` remembers each executed cell's literal assignments.
- ``explicit``: ``-p``, ``log_param``, ``track(params=)``. An explicit value always wins over a discovered
  one, whichever comes first (a run recorded without the magic has no sources: its params are explicit).
- ``framework`` / ``framework-default``: the parameters a fitted or assigned model holds, see
  :mod:`nbtrack.capture.framework_params`.

**Naming call params.** Each call with literal arguments gets an *owner*: the callee's name when the cell
calls it once (``RandomForestClassifier``, also for ``ensemble.RandomForestClassifier``; ``df.sample`` for a
method of a variable); when the cell calls it more than once, the variable each call is assigned to
(``small = RandomForestClassifier(max_depth=4)`` gives ``small.max_depth``), else ``Callee#2`` for the second
call in code order. The param is ``owner.arg``, plus the short alias ``arg`` when exactly one call of the cell
has an argument of that name and no other param of the cell is called so. So two estimators' ``max_depth``
never collide, and ``LogisticRegression(C=0.5)`` alone records ``LogisticRegression.C`` and ``C``.

**Calls that give no params**: those whose callee is a builtin (``print``, ``range``, ``open``...; an assigned
``dict(...)`` is a config), comes from nbtrack, IPython (``display``), a plotting library (matplotlib,
seaborn, plotly, bokeh, altair), logging, warnings, tqdm or the standard library's files, OS and serialisation
modules (``open``, ``os``, ``pathlib``, ``shutil``, ``subprocess``, ``json``, ``pickle``), and calls through a
``.plot``/``.plotting`` attribute (pandas plotting). A callee the namespace does not hold yet (imported in the
same cell) is placed by the cell's imports, else by the conventional names ``plt``, ``sns``, ``px``,
``display``. Literals with more than :data:`MAX_ITEMS` items are data, not hyperparameters, and are skipped.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import re
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nbtrack.capture.guard import warn
from nbtrack.capture.params import input_names, literal_bindings, nodes_of, parse, static_value

SKIP_ROOTS = frozenset(
    {"builtins", "nbtrack", "IPython", "ipywidgets", "matplotlib", "seaborn", "plotly", "bokeh", "altair"}
    | {"logging", "warnings", "tqdm"}
    | {"io", "_io", "os", "posixpath", "ntpath", "sys", "pathlib", "shutil", "subprocess", "glob", "json", "pickle"}
)
_CONVENTIONAL = {"plt": "matplotlib", "sns": "seaborn", "px": "plotly", "display": "IPython", "get_ipython": "IPython"}
_PLOT_ATTRS = frozenset({"plot", "plotting"})
MAX_ITEMS = 100  # a literal with more items than this is data, not a hyperparameter
_FLAT_KEY = re.compile(r"[\w-]{1,100}")  # dict keys that become part of a param's name
_MISSING = object()
_signatures: dict[int, tuple[Any, list[str] | None]] = {}  # id(callee) -> (callee, positional names)


@dataclass
class CellParams:
    """Params found for a run, in the order found, with the source of each (the first found wins)."""

    params: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: Any, source: str) -> None:
        if name not in self.params:
            self.params[name] = value
            self.sources[name] = source

    def add_flat(self, name: str, value: Any, source: str) -> None:
        """``name`` = value, a non-empty dict flattened into ``name.key`` params."""
        for key, leaf in flatten(name, value):
            self.add(key, leaf, source)


def flatten(prefix: str, value: Any) -> list[tuple[str, Any]]:
    """``[(prefix.key, leaf), ...]`` for a dict whose keys are all simple names (letters, digits, ``_``, ``-``),
    nested ones too; ``[(prefix, value)]`` for anything else, so every name reads back to one place."""
    simple = isinstance(value, dict) and all(isinstance(k, str) and _FLAT_KEY.fullmatch(k) for k in value)
    if not simple or not value:
        return [(prefix, value)]
    out: list[tuple[str, Any]] = []
    for key, item in value.items():
        out.extend(flatten(f"{prefix}.{key}", item))
    return out


def size_of(value: Any) -> int:
    """How many items a literal holds, nested ones counted."""
    if isinstance(value, (list, tuple, set)):
        return len(value) + sum(size_of(v) for v in value)
    if isinstance(value, dict):
        return len(value) + sum(size_of(v) for v in value.values())
    return 0


def _same(current: Any, value: Any) -> bool:
    if type(current) is not type(value):
        return False
    try:
        return bool(current == value)
    except Exception:  # an object whose == is not a plain bool
        return False


class LiteralMemory:
    """Per kernel: the literal each executed cell last assigned to a name (parsed only, never evaluated)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def remember(self, tree: ast.Module | None) -> None:
        known, others = literal_bindings(tree)
        for name in others:
            self.values.pop(name, None)
        for name, value in known.items():
            if size_of(value) <= MAX_ITEMS:
                self.values[name] = value
            else:
                self.values.pop(name, None)

    def remember_cells(self, shell: Any, cells: Iterable[str]) -> None:
        """What cells assigned, in the order they ran (their raw text, read when a tracked cell asks); never raises."""
        for raw in cells:
            try:
                self.remember(parse(shell.transform_cell(raw)))
            except Exception:  # a cell nbtrack cannot read: nothing remembered, the kernel goes on
                continue

    def still_held(self, names: Iterable[str], namespace: Mapping[str, Any]) -> dict[str, Any]:
        """The remembered literals of ``names`` that the namespace still holds (same type, equal value)."""
        out: dict[str, Any] = {}
        for name in sorted(names):
            value = self.values.get(name, _MISSING)
            if value is not _MISSING and not name.startswith("_") and _same(namespace.get(name, _MISSING), value):
                out[name] = value
        return out


# calls ---------------------------------------------------------------------------------------------


@dataclass
class _Call:
    callee: str  # the name shown: RandomForestClassifier, df.sample
    target: str | None  # the variable the call is assigned to
    args: list[tuple[str, Any]]  # (argument name, literal value)


def _add_import(node: ast.Import | ast.ImportFrom, out: dict[str, str]) -> None:
    """Name -> module for the names an import binds (``import numpy as np`` gives np -> numpy)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            out[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
    elif node.module:
        for alias in node.names:
            out[alias.asname or alias.name] = node.module


def _module_root(obj: Any) -> str | None:
    if isinstance(obj, types.ModuleType):
        return obj.__name__.split(".")[0]
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str):  # a C method: its class's module (``list.append`` is a builtin)
        module = getattr(getattr(obj, "__objclass__", None), "__module__", None)
    if not isinstance(module, str) and not isinstance(obj, type):
        module = getattr(type(obj), "__module__", None)
    return module.split(".")[0] if isinstance(module, str) else None


def _attribute(holder: Any, attr: str) -> tuple[Any, bool]:
    """``holder.attr`` without running user code (properties are not called); and whether it is a method of an
    instance (its first parameter is then bound)."""
    if isinstance(holder, types.ModuleType):
        return getattr(holder, attr, _MISSING), False
    try:
        found = inspect.getattr_static(holder, attr)
    except AttributeError:
        return _MISSING, False
    if isinstance(found, staticmethod):
        return found.__func__, False
    if isinstance(found, classmethod):
        return found.__func__, True
    if isinstance(found, types.FunctionType):
        own = isinstance(holder, type) or attr in getattr(holder, "__dict__", {})
        return found, not own
    if isinstance(found, types.MethodDescriptorType):  # a C method (``ndarray.reshape``): bound on an instance
        return found, not isinstance(holder, type)
    if isinstance(found, (types.BuiltinFunctionType, types.MethodType, type)):
        return found, False
    return _MISSING, False  # a property or another descriptor: not resolved


def _resolve(func: ast.expr, namespace: Mapping[str, Any], imports: Mapping[str, str]) -> tuple[str, bool, Any, bool]:
    """(callee name shown, whether its calls give params, the callee object or _MISSING, bound method)."""
    attrs: list[str] = []
    node = func
    while isinstance(node, ast.Attribute):
        attrs.insert(0, node.attr)
        node = node.value
    if _PLOT_ATTRS & set(attrs):
        return "", False, _MISSING, False
    if not isinstance(node, ast.Name):  # make_pipeline(...).fit(...), models[0].fit(...)
        return attrs[-1] if attrs else "", bool(attrs), _MISSING, False
    base = node.id
    obj = namespace.get(base, _MISSING)
    root: str | None = None
    if obj is _MISSING and base in imports:
        root = imports[base].split(".")[0]
    elif obj is _MISSING:
        obj = vars(builtins).get(base, _MISSING)
        root = "builtins" if obj is not _MISSING else _CONVENTIONAL.get(base)
    is_module = isinstance(obj, types.ModuleType) or (obj is _MISSING and base in imports and bool(attrs))
    holder_root = _module_root(obj) if obj is not _MISSING else root
    bound = False
    for attr in attrs:
        if obj is _MISSING:
            break
        obj, bound = _attribute(obj, attr)
    root = (_module_root(obj) if obj is not _MISSING else root) or holder_root
    if root in SKIP_ROOTS or holder_root in SKIP_ROOTS:
        return "", False, _MISSING, False
    shown = attrs[-1] if attrs and is_module else ".".join([base, *attrs])
    return shown, True, obj, bound


def positional_names(callee: Any, bound: bool) -> list[str] | None:
    """The names of a callable's positional parameters, in order (None when its signature is unknown)."""
    cached = _signatures.get(id(callee))
    if cached is not None and cached[0] is callee:
        names = cached[1]
    else:
        try:
            parameters = list(inspect.signature(callee).parameters.values())
            names = []
            for p in parameters:
                if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                    break
                names.append(p.name)
        except (TypeError, ValueError, RecursionError):
            names = None
        if len(_signatures) > 2048:
            _signatures.clear()
        _signatures[id(callee)] = (callee, names)
    if names is not None and bound:
        return names[1:]
    return names


def _literal_args(call: ast.Call, callee: Any, bound: bool) -> list[tuple[str, Any]]:
    args: list[tuple[str, Any]] = []
    positional = list(call.args)
    if positional and callee is not _MISSING:
        names = positional_names(callee, bound) or []
        for name, node in zip(names, positional, strict=False):
            if isinstance(node, ast.Starred):
                break
            ok, value = static_value(node)
            if ok and size_of(value) <= MAX_ITEMS:
                args.append((name, value))
    for keyword in call.keywords:
        if keyword.arg is None:
            continue
        ok, value = static_value(keyword.value)
        if ok and size_of(value) <= MAX_ITEMS:
            args.append((keyword.arg, value))
    return args


def _calls(tree: ast.Module, namespace: Mapping[str, Any]) -> list[_Call]:
    imports: dict[str, str] = {}
    targets: dict[int, str] = {}
    calls: list[ast.Call] = []
    for node in nodes_of(tree):  # one pass: calls, the names they are assigned to, and the cell's imports
        if isinstance(node, ast.Call):
            calls.append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call):
            names = node.targets if isinstance(node, ast.Assign) else [node.target]
            if len(names) == 1 and isinstance(names[0], ast.Name):
                targets[id(node.value)] = names[0].id
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            _add_import(node, imports)
    calls.sort(key=lambda c: (c.lineno, c.col_offset))
    found: list[_Call] = []
    for call in calls:
        if not (call.args or call.keywords):
            continue
        shown, gives, callee, bound = _resolve(call.func, namespace, imports)
        if not gives or not shown:
            continue
        args = _literal_args(call, callee, bound)
        if args:
            found.append(_Call(shown, targets.get(id(call)), args))
    return found


def _owners(calls: list[_Call]) -> list[str]:
    """Each call's owner name (see the module docstring)."""
    per_callee: dict[str, int] = {}
    for c in calls:
        per_callee[c.callee] = per_callee.get(c.callee, 0) + 1
    targets = [c.target for c in calls if c.target]
    owners: list[str] = []
    seen: dict[str, int] = {}
    for c in calls:
        seen[c.callee] = seen.get(c.callee, 0) + 1
        if per_callee[c.callee] == 1:
            owners.append(c.callee)
        elif c.target and targets.count(c.target) == 1 and c.target not in per_callee:
            owners.append(c.target)
        else:
            owners.append(f"{c.callee}#{seen[c.callee]}")
    return owners


def call_params(tree: ast.Module | None, namespace: Mapping[str, Any], taken: Iterable[str] = ()) -> CellParams:
    """The literal arguments of a cell's calls, named ``owner.arg`` plus an unambiguous alias ``arg``."""
    found = CellParams()
    if tree is None:
        return found
    calls = _calls(tree, namespace)
    owners = _owners(calls)
    leaves: list[list[tuple[str, Any]]] = [[leaf for name, v in c.args for leaf in flatten(name, v)] for c in calls]
    users: dict[str, int] = {}
    for call_leaves in leaves:
        for arg in {name for name, _ in call_leaves}:
            users[arg] = users.get(arg, 0) + 1
    reserved = set(taken) | set(owners)
    for owner, call_leaves in zip(owners, leaves, strict=True):
        for arg, value in call_leaves:
            found.add(f"{owner}.{arg}", value, "call")
            if users[arg] == 1 and arg not in reserved:
                found.add(arg, value, "call")
    return found


# the cell's params --------------------------------------------------------------------------------


def cell_params(
    tree: ast.Module | None,
    namespace: Mapping[str, Any],
    memory: LiteralMemory | None = None,
    *,
    exclude: Iterable[str] = (),
) -> CellParams:
    """Every param a cell's code writes (assigned, config, call) or reads from earlier cells (input).

    ``exclude``: names that are not params (``-m`` metrics), left out with their flattened parts.
    """
    found = CellParams()
    if tree is None:
        return found
    skip = set(exclude)
    known, _ = literal_bindings(tree)
    for name, value in known.items():
        if not name.startswith("_") and name not in skip:
            found.add_flat(name, value, "config" if isinstance(value, dict) and value else "assigned")
    if memory is not None:
        for name, value in memory.still_held(input_names(tree) - skip, namespace).items():
            found.add_flat(name, value, "input")
    calls = call_params(tree, namespace, taken=set(found.params) | skip)
    for name, value in calls.params.items():
        found.add(name, value, "call")
    return found


def record_cell(
    run: Any, tree: ast.Module | None, namespace: Mapping[str, Any], memory: LiteralMemory, exclude: Iterable[str]
) -> None:
    """Log the params of a cell's code into ``run`` (see :func:`cell_params`); a failure is one warning, and the
    run goes on without them."""
    try:
        log_discovered(run, cell_params(tree, namespace, memory, exclude=exclude))
    except Exception as exc:
        warn(f"run {run.id}: the params written in the cell's code were not read ({type(exc).__name__}: {exc})")


def log_discovered(run: Any, found: CellParams) -> None:
    """Log discovered params into an ``ActiveRun``, never over a param it already has (explicit ones win)."""
    for name, value in found.params.items():
        if name in run.record.params:
            continue
        run.log_param(name, value)
        if name in run.record.params:
            run.record.param_sources[name] = found.sources[name]


def mark_explicit(run: Any) -> None:
    """Every param without a source is explicit (``-p``, ``log_param``): said once the cell is done."""
    sources = run.record.param_sources
    for name in run.record.params:
        sources.setdefault(name, "explicit")
