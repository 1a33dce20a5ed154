"""Names and scopes of plain-Python cells, read with ``ast``: what a statement always binds, may bind and
reads, which nodes run when it runs (function bodies run when called), and the context every cell of a
history shares (imports, user functions and classes)."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# the context shared by all cells -------------------------------------------------------------------


@dataclass
class FunctionSummary:
    """What calling a user function does to names outside it."""

    params: list[str]
    free: set[str]  # globals the body reads (looked up at call time)
    mutated_params: set[str]
    mutated_globals: set[str]
    effects: list[str] = field(default_factory=list)  # global state a call changes (seeds, cwd...)
    returns: set[str] = field(default_factory=set)  # params and globals whose objects it may return


@dataclass
class Context:
    # local name -> dotted module path; the helper modules exported code refers to are known from the start
    modules: dict[str, str] = field(default_factory=lambda: {m: m for m in ("os", "sys", "subprocess", "runpy")})
    imported: dict[str, str] = field(default_factory=dict)  # from-imported name -> dotted path
    functions: dict[str, FunctionSummary] = field(default_factory=dict)
    classes: set[str] = field(default_factory=set)
    constants: dict[str, str] = field(default_factory=dict)  # name -> string literal (path-like), as of now
    summary_of: dict[int, FunctionSummary] = field(default_factory=dict)  # id(def node) -> its own summary
    imports_of: dict[int, set[str]] = field(default_factory=dict)  # id(tree) -> top-level modules it imports
    aliases: dict[str, set[str]] = field(default_factory=dict)  # name -> names it shares objects with, as of now

    def dotted(self, root: str, attrs: list[str]) -> str | None:
        base = self.modules.get(root) or self.imported.get(root)
        return ".".join([base, *attrs]) if base else None


# walking ------------------------------------------------------------------------------------------

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
if sys.version_info >= (3, 11):  # try/except* (mypy narrows a version check only in an if statement)
    _TRY: tuple[type[ast.stmt], ...] = (ast.Try, ast.TryStar)
else:
    _TRY = (ast.Try,)


def _immediate(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes evaluated when ``node`` runs: function bodies are skipped (they run when called), while their
    decorators and defaults, lambdas, comprehensions and class bodies are included."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, _FUNCS):
            stack.extend(current.decorator_list)
            stack.extend(current.args.defaults)
            stack.extend(d for d in current.args.kw_defaults if d is not None)
            continue
        if isinstance(current, ast.ClassDef):
            stack.extend(current.decorator_list)
            stack.extend(current.bases)
            stack.extend(current.keywords)
            stack.extend(s for s in current.body if not isinstance(s, _FUNCS))
            stack.extend(d for s in current.body if isinstance(s, _FUNCS) for d in s.decorator_list)
            continue
        stack.extend(ast.iter_child_nodes(current))


def _local_only_names(nodes: Iterable[ast.AST]) -> set[str]:
    """Names bound only inside comprehensions or as lambda parameters (they never reach the namespace)."""
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.comprehension):
            names |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Lambda):
            a = node.args
            names |= {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if x is not None}
    return names


def _chain(expr: ast.AST) -> tuple[str | None, list[str]]:
    """(root name, attribute names from the root outward) of ``a.b[0].c(...).d``."""
    attrs: list[str] = []
    while True:
        if isinstance(expr, ast.Attribute):
            attrs.append(expr.attr)
            expr = expr.value
        elif isinstance(expr, ast.Subscript):
            expr = expr.value
        elif isinstance(expr, ast.Call):
            expr = expr.func
        elif isinstance(expr, ast.Name):
            return expr.id, attrs[::-1]
        else:
            return None, attrs[::-1]


def _bound_names(target: ast.AST) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_bound_names(e) for e in target.elts)) if target.elts else set()
    if isinstance(target, ast.Starred):
        return _bound_names(target.value)
    return set()


def _import_names(stmt: ast.Import | ast.ImportFrom) -> dict[str, str]:
    """Bound name -> dotted path of what it is bound to."""
    bound: dict[str, str] = {}
    for alias in stmt.names:
        if isinstance(stmt, ast.Import):
            if alias.asname:
                bound[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                bound[top] = top
        elif alias.name != "*":
            module = ("." * stmt.level) + (stmt.module or "")
            bound[alias.asname or alias.name] = f"{module}.{alias.name}" if module else alias.name
    return bound


def _runs_once(loop: ast.For, constants: dict[str, int] | None) -> bool:
    """``for ... in range(N)`` with N a positive literal (or a name the cell set to one): the body runs."""
    it = loop.iter
    if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range" and it.args):
        return False
    if any(isinstance(n, (ast.Break, ast.Continue)) for n in ast.walk(loop)):
        return False
    values = []
    for arg in it.args:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, int):
            values.append(arg.value)
        elif isinstance(arg, ast.Name) and constants and arg.id in constants:
            values.append(constants[arg.id])
        else:
            return False
    try:
        return len(range(*values)) > 0
    except (TypeError, ValueError):
        return False


def _kills_and_conditional(stmt: ast.stmt, constants: dict[str, int] | None = None) -> tuple[set[str], set[str]]:
    """Names a top-level statement always binds, and names it may bind."""
    if isinstance(stmt, ast.Assign):
        return set().union(*(_bound_names(t) for t in stmt.targets)), set()
    if isinstance(stmt, ast.AnnAssign):
        return (_bound_names(stmt.target) if stmt.value is not None else set()), set()
    if isinstance(stmt, ast.AugAssign):
        return set(), _bound_names(stmt.target)
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return set(_import_names(stmt)), set()
    if isinstance(stmt, (*_FUNCS, ast.ClassDef)):
        return {stmt.name}, set()
    if isinstance(stmt, (ast.With, ast.AsyncWith)) or (isinstance(stmt, ast.For) and _runs_once(stmt, constants)):
        kills: set[str] = set()
        conditional: set[str] = set()
        if isinstance(stmt, ast.For):
            kills |= _bound_names(stmt.target)
        else:
            for item in stmt.items:
                if item.optional_vars is not None:
                    kills |= _bound_names(item.optional_vars)
        for inner in stmt.body:
            k, c = _kills_and_conditional(inner, constants)
            kills |= k
            conditional |= c
        for inner in getattr(stmt, "orelse", []):
            conditional |= set().union(*_kills_and_conditional(inner, constants))
        return kills, conditional
    # if/for/while/try/match and expression statements (walrus): whatever they bind, they may not
    nodes = list(_immediate(stmt))
    local = _local_only_names(nodes)
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (*_FUNCS, ast.ClassDef)) and node is not stmt:
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= set(_import_names(node))
    return set(), names - local


def _loads(nodes: Iterable[ast.AST]) -> set[str]:
    """Names read: loads, and the targets of augmented assignments (``x += 1`` reads ``x``)."""
    nodes = list(nodes)
    local = _local_only_names(nodes)
    augmented = {n.target.id for n in nodes if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)}
    return ({n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} | augmented) - local


def _external_reads(stmt: ast.stmt, bound: set[str], constants: dict[str, int] | None) -> set[str]:
    """Names ``stmt`` reads before binding them itself: blocks are followed in order (a name a loop body
    assigns and then reads is not an input); ``bound`` holds what the cell bound before."""

    def block(stmts: list[ast.stmt], inner: set[str]) -> set[str]:
        inner = set(inner)
        reads: set[str] = set()
        for s in stmts:
            reads |= _external_reads(s, inner, constants)
            inner |= _kills_and_conditional(s, constants)[0]
        return reads

    header: list[ast.AST] = []
    bodies: list[tuple[list[ast.stmt], set[str]]] = []
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        header = [stmt.iter]
        bodies = [(stmt.body, _bound_names(stmt.target)), (stmt.orelse, set())]
    elif isinstance(stmt, (ast.While, ast.If)):
        header = [stmt.test]
        bodies = [(stmt.body, set()), (stmt.orelse, set())]
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        header = [item.context_expr for item in stmt.items]
        targets = set().union(*(_bound_names(i.optional_vars) for i in stmt.items if i.optional_vars is not None))
        bodies = [(stmt.body, targets)]
    elif isinstance(stmt, _TRY):
        bodies = [(stmt.body, set()), (stmt.orelse, set()), (stmt.finalbody, set())]
        for handler in stmt.handlers:
            if handler.type is not None:
                header.append(handler.type)
            bodies.append((handler.body, {handler.name} if handler.name else set()))
    else:
        return _loads(_immediate(stmt)) - bound
    reads = set().union(*(_loads(_immediate(h)) for h in header)) - bound if header else set()
    for body, extra in bodies:
        reads |= block(body, bound | extra)
    return reads


# functions -----------------------------------------------------------------------------------------


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> list[str]:
    a = fn.args
    return [x.arg for x in [*a.posonlyargs, *a.args, a.vararg, *a.kwonlyargs, a.kwarg] if x is not None]


def _function_scope(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[set[str], set[str], set[str]]:
    """(names read, local names, names declared global) of a function body, nested functions included."""
    declared: set[str] = set()
    stored: set[str] = set()
    loaded: set[str] = set()
    for stmt in fn.body:
        for node in ast.walk(stmt):
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                declared |= set(node.names)
            elif isinstance(node, ast.Name):
                (stored if isinstance(node.ctx, (ast.Store, ast.Del)) else loaded).add(node.id)
            elif isinstance(node, (*_FUNCS, ast.ClassDef)):
                stored.add(node.name)
                if not isinstance(node, ast.ClassDef):
                    stored |= set(_params(node))
            elif isinstance(node, ast.Lambda):
                stored |= set(_params(node))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                stored |= set(_import_names(node))
            elif isinstance(node, ast.ExceptHandler) and node.name:
                stored.add(node.name)
    local = (stored | set(_params(fn))) - declared
    return loaded, local, declared


def _stored_names(nodes: Iterable[ast.AST]) -> set[str]:
    return {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _class_free(cls: ast.ClassDef) -> set[str]:
    free: set[str] = set()
    for stmt in cls.body:
        if isinstance(stmt, _FUNCS):
            loaded, local, _ = _function_scope(stmt)
            free |= loaded - local
    return free
