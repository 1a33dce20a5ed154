"""Which named objects an expression's value may be: the small alias analysis that lets a mutation through
one name count for the others.

``x = df; x.drop(..., inplace=True)`` mutates ``df``; ``for s in (train, test): s.drop(...)`` mutates both;
``pair = (a, b)``, ``col = d["k"]``, ``w = model.coef_`` make names that reach into ``a``, ``b``, ``d``,
``model``. A call's result is a fresh object unless it may be its receiver or an argument: a method not
known to return a new object (``model.fit(X)`` returns ``model``), or a user function that returns one of
its parameters or a global. So in ``make_model(3).fit(X, y)`` nothing named is fitted.

The analysis is deliberately coarse and errs on the side of more aliases: an alias costs at most a cell
kept that was not needed, a missed one a script computing something else.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbtrack.exporting.scope import Context


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Methods that return a new object (or just a view/summary) and leave their receiver alone, unless
# called with inplace=True. Anything else called on an object is taken to mutate it, and to maybe return it.
PURE_METHODS = _words(
    """head tail describe info copy to_numpy to_list tolist to_dict to_string to_markdown to_csv to_json to_parquet
    to_pickle to_excel to_feather to_records keys values items get sum mean median std var min max count nunique
    unique value_counts isna isnull notna notnull round corr cov groupby agg aggregate apply applymap map merge join
    query filter select_dtypes astype reshape transpose any all argmax argmin argsort cumsum cumprod diff pct_change
    shift rolling expanding ewm resample pipe eq ne lt gt le ge isin between clip abs dot sample drop dropna fillna
    rename replace reset_index set_index sort_values sort_index drop_duplicates duplicated melt pivot pivot_table
    stack unstack explode assign where mask nlargest nsmallest quantile mode prod sem skew kurt memory_usage equals
    predict predict_proba predict_log_proba decision_function score transform get_params format split rsplit strip
    lstrip rstrip lower upper title startswith endswith encode decode find rfind index count partition splitlines
    iterrows itertuples plot hist boxplot flatten ravel squeeze view item nonzero mean std tobytes hexdigest digest
    read_text read_bytes exists is_file is_dir resolve absolute with_suffix with_name joinpath glob rglob stat
    to_frame to_series interpolate bfill ffill idxmax idxmin cummax cummin rank trace conj real imag"""
)
# Pure methods whose result still reaches into the receiver's data (a view: writing to it writes the receiver).
VIEW_METHODS = _words("view reshape transpose ravel squeeze values items iterrows itertuples keys get")
# Methods that change their receiver but return something else (None, new data): their result is no alias.
NEW_RESULT_METHODS = _words(
    """fit_transform fit_predict fit_resample append extend insert update sort reverse clear remove add discard
    read readline readlines write writelines close"""
)


def inplace(call: ast.Call) -> bool:
    """``inplace=True`` among the call's keywords: a pure-looking method that mutates its receiver."""
    return any(
        kw.arg == "inplace" and isinstance(kw.value, ast.Constant) and kw.value.value is True for kw in call.keywords
    )


def value_roots(expr: ast.AST | None, ctx: Context | None = None) -> set[str]:
    """The names whose objects the value of ``expr`` may be, or reach into (see the module docstring)."""
    if expr is None:
        return set()
    if isinstance(expr, ast.Name):
        return set() if ctx is not None and ctx.dotted(expr.id, []) is not None else {expr.id}  # modules are no data
    if isinstance(expr, (ast.Attribute, ast.Subscript, ast.Starred, ast.NamedExpr)):
        return value_roots(expr.value, ctx)
    if isinstance(expr, (ast.Tuple, ast.List, ast.Set)):
        return set().union(*(value_roots(e, ctx) for e in expr.elts)) if expr.elts else set()
    if isinstance(expr, ast.Dict):
        return set().union(*(value_roots(v, ctx) for v in expr.values)) if expr.values else set()
    if isinstance(expr, ast.IfExp):
        return value_roots(expr.body, ctx) | value_roots(expr.orelse, ctx)
    if isinstance(expr, ast.BoolOp):
        return set().union(*(value_roots(v, ctx) for v in expr.values))
    if isinstance(expr, ast.Call):
        return _call_result_roots(expr, ctx)
    return set()  # literals, arithmetic, comparisons, comprehensions, lambdas: new objects


def _call_result_roots(call: ast.Call, ctx: Context | None) -> set[str]:
    func = call.func
    if isinstance(func, ast.Attribute):
        receiver = func.value
        base = receiver
        while isinstance(base, ast.Attribute):
            base = base.value
        if ctx is not None and isinstance(base, ast.Name) and ctx.dotted(base.id, []) is not None:
            return set()  # a module function (np.array(x), np.random.default_rng(0)): a new object
        if func.attr in NEW_RESULT_METHODS or (
            func.attr in PURE_METHODS and func.attr not in VIEW_METHODS and not inplace(call)
        ):
            return set()
        return value_roots(receiver, ctx)  # model.fit(X) is model; a.view() reaches into a
    if isinstance(func, ast.Name) and ctx is not None:
        summary = ctx.functions.get(func.id)
        if summary is not None:  # a user function: what it may return
            roots = summary.returns - set(summary.params)
            for pos, arg in enumerate(call.args):
                param = summary.params[pos] if pos < len(summary.params) else None
                if isinstance(arg, ast.Starred) or param in summary.returns:
                    roots |= value_roots(arg, ctx)
            for kw in call.keywords:
                if kw.arg is None or kw.arg in summary.returns:
                    roots |= value_roots(kw.value, ctx)
            return roots
    return set()  # a class, a builtin or an imported function: a new object


def bindings(stmt: ast.AST, ctx: Context | None = None, nodes: Iterable[ast.AST] | None = None) -> dict[str, set[str]]:
    """Name -> the names it is bound to alias, for every binding ``stmt`` makes (``nodes``: the nodes of
    ``stmt`` that run when it runs, default all): assignments, loop and comprehension targets, ``with``
    targets and walrus."""
    out: dict[str, set[str]] = {}

    def bind(target: ast.AST, roots: set[str], value: ast.AST | None = None) -> None:
        if isinstance(target, ast.Name):
            out.setdefault(target.id, set()).update(roots - {target.id})
        elif isinstance(target, (ast.Tuple, ast.List)):
            elts = value.elts if isinstance(value, (ast.Tuple, ast.List)) else None
            if elts is not None and len(elts) == len(target.elts) and not any(isinstance(e, ast.Starred) for e in elts):
                for t, v in zip(target.elts, elts, strict=True):
                    bind(t, value_roots(v, ctx), v)
            else:
                for t in target.elts:
                    bind(t, roots)
        elif isinstance(target, ast.Starred):
            bind(target.value, roots)

    for node in nodes if nodes is not None else ast.walk(stmt):
        if isinstance(node, ast.Assign):
            roots = value_roots(node.value, ctx)
            for target in node.targets:
                bind(target, roots, node.value)
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            bind(node.target, value_roots(node.value, ctx), node.value)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            bind(node.target, iterated_roots(node.iter, ctx))
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    bind(item.optional_vars, value_roots(item.context_expr, ctx))
    return {name: roots for name, roots in out.items() if roots}


def iterated_roots(expr: ast.AST, ctx: Context | None = None) -> set[str]:
    """The names whose objects a loop over ``expr`` may hand out: every name in the iterable, including the
    arguments of ``zip``/``enumerate``/``items()`` (an element of a named list is part of it)."""
    roots = value_roots(expr, ctx)
    for node in ast.walk(expr):
        if isinstance(node, ast.Call):
            for arg in [*node.args, *(kw.value for kw in node.keywords)]:
                roots |= value_roots(arg, ctx)
            if isinstance(node.func, ast.Attribute):
                roots |= value_roots(node.func.value, ctx)
    return roots


def expand(mutated: set[str], aliases: dict[str, set[str]]) -> set[str]:
    """``mutated`` with every name that shares an object with one of them: forward (mutating ``x`` after
    ``x = df`` changes ``df``), then backward (mutating ``df`` changes what ``x`` reads). A backward step is
    not followed forward again: after ``for s in (train, test)``, mutating ``train`` says nothing of ``test``."""
    forward = set(mutated)
    frontier = list(forward)
    while frontier:
        for root in aliases.get(frontier.pop(), ()):
            if root not in forward:
                forward.add(root)
                frontier.append(root)
    out = set(forward)
    changed = True
    while changed:
        changed = False
        for name, roots in aliases.items():
            if name not in out and roots & out:
                out.add(name)
                changed = True
    return out


def rebind(aliases: dict[str, set[str]], killed: Iterable[str], new: dict[str, set[str]]) -> None:
    """Update a running alias map after a statement: names it rebound refer to new objects now."""
    killed = set(killed)
    for name in killed:
        aliases.pop(name, None)
    for name in list(aliases):
        aliases[name] -= killed
        if not aliases[name]:
            del aliases[name]
    for name, roots in new.items():
        if name in killed:
            aliases[name] = set(roots)
        else:
            aliases.setdefault(name, set()).update(roots)
