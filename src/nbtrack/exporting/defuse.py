"""The def-use facts of each cell of an execution history: the names (and files, and random generators) it
reads, binds for sure, may bind or change, and what its functions read when they are called."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from nbtrack.exporting.aliases import bindings, expand, rebind
from nbtrack.exporting.effects import _changes, _files, _summarize, file_key, looks_like_path, side_effect_calls
from nbtrack.exporting.scope import (
    _FUNCS,
    Context,
    FunctionSummary,
    _class_free,
    _external_reads,
    _immediate,
    _import_names,
    _kills_and_conditional,
    _loads,
    _params,
)


@dataclass
class CellFacts:
    """What one cell reads, binds and changes."""

    index: int
    valid: bool
    uses: set[str] = field(default_factory=set)
    kills: set[str] = field(default_factory=set)
    defines: set[str] = field(default_factory=set)  # kills, conditional bindings, mutations, pseudo-names
    deferred: dict[str, set[str]] = field(default_factory=dict)  # function/class -> names read when called
    file_reads: set[str] = field(default_factory=set)
    file_writes: set[str] = field(default_factory=set)
    binding_files: dict[str, set[str]] = field(default_factory=dict)  # name -> files read where it is bound
    binding_uses: dict[str, set[str]] = field(default_factory=dict)  # name -> names read where it is bound
    mutated: set[str] = field(default_factory=set)  # names whose objects it changes (aliases followed)
    aliases: set[str] = field(default_factory=set)  # names it binds to existing objects (x = df, for s in (a, b))
    calls: bool = False  # calls something that may have effects beyond its result
    defines_all: bool = False
    effects: list[str] = field(default_factory=list)  # why it must be kept whatever the names say
    imports: set[str] = field(default_factory=set)  # top-level module names imported anywhere in the cell


# per cell -------------------------------------------------------------------------------------------


def _record_import(node: ast.Import | ast.ImportFrom, ctx: Context, modules: set[str]) -> None:
    if isinstance(node, ast.Import):
        modules |= {a.name.split(".")[0] for a in node.names}
    elif node.module and node.level == 0:
        modules.add(node.module.split(".")[0])
    for name, path in _import_names(node).items():
        if isinstance(node, ast.Import):
            ctx.modules[name] = path
        else:
            ctx.imported[name] = path


def analyze_cell(index: int, code: str | None, ctx: Context, tree: ast.Module | None = None) -> CellFacts:
    """The facts of one cell; updates ``ctx.constants`` with the path-like string constants it binds."""
    if code is None:
        return CellFacts(index=index, valid=False)
    if tree is None:
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            return CellFacts(index=index, valid=False)
    facts = CellFacts(index=index, valid=True)
    if id(tree) in ctx.imports_of:
        facts.imports = set(ctx.imports_of[id(tree)])
    else:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                _record_import(node, ctx, facts.imports)
    parents: dict[ast.AST, ast.AST] = {}
    bound_so_far: set[str] = set()
    int_constants: dict[str, int] = {}  # names this cell set to an int literal (loop bounds)
    for stmt in tree.body:
        nodes = list(_immediate(stmt))
        for node in nodes:
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        reads = _loads(nodes)
        compound = isinstance(stmt, (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try))
        facts.uses |= _external_reads(stmt, bound_so_far, int_constants) if compound else reads - bound_so_far
        for name in reads & facts.deferred.keys():  # calling a function this cell defined: its globals now
            facts.uses |= facts.deferred[name] - bound_so_far
        kills, conditional = _kills_and_conditional(stmt, int_constants)
        changes = _changes(nodes, ctx)
        new_aliases = bindings(stmt, ctx, nodes)
        if changes.mutated:  # x = df; x.drop(..., inplace=True) changes df too
            changes.mutated = expand(changes.mutated, {**ctx.aliases, **_merged(ctx.aliases, new_aliases)})
        facts.mutated |= changes.mutated
        facts.aliases |= new_aliases.keys()
        facts.calls = facts.calls or side_effect_calls(nodes)
        for name in kills | conditional:
            int_constants.pop(name, None)
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant) and type(stmt.value.value) is int:
            int_constants.update({t.id: stmt.value.value for t in stmt.targets if isinstance(t, ast.Name)})
        if changes.defines_all or any(
            isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names) for n in nodes
        ):
            facts.defines_all = True
        facts.effects.extend(e for e in changes.effects if e not in facts.effects)
        reads_files, writes_files = _files(nodes, parents, ctx)
        facts.file_reads |= {f for f in reads_files if file_key(f) not in bound_so_far}
        facts.file_writes |= writes_files
        rng_uses = changes.rng_uses - bound_so_far
        facts.uses |= rng_uses | {file_key(f) for f in reads_files} - bound_so_far
        facts.defines |= kills | conditional | changes.mutated | changes.rng_uses | changes.rng_kills
        facts.defines |= {file_key(f) for f in writes_files}
        facts.kills |= kills | changes.rng_kills
        facts.kills |= {file_key(f) for f in writes_files if not _appends(stmt)}
        for name in kills | conditional:
            facts.binding_files.setdefault(name, set()).update(reads_files)
            facts.binding_uses.setdefault(name, set()).update(reads - {name})
        for name in changes.mutated:
            facts.binding_uses.setdefault(name, set()).update(reads - {name})
            facts.binding_files.setdefault(name, set()).update(reads_files)
        bound_so_far |= kills | changes.rng_kills
        rebind(ctx.aliases, kills, new_aliases)
        # deferred reads of functions and classes (resolved where they are called)
        for node in nodes:
            if isinstance(node, _FUNCS) and node.name in (kills | conditional):
                summary = ctx.summary_of.get(id(node)) or _summarize(node, ctx)
                facts.deferred.setdefault(node.name, set()).update(summary.free)
            elif isinstance(node, ast.ClassDef) and node.name in (kills | conditional):
                facts.deferred.setdefault(node.name, set()).update(_class_free(node))
        # path-like string constants bound by name, for `df = pd.read_csv(PATH)`
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            for name in kills:
                if looks_like_path(stmt.value.value):
                    ctx.constants[name] = stmt.value.value
                else:
                    ctx.constants.pop(name, None)
        else:
            for name in kills | conditional:
                ctx.constants.pop(name, None)
    facts.uses -= {"__name__", "__file__", "__doc__", "__builtins__"}
    return facts


def _merged(old: dict[str, set[str]], new: dict[str, set[str]]) -> dict[str, set[str]]:
    return {name: old.get(name, set()) | roots for name, roots in new.items()}


def _appends(stmt: ast.stmt) -> bool:
    return any(isinstance(n, ast.Constant) and n.value in ("a", "ab", "a+") for n in ast.walk(stmt))


def build_context(trees: list[ast.Module | None]) -> Context:
    """Imports, user functions and classes of the whole history (a name keeps its last meaning)."""
    ctx = Context()
    defs: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
    for tree in trees:
        if tree is None:
            continue
        modules: set[str] = set()
        for stmt in ast.walk(tree):
            if isinstance(stmt, _FUNCS):
                defs.setdefault(stmt.name, []).append(stmt)
            elif isinstance(stmt, ast.ClassDef):
                ctx.classes.add(stmt.name)
            elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
                _record_import(stmt, ctx, modules)
        ctx.imports_of[id(tree)] = modules
    # Summaries depend on each other (a helper mutating its argument makes its callers do so too): start
    # from "mutates nothing" and recompute until nothing changes (the sets only grow); every version of a
    # redefined function counts (the union is the safe side).
    ctx.functions = {
        name: FunctionSummary(params=_params(versions[-1]), free=set(), mutated_params=set(), mutated_globals=set())
        for name, versions in defs.items()
    }
    for _ in range(6):
        new: dict[str, FunctionSummary] = {}
        for name, versions in defs.items():
            summaries = [_summarize(fn, ctx) for fn in versions]
            ctx.summary_of.update((id(fn), summary) for fn, summary in zip(versions, summaries, strict=True))
            new[name] = FunctionSummary(
                params=summaries[-1].params,
                free=set().union(*(s.free for s in summaries)),
                mutated_params=set().union(*(s.mutated_params for s in summaries)),
                mutated_globals=set().union(*(s.mutated_globals for s in summaries)),
                effects=sorted({e for s in summaries for e in s.effects}),
                returns=set().union(*(s.returns for s in summaries)),
            )
        if new == ctx.functions:
            break
        ctx.functions = new
    return ctx


def analyze_history(codes: list[str | None], trees: list[ast.Module | None] | None = None) -> list[CellFacts]:
    """Facts for every cell of a history of (already translated) plain-Python cells (``trees``: their parses,
    when the caller has them)."""
    if trees is None:
        trees = []
        for code in codes:
            try:
                trees.append(ast.parse(code) if code is not None else None)
            except (SyntaxError, ValueError):
                trees.append(None)
    ctx = build_context(trees)
    ctx.constants = {}
    ctx.aliases = {}
    return [analyze_cell(i, codes[i] if trees[i] is not None else None, ctx, trees[i]) for i in range(len(codes))]
