"""Find a cell's hyperparameters and inputs by reading its code, never by running it.

A hyperparameter is a top-level assignment of a literal (numbers, strings, bools, None, and
lists/tuples/dicts of those). A name assigned a literal and later reassigned something else in the
same cell is not a constant, so it is not reported.
"""

from __future__ import annotations

import ast
from typing import Any

_SCALARS = (bool, int, float, str, type(None))


def parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def nodes_of(tree: ast.AST) -> list[ast.AST]:
    """Every node of a parsed cell, walked once and kept on the tree: the params, the calls and the models of
    a cell are all read from it (``ast.walk`` costs about as much as parsing on a long cell)."""
    cached: list[ast.AST] | None = getattr(tree, "_nbtrack_nodes", None)
    if cached is not None:
        return cached
    nodes: list[ast.AST] = []
    if isinstance(tree, ast.Module):  # from its statements' lists, which reading its inputs walks too
        nodes.append(tree)
        for stmt in tree.body:
            nodes.extend(nodes_of(stmt))
        tree._nbtrack_nodes = nodes  # type: ignore[attr-defined]
        return nodes
    stack: list[ast.AST] = [tree]
    node_type = ast.AST
    while stack:  # depth first, in source order
        node = stack.pop()
        nodes.append(node)
        children: list[ast.AST] = []
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, node_type):
                children.append(value)
            elif isinstance(value, list):
                children.extend(v for v in value if isinstance(v, node_type))
        stack.extend(reversed(children))
    tree._nbtrack_nodes = nodes  # type: ignore[attr-defined]  # a cache on the parsed cell
    return nodes


def is_plain_literal(value: Any) -> bool:
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, (list, tuple)):
        return all(is_plain_literal(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, _SCALARS) and is_plain_literal(v) for k, v in value.items())
    return False


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None
    return is_plain_literal(value), value


def _assigned_pairs(stmt: ast.stmt) -> list[tuple[str, ast.expr | None]]:
    """(name, value node or None when the value is not knowable) for each name a statement binds."""
    if isinstance(stmt, ast.Assign):
        pairs: list[tuple[str, ast.expr | None]] = []
        for target in stmt.targets:
            pairs.extend(_match(target, stmt.value))
        return pairs
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return [(stmt.target.id, stmt.value)] if stmt.value is not None else []
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
        return [(stmt.target.id, None)]
    return [(name, None) for name in _bound_names(stmt)]


def _match(target: ast.expr, value: ast.expr | None) -> list[tuple[str, ast.expr | None]]:
    if isinstance(target, ast.Name):
        return [(target.id, value)]
    if isinstance(target, (ast.Tuple, ast.List)):
        if (
            isinstance(value, (ast.Tuple, ast.List))
            and len(value.elts) == len(target.elts)
            and not any(isinstance(e, ast.Starred) for e in target.elts)
        ):
            pairs: list[tuple[str, ast.expr | None]] = []
            for t, v in zip(target.elts, value.elts, strict=False):
                pairs.extend(_match(t, v))
            return pairs
        return [(n.id, None) for n in ast.walk(target) if isinstance(n, ast.Name)]
    return []


def _bound_names(stmt: ast.stmt) -> list[str]:
    names = []
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is stmt:
            names.append(node.name)
        elif isinstance(node, ast.alias) and isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names.append((node.asname or node.name).split(".")[0])
    return names


def literal_params(tree: ast.Module | None) -> dict[str, Any]:
    """Top-level literal assignments of a parsed cell, in the order they are first assigned."""
    params: dict[str, Any] = {}
    if tree is None:
        return params
    for stmt in tree.body:
        for name, value_node in _assigned_pairs(stmt):
            ok, value = _literal(value_node) if value_node is not None else (False, None)
            if ok and not name.startswith("_"):
                params[name] = value
            else:
                params.pop(name, None)
    return params


def input_names(tree: ast.Module | None) -> set[str]:
    """Names the cell reads before assigning them: values that existed before the cell ran.

    Reads at any depth count (inputs may be used inside functions the cell defines); a name the cell
    assigns at top level before reading it is the cell's own result, even if an earlier run left it
    in the namespace.
    """
    if tree is None:
        return set()
    cached: set[str] | None = getattr(tree, "_nbtrack_inputs", None)
    if cached is None:
        cached = set()
        _scan(tree.body, set(), cached)
        tree._nbtrack_inputs = cached  # type: ignore[attr-defined]  # read for data inputs and for params
    return set(cached)


def _reads(node: ast.AST) -> set[str]:
    """Names a node reads, less those bound inside it (comprehension targets, lambda and function arguments)."""
    loads: set[str] = set()
    local: set[str] = set()
    for n in nodes_of(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            loads.add(n.id)
        elif isinstance(n, ast.comprehension):
            local |= _names(n.target)
        elif isinstance(n, ast.arg):
            local.add(n.arg)
    return loads - local


def _names(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def _scan(stmts: list[ast.stmt], assigned: set[str], inputs: set[str]) -> None:
    """Walk statements in execution order: a read counts as an input unless an earlier binding made the name."""
    for stmt in stmts:
        if isinstance(stmt, (ast.For, ast.AsyncFor)):
            inputs |= _reads(stmt.iter) - assigned
            assigned |= _names(stmt.target)
            _scan(stmt.body + stmt.orelse, assigned, inputs)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                inputs |= _reads(item.context_expr) - assigned
                if item.optional_vars is not None:
                    assigned |= _names(item.optional_vars)
            _scan(stmt.body, assigned, inputs)
        elif isinstance(stmt, (ast.If, ast.While)):
            inputs |= _reads(stmt.test) - assigned
            _scan(stmt.body, assigned, inputs)
            _scan(stmt.orelse, assigned, inputs)
        elif isinstance(stmt, ast.Try):
            _scan(stmt.body, assigned, inputs)
            for handler in stmt.handlers:
                if handler.name:
                    assigned.add(handler.name)
                _scan(handler.body, assigned, inputs)
            _scan(stmt.orelse + stmt.finalbody, assigned, inputs)
        else:
            inputs |= _reads(stmt) - assigned
            assigned |= {name for name, _ in _assigned_pairs(stmt)}


def static_value(node: ast.expr) -> tuple[bool, Any]:
    """A value the code spells out: a plain literal, or a ``dict(...)`` call of literal keywords (``dict(lr=0.1)``)
    or of a literal dict; ``(False, None)`` for anything that would need running code."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and len(node.args) <= 1
        and all(k.arg is not None for k in node.keywords)
    ):
        base: dict[str, Any] = {}
        if node.args:
            ok, value = static_value(node.args[0])
            if not (ok and isinstance(value, dict)):
                return False, None
            base.update(value)
        for keyword in node.keywords:
            ok, value = static_value(keyword.value)
            if not ok:
                return False, None
            base[str(keyword.arg)] = value
        return True, base
    return _literal(node)


def literal_bindings(tree: ast.Module | None) -> tuple[dict[str, Any], set[str]]:
    """What a cell leaves bound at top level: names whose last top-level assignment is a static value (see
    :func:`static_value`), and the other names it binds (their value is not knowable from the code)."""
    known: dict[str, Any] = {}
    others: set[str] = set()
    if tree is None:
        return known, others
    for stmt in tree.body:
        for name, value_node in _assigned_pairs(stmt):
            ok, value = static_value(value_node) if value_node is not None else (False, None)
            if ok:
                known[name] = value
                others.discard(name)
            else:
                known.pop(name, None)
                others.add(name)
    return known, others


def bound_names(tree: ast.Module | None) -> set[str]:
    """Every name a cell binds anywhere in its code (``-p name`` reads these after the cell ran); names local to a
    function the cell defines count too, which only makes ``-p`` read them later."""
    if tree is None:
        return set()
    names: set[str] = set()
    for node in nodes_of(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names
