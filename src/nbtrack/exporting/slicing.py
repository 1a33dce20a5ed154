"""Which cells of an execution history a tracked cell depends on: def-use analysis of names with ``ast``.

The history is every cell the kernel ran, in the order it ran them, so the analysis follows Python's own
rule: a name read by a cell has the value of the latest cell before it that bound it. Starting from the
names the tracked cell reads, it walks back through the history and keeps:

- the latest cell that binds each needed name unconditionally (an assignment, import, ``def``, ``class``),
  plus every cell in between that may change it: a binding inside ``if``/``for``/``try``, an augmented
  assignment, or a mutation (``df["c"] = ...``, ``model.fit(X)``, ``items.append(x)``, ``inplace=True``,
  passing it to a function whose body mutates that parameter);
- for a function or class, the names its body reads are looked up where it is *called*, since that is
  when a function body reads its globals (a helper redefined later, or a global it reads, resolves there);
- files as pseudo-names: a cell writing ``out.csv`` defines it for a cell reading ``out.csv``, unless the
  file is an input of the export (declared with ``-d`` or the origin of a fingerprinted input): such a
  writer belongs upstream;
- global state no name shows: random seeds (and the draws from a seeded global generator between the
  seed and the run), ``os.chdir``/``%cd``, environment variables, ``sys.path``, library settings.

When unsure it keeps the cell: a star import, ``exec``/``globals()``, ``%run`` or an untranslatable magic
may bind any name, a call to an unknown function may mutate its arguments.
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


BUILTIN_NAMES = frozenset(dir(builtins))
NAMESPACE_BUILTINS = frozenset({"exec", "eval", "globals", "locals", "vars", "__import__"})
ARG_MUTATING_BUILTINS = frozenset({"setattr", "delattr", "next"})
# Methods that return a new object (or just a view/summary) and leave their receiver alone, unless
# called with inplace=True. Anything else called on an object is taken to mutate it.
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
# Functions or methods that change what they are given (shuffle(x), x.fill_(...), random.shuffle(x)...).
ARG_MUTATORS = _words("shuffle fill sort update extend append insert setdefault copyto put place")
SEED_RE = re.compile(r"^(seed|manual_seed|manual_seed_all|set_seed|set_random_seed|seed_everything|set_global_seed)$")
LIBRARY_STATE = _words(
    """use_deterministic_algorithms set_num_threads set_num_interop_threads enable_op_determinism set_default_dtype
    set_default_device seterr set_config set_option set_global_policy filterwarnings simplefilter
    set_float32_matmul_precision"""
)
NUMPY_RNG_OBJECTS = _words(
    "default_rng Generator RandomState SeedSequence BitGenerator PCG64 PCG64DXSM MT19937 Philox SFC64"
)
WRITE_FUNCS = _words(
    """to_csv to_parquet to_json to_pickle to_excel to_feather to_hdf to_stata to_orc to_netcdf to_xml to_html
    save savez savez_compressed savetxt savefig dump write_text write_bytes tofile imwrite write_csv write_parquet
    write_table sink_parquet sink_csv mkdir makedirs touch urlretrieve copy copyfile copy2 copytree"""
)
PATH_CONSTRUCTORS = frozenset({"Path", "PurePath", "PosixPath", "join", "abspath", "expanduser"})
_PATH_RE = re.compile(r"^(?!https?://)[^\n\r\t%{}<>|*?\"]{1,260}$")
_EXT_RE = re.compile(r"\.[A-Za-z0-9]{1,8}$")


def looks_like_path(text: str) -> bool:
    """A string constant that may name a file: a slash or a short extension, no spaces (unless it has a
    slash), no format directives, no URL."""
    if not text or text != text.strip() or not _PATH_RE.match(text) or text in (".", ".."):
        return False
    if " " in text and "/" not in text:
        return False
    return "/" in text or bool(_EXT_RE.search(text))


def norm_path(text: str) -> str:
    return os.path.normpath(text.strip()) if text.strip() else text


def file_key(path: str) -> str:
    return "file:" + norm_path(path)


# the context shared by all cells -------------------------------------------------------------------


@dataclass
class FunctionSummary:
    """What calling a user function does to names outside it."""

    params: list[str]
    free: set[str]  # globals the body reads (looked up at call time)
    mutated_params: set[str]
    mutated_globals: set[str]
    effects: list[str] = field(default_factory=list)  # global state a call changes (seeds, cwd...)


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

    def dotted(self, root: str, attrs: list[str]) -> str | None:
        base = self.modules.get(root) or self.imported.get(root)
        return ".".join([base, *attrs]) if base else None


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
    defines_all: bool = False
    effects: list[str] = field(default_factory=list)  # why it must be kept whatever the names say
    imports: set[str] = field(default_factory=set)  # top-level module names imported anywhere in the cell


# walking ------------------------------------------------------------------------------------------

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


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


def _target_roots(target: ast.AST) -> set[str]:
    """Names mutated by assigning to ``target`` when it is a subscript or attribute (``df["c"]``, ``m.w``)."""
    roots: set[str] = set()
    if isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            roots |= _target_roots(elt)
    elif isinstance(target, ast.Starred):
        roots |= _target_roots(target.value)
    elif isinstance(target, (ast.Subscript, ast.Attribute)):
        root, _ = _chain(target)
        if root:
            roots.add(root)
    return roots


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
    nodes = list(nodes)
    local = _local_only_names(nodes)
    return {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - local


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
    elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
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


# calls: mutations and effects --------------------------------------------------------------------


@dataclass
class _Changes:
    mutated: set[str] = field(default_factory=set)
    effects: list[str] = field(default_factory=list)
    rng_uses: set[str] = field(default_factory=set)
    rng_kills: set[str] = field(default_factory=set)
    defines_all: bool = False


def _name_args(call: ast.Call) -> list[tuple[int | str, str]]:
    """(position or keyword, name) for arguments passed as bare names."""
    out: list[tuple[int | str, str]] = []
    for i, arg in enumerate(call.args):
        value = arg.value if isinstance(arg, ast.Starred) else arg
        if isinstance(value, ast.Name):
            out.append((i, value.id))
    for kw in call.keywords:
        if isinstance(kw.value, ast.Name):
            out.append((kw.arg or "**", kw.value.id))
    return out


def _inplace(call: ast.Call) -> bool:
    return any(
        kw.arg == "inplace" and isinstance(kw.value, ast.Constant) and kw.value.value is True for kw in call.keywords
    )


def _dotted_effects(path: str, changes: _Changes) -> None:
    """Global state touched by calling the module-level function at ``path`` (e.g. ``numpy.random.seed``)."""
    parts = path.split(".")
    last = parts[-1]
    if SEED_RE.match(last):
        changes.effects.append(f"sets a random seed ({path})")
    elif last in LIBRARY_STATE:
        changes.effects.append(f"sets library state ({path})")
    if path in ("os.chdir", "os.fchdir"):
        changes.effects.append("changes the working directory")
    if (
        parts[0] == "os"
        and (path.startswith("os.environ") or last in ("putenv", "unsetenv"))
        and last not in ("get", "copy", "items", "keys", "values")
    ):
        changes.effects.append("sets environment variables")
    if path.startswith("sys.path.") and last not in ("index", "count", "copy"):
        changes.effects.append("changes the import path")
    if parts[:2] == ["numpy", "random"] and len(parts) >= 3:
        if parts[2] == "seed":
            changes.rng_kills.add("rng:numpy")
        elif parts[2] not in NUMPY_RNG_OBJECTS:
            changes.rng_uses.add("rng:numpy")
    if parts[0] == "random" and len(parts) >= 2:
        if parts[1] == "seed":
            changes.rng_kills.add("rng:random")
        elif parts[1] not in ("Random", "SystemRandom"):
            changes.rng_uses.add("rng:random")


def _call_changes(call: ast.Call, ctx: Context, changes: _Changes, local: set[str] | None = None) -> None:
    root, attrs = _chain(call.func)
    if root is None:
        return
    if local is not None and root in local and not attrs:
        return  # a local function inside a function body
    dotted = None if local is not None and root in local else ctx.dotted(root, attrs)
    args = _name_args(call)
    last = attrs[-1] if attrs else root
    if dotted is not None:  # a module function or an imported name
        _dotted_effects(dotted, changes)
        if attrs and (SEED_RE.match(last) or last in LIBRARY_STATE):
            changes.mutated.add(root)
        if last in ARG_MUTATORS or (last.endswith("_") and not last.startswith("_")):
            changes.mutated |= {name for _, name in args}
        if not attrs and root in ctx.functions:
            pass  # a from-imported name shadowed by a user function is handled below
        else:
            return
    if not attrs:
        if root in NAMESPACE_BUILTINS and (local is None):
            changes.defines_all = True
            return
        if root in ARG_MUTATING_BUILTINS:
            changes.mutated |= {name for pos, name in args if pos == 0}
            return
        summary = ctx.functions.get(root)
        if summary is not None:
            for pos, name in args:
                param = summary.params[pos] if isinstance(pos, int) and pos < len(summary.params) else pos
                if param in summary.mutated_params or pos == "**":
                    changes.mutated.add(name)
            changes.mutated |= summary.mutated_globals - {"rng:numpy", "rng:random"}
            changes.rng_uses |= summary.mutated_globals & {"rng:numpy", "rng:random"}
            changes.effects.extend(e for e in summary.effects if e not in changes.effects)
            return
        if root in ctx.classes or root in BUILTIN_NAMES:
            return
        changes.mutated |= {name for _, name in args}  # an unknown callable: it may change what it is given
        return
    # a method call on an object (df.plot.<kind>() draws, it does not change df)
    if _inplace(call) or (last not in PURE_METHODS and attrs[0] != "plot"):
        changes.mutated.add(root)
    if last in ARG_MUTATORS:
        changes.mutated |= {name for _, name in args}


def _changes(nodes: Iterable[ast.AST], ctx: Context, local: set[str] | None = None) -> _Changes:
    changes = _Changes()
    for node in nodes:
        if isinstance(node, ast.Call):
            _call_changes(node, ctx, changes, local)
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                for root in _target_roots(target):
                    if local is not None and root in local:
                        continue
                    changes.mutated.add(root)
                    _, attrs = _chain(target)
                    dotted = ctx.dotted(root, attrs) if local is None or root not in local else None
                    if dotted is not None:
                        if dotted.startswith("os.environ"):
                            changes.effects.append("sets environment variables")
                        elif dotted.startswith("sys.path"):
                            changes.effects.append("changes the import path")
                        else:
                            changes.effects.append(f"sets library state ({dotted})")
    return changes


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


def _summarize(fn: ast.FunctionDef | ast.AsyncFunctionDef, ctx: Context) -> FunctionSummary:
    loaded, local, declared = _function_scope(fn)
    body_nodes = [n for stmt in fn.body for n in ast.walk(stmt)]
    params = _params(fn)
    changes = _changes(body_nodes, ctx, local=local - set(params))
    free = (loaded - local) | changes.rng_uses | changes.rng_kills
    mutated_globals = (
        (changes.mutated - local)
        | {n for n in declared if n in _stored_names(body_nodes)}
        | changes.rng_uses
        | changes.rng_kills
    )
    return FunctionSummary(
        params=params,
        free=free,
        mutated_params=changes.mutated & set(params),
        mutated_globals=mutated_globals,
        effects=changes.effects,
    )


def _stored_names(nodes: Iterable[ast.AST]) -> set[str]:
    return {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _class_free(cls: ast.ClassDef) -> set[str]:
    free: set[str] = set()
    for stmt in cls.body:
        if isinstance(stmt, _FUNCS):
            loaded, local, _ = _function_scope(stmt)
            free |= loaded - local
    return free


# files ----------------------------------------------------------------------------------------------


def _open_mode(call: ast.Call) -> str:
    mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
    return mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else "r"


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _files(nodes: list[ast.AST], parents: dict[ast.AST, ast.AST], ctx: Context) -> tuple[set[str], set[str]]:
    """(files read, files written) by string constants (or names holding one) used as paths."""
    reads: set[str] = set()
    writes: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in ctx.constants:
            text = ctx.constants[node.id]
        else:
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.JoinedStr):
            continue
        if isinstance(parent, (ast.List, ast.Tuple)) and isinstance(parents.get(parent), ast.Call):
            parent = parents[parent]  # subprocess.run(["bash", "-c", "..."])
        call = parent if isinstance(parent, ast.Call) else None
        if call is not None and _is_shell(call, ctx):
            for word in _shell_words(text):
                if looks_like_path(word):
                    reads.add(norm_path(word))
                    writes.add(norm_path(word))
            continue
        if not looks_like_path(text):
            continue
        path = norm_path(text)
        if call is not None and _call_name(call) in PATH_CONSTRUCTORS:
            # Path("x").write_text(...) or os.path.join("d", "x"): look at what is done with the path
            outer = parents.get(call)
            if isinstance(outer, ast.Attribute) and isinstance(parents.get(outer), ast.Call):
                method = outer.attr
                writing = method in WRITE_FUNCS or (method == "open" and _open_mode(parents[outer]) != "r")
                (writes if writing else reads).add(path)
                continue
            call = outer if isinstance(outer, ast.Call) else None
        if call is None and isinstance(parent, ast.keyword):
            call = parents.get(parent) if isinstance(parents.get(parent), ast.Call) else None
        if call is None:
            continue
        name = _call_name(call)
        if name == "open":
            mode = _open_mode(call)
            (writes if any(c in mode for c in "wax+") else reads).add(path)
        elif name in WRITE_FUNCS:
            writes.add(path)
        else:
            reads.add(path)
    return reads, writes


def _is_shell(call: ast.Call, ctx: Context) -> bool:
    root, attrs = _chain(call.func)
    dotted = ctx.dotted(root, attrs) if root else None
    return dotted in (
        "subprocess.run",
        "subprocess.call",
        "subprocess.check_call",
        "subprocess.check_output",
        "subprocess.Popen",
        "os.system",
    )


def _shell_words(text: str) -> list[str]:
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    out = []
    for word in words:
        for piece in re.split(r"[<>|;&]+", word):
            if piece and not piece.startswith("-"):
                out.append(piece.split("=", 1)[-1])
    return out


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
        local = _local_only_names(nodes)
        reads = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - local
        compound = isinstance(stmt, (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try))
        facts.uses |= _external_reads(stmt, bound_so_far, int_constants) if compound else reads - bound_so_far
        for name in reads & facts.deferred.keys():  # calling a function this cell defined: its globals now
            facts.uses |= facts.deferred[name] - bound_so_far
        kills, conditional = _kills_and_conditional(stmt, int_constants)
        changes = _changes(nodes, ctx)
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
            )
        if new == ctx.functions:
            break
        ctx.functions = new
    return ctx


# the slice ------------------------------------------------------------------------------------------


@dataclass
class Slice:
    """The outcome: which history entries are kept, and a reason for every entry."""

    kept: list[int]
    omitted: dict[int, str]
    why_kept: dict[int, str]
    needed: dict[int, set[str]]  # kept cell -> the names it was kept for
    facts: list[CellFacts]


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
    return [analyze_cell(i, codes[i] if trees[i] is not None else None, ctx, trees[i]) for i in range(len(codes))]


def slice_history(
    facts: list[CellFacts],
    target: int,
    *,
    external_files: Iterable[str] = (),
    unsure: Iterable[int] = (),
    forced: dict[int, str] | None = None,
    label: dict[int, str] | None = None,
) -> Slice:
    """Keep the cells ``facts[target]`` depends on (see the module docstring).

    ``external_files``: paths that are inputs of the export (their writers are not dependencies).
    ``unsure``: cells that may bind any name (untranslatable magics): kept whenever a needed name passes them.
    ``forced``: cells kept whatever the names say (``%cd``, ``%env``), with the reason.
    """
    label = label or {}
    external = {file_key(p) for p in external_files}
    unsure_set = set(unsure)
    keep: dict[int, str] = {target: "the tracked cell"}
    needed: dict[int, set[str]] = {target: set()}
    work: list[tuple[str, int]] = []
    seen: set[tuple[str, int]] = set()

    def name_of(i: int) -> str:
        return label.get(i, f"#{i + 1}")

    def keep_cell(i: int, why: str, name: str | None) -> None:
        if i not in keep:
            keep[i] = why
            needed[i] = set()
            work.extend((u, i) for u in facts[i].uses)
        if name is not None:
            needed[i].add(name)

    t = facts[target]
    work.extend((u, target) for u in t.uses)
    for names in t.deferred.values():
        work.extend((u, target) for u in names)
    seeded: set[str] = set()
    for i in range(target):
        f = facts[i]
        if f.valid and (f.effects or i in (forced or {})):
            keep_cell(i, (forced or {}).get(i) or f.effects[0], None)
            seeded |= {k for k in f.kills if k.startswith("rng:")}
    work.extend((k, target) for k in seeded)  # libraries draw from a seeded global generator unseen

    while work:
        name, pos = work.pop()
        if (name, pos) in seen or name in external:
            continue
        seen.add((name, pos))
        if name.startswith("rng:"):
            # the order of draws matters only after a seed: without one the run was not reproducible anyway
            seed = next((i for i in range(pos - 1, -1, -1) if name in facts[i].kills), None)
            if seed is None:
                continue
            for i in range(seed, pos):
                if name in facts[i].defines:
                    keep_cell(
                        i,
                        "seeds or draws from the global random generator" if i != seed else "sets the random seed",
                        name,
                    )
            continue
        for i in range(pos - 1, -1, -1):
            f = facts[i]
            if not f.valid:
                continue
            if name in f.defines:
                keep_cell(i, f"defines {_shown(name)}", name)
                if name in f.deferred:
                    work.extend((u, pos) for u in f.deferred[name])  # a function's globals, read when called
                if name in f.kills:
                    break
            elif f.defines_all or i in unsure_set:
                keep_cell(i, f"may define {_shown(name)} (binds names the analysis cannot see)", name)

    kept = sorted(keep)
    omitted: dict[int, str] = {}
    all_needed = {name for name, _ in seen}
    for i in range(target):
        if i in keep:
            continue
        f = facts[i]
        if not f.valid:
            omitted[i] = "not valid Python: it raised SyntaxError when it ran"
            continue
        writes_external = {file_key(p) for p in f.file_writes} & external
        shadowed = sorted(n for n in f.defines & all_needed if not n.startswith(("rng:", "file:")))
        if writes_external:
            files = ", ".join(sorted(k[5:] for k in writes_external))
            omitted[i] = f"writes {files}, an input of this export: produce it upstream"
        elif shadowed:
            later = _later_definer(facts, i, shadowed[0], target)
            where = f" by {name_of(later)}" if later is not None else ""
            pronoun = "them" if len(shadowed) > 1 else "it"
            omitted[i] = f"{_names(shadowed)} redefined{where} before the run uses {pronoun}"
        elif f.defines - {k for k in f.defines if k.startswith("rng:")}:
            names = sorted(n for n in f.defines if not n.startswith("rng:"))
            omitted[i] = f"the run does not use what it defines ({_names(names)})"
        else:
            omitted[i] = "defines nothing (output or display only)"
    return Slice(kept=kept, omitted=omitted, why_kept=keep, needed=needed, facts=facts)


def _later_definer(facts: list[CellFacts], i: int, name: str, target: int) -> int | None:
    for j in range(i + 1, target):
        if name in facts[j].kills:
            return j
    return None


def _shown(name: str) -> str:
    return name[5:] if name.startswith("file:") else name


def _names(names: list[str]) -> str:
    shown = [_shown(n) for n in names]
    return ", ".join(shown[:4]) + (f" and {len(shown) - 4} more" if len(shown) > 4 else "")


def origin_files(facts: list[CellFacts], name: str, pos: int, depth: int = 4) -> set[str]:
    """Files read where ``name`` (as seen at history position ``pos``) got its value, following the names
    that value was computed from a few steps back."""
    found: set[str] = set()
    seen: set[tuple[str, int]] = set()
    frontier = [(name, pos - 1, 0)]  # (name, the last cell to look in, steps taken)
    while frontier:
        current, last, level = frontier.pop()
        if (current, last) in seen or level > depth:
            continue
        seen.add((current, last))
        for i in range(last, -1, -1):
            f = facts[i]
            if not f.valid or current not in f.defines:
                continue
            found |= f.binding_files.get(current, set())
            # the names it was computed from: bound earlier in the same cell, or before it
            frontier.extend((u, i, level + 1) for u in f.binding_uses.get(current, set()))
            if current in f.kills:
                break
    return found
