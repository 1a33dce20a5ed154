"""What calls and assignments change, beyond the names they bind: the objects they mutate
(``df["c"] = ...``, ``model.fit(X)``, passing a name to a function that mutates it), global state no
name shows (random seeds and draws, ``os.chdir``, environment variables, ``sys.path``, library settings),
and the files they read and write."""

from __future__ import annotations

import ast
import builtins
import os
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

from nbtrack.exporting.aliases import PURE_METHODS, bindings, expand, inplace, value_roots
from nbtrack.exporting.scope import (
    Context,
    FunctionSummary,
    _chain,
    _function_scope,
    _params,
    _stored_names,
)

__all__ = ["PURE_METHODS", "file_key", "looks_like_path", "norm_path", "side_effect_calls"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


BUILTIN_NAMES = frozenset(dir(builtins))
NAMESPACE_BUILTINS = frozenset({"exec", "eval", "globals", "locals", "vars", "__import__"})
ARG_MUTATING_BUILTINS = frozenset({"setattr", "delattr", "next"})
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


# calls: mutations and effects --------------------------------------------------------------------


@dataclass
class _Changes:
    mutated: set[str] = field(default_factory=set)
    effects: list[str] = field(default_factory=list)
    rng_uses: set[str] = field(default_factory=set)
    rng_kills: set[str] = field(default_factory=set)
    defines_all: bool = False


def _arg_roots(call: ast.Call, ctx: Context) -> list[tuple[int | str, set[str]]]:
    """(position or keyword, the names the argument's value may be) for each argument that may be a named
    object (``f(x)``, ``f(d["k"])``, ``f((a, b))``)."""
    out: list[tuple[int | str, set[str]]] = []
    for i, arg in enumerate(call.args):
        roots = value_roots(arg.value if isinstance(arg, ast.Starred) else arg, ctx)
        if roots:
            out.append((i, roots))
    for kw in call.keywords:
        roots = value_roots(kw.value, ctx)
        if roots:
            out.append((kw.arg or "**", roots))
    return out


def _all(args: list[tuple[int | str, set[str]]]) -> set[str]:
    return set().union(*(roots for _, roots in args)) if args else set()


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
    args = _arg_roots(call, ctx)
    last = attrs[-1] if attrs else root
    if dotted is not None:  # a module function or an imported name
        _dotted_effects(dotted, changes)
        if attrs and (SEED_RE.match(last) or last in LIBRARY_STATE):
            changes.mutated.add(root)
        if last in ARG_MUTATORS or (last.endswith("_") and not last.startswith("_")):
            changes.mutated |= _all(args)
        if not attrs and root in ctx.functions:
            pass  # a from-imported name shadowed by a user function is handled below
        else:
            return
    if not attrs:
        if root in NAMESPACE_BUILTINS and (local is None):
            changes.defines_all = True
            return
        if root in ARG_MUTATING_BUILTINS:
            changes.mutated |= _all([(pos, roots) for pos, roots in args if pos == 0])
            return
        summary = ctx.functions.get(root)
        if summary is not None:
            for pos, roots in args:
                param = summary.params[pos] if isinstance(pos, int) and pos < len(summary.params) else pos
                if param in summary.mutated_params or pos == "**":
                    changes.mutated |= roots
            changes.mutated |= summary.mutated_globals - {"rng:numpy", "rng:random"}
            changes.rng_uses |= summary.mutated_globals & {"rng:numpy", "rng:random"}
            changes.effects.extend(e for e in summary.effects if e not in changes.effects)
            return
        if root in ctx.classes or root in BUILTIN_NAMES:
            return
        changes.mutated |= _all(args)  # an unknown callable: it may change what it is given
        return
    # A method call on an object (df.plot.<kind>() draws, it does not change df). The object is what the
    # receiver evaluates to: in make_model(3).fit(X) a fresh model, not the function make_model.
    if inplace(call) or (last not in PURE_METHODS and attrs[0] != "plot"):
        receiver = call.func.value if isinstance(call.func, ast.Attribute) else call.func
        changes.mutated |= value_roots(receiver, ctx)
    if last in ARG_MUTATORS:
        changes.mutated |= _all(args)


def side_effect_calls(nodes: Iterable[ast.AST]) -> bool:
    """Whether any call may do more than compute a value: anything but a builtin or a pure method."""
    for node in nodes:
        if isinstance(node, ast.Call):
            root, attrs = _chain(node.func)
            if attrs and attrs[-1] in PURE_METHODS and not inplace(node):
                continue
            if not attrs and root in BUILTIN_NAMES and root not in NAMESPACE_BUILTINS | ARG_MUTATING_BUILTINS:
                continue
            return True
    return False


def _changes(nodes: Iterable[ast.AST], ctx: Context, local: set[str] | None = None) -> _Changes:
    changes = _Changes()
    for node in nodes:
        if isinstance(node, ast.Call):
            _call_changes(node, ctx, changes, local)
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                changes.mutated.add(node.target.id)  # lst += [x] extends the list every alias sees
            for target in targets:
                for part in _assigned_parts(target):
                    root, attrs = _chain(part)
                    if root is None:
                        continue
                    dotted = ctx.dotted(root, attrs) if local is None or root not in local else None
                    if dotted is None:  # d["k"] = v, obj.w = v, f(x).w = v: the object the receiver is
                        changes.mutated |= value_roots(part.value, ctx)
                        continue
                    changes.mutated.add(root)
                    if dotted.startswith("os.environ"):
                        changes.effects.append("sets environment variables")
                    elif dotted.startswith("sys.path"):
                        changes.effects.append("changes the import path")
                    else:
                        changes.effects.append(f"sets library state ({dotted})")
    return changes


def _assigned_parts(target: ast.AST) -> list[ast.Attribute | ast.Subscript]:
    """The subscript and attribute targets of an assignment target (``df["c"]``, ``m.w``, inside tuples)."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return [p for elt in target.elts for p in _assigned_parts(elt)]
    if isinstance(target, ast.Starred):
        return _assigned_parts(target.value)
    return [target] if isinstance(target, (ast.Subscript, ast.Attribute)) else []


def _summarize(fn: ast.FunctionDef | ast.AsyncFunctionDef, ctx: Context) -> FunctionSummary:
    loaded, local, declared = _function_scope(fn)
    body_nodes = [n for stmt in fn.body for n in ast.walk(stmt)]
    params = _params(fn)
    changes = _changes(body_nodes, ctx, local=local - set(params))
    aliases = bindings(fn, ctx, body_nodes)  # x = df; x.drop(inplace=True) inside the body changes df
    mutated = expand(changes.mutated, aliases)
    returned = set().union(
        *(value_roots(n.value, ctx) for n in body_nodes if isinstance(n, ast.Return) and n.value is not None)
    )
    returned = expand(returned, {k: v for k, v in aliases.items() if k in local})  # x = df; return x
    free = (loaded - local) | changes.rng_uses | changes.rng_kills
    mutated_globals = (
        (mutated - local)
        | {n for n in declared if n in _stored_names(body_nodes)}
        | changes.rng_uses
        | changes.rng_kills
    )
    return FunctionSummary(
        params=params,
        free=free,
        mutated_params=mutated & set(params),
        mutated_globals=mutated_globals,
        effects=changes.effects,
        returns={n for n in returned if n in params or n not in local},
    )


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
            method_call = parents.get(outer) if outer is not None else None
            if isinstance(outer, ast.Attribute) and isinstance(method_call, ast.Call):
                method = outer.attr
                writing = method in WRITE_FUNCS or (method == "open" and _open_mode(method_call) != "r")
                (writes if writing else reads).add(path)
                continue
            call = outer if isinstance(outer, ast.Call) else None
        if call is None and isinstance(parent, ast.keyword):
            keyword_call = parents.get(parent)
            call = keyword_call if isinstance(keyword_call, ast.Call) else None
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
