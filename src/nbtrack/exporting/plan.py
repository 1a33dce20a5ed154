"""The plan of an export: which cells of a run's execution history are kept (and why the others are not),
the params that become the command line, the data checks and the requirements. Nothing is written here.

The source is the run's recorded execution history: every cell the kernel ran, in the order it ran them,
up to and including the tracked cell, including cells since edited or deleted; never the notebook file.
Each cell is turned into plain Python (:mod:`nbtrack.exporting.magics_to_python`), then cut down to the
cells the tracked cell depends on (:mod:`nbtrack.exporting.slicing`).
"""

from __future__ import annotations

import argparse
import ast
import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

from nbtrack.capture.params import is_plain_literal, literal_params
from nbtrack.errors import ExportError
from nbtrack.exporting import defuse, failed, magics_to_python, slicing, sweep
from nbtrack.exporting.effects import norm_path
from nbtrack.exporting.requirements import requirements
from nbtrack.run import Run

IPYTHON_ONLY_NAMES = frozenset({"In", "Out", "_ih", "_oh", "_dh", "_i", "_ii", "_iii", "__", "___", "get_ipython"})
_IPYTHON_HISTORY_RE = re.compile(r"^_(i)?\d+$")
DATA_KINDS = frozenset({"dataframe", "series", "index", "ndarray"})
FILE_KINDS = frozenset({"file", "directory"})


@dataclass
class CellPlan:
    index: int
    label: str  # In[n]
    source: str  # as the user wrote it
    translation: magics_to_python.Translation
    code: str  # plain Python to emit
    other_run: bool = False  # an earlier %%track cell: its nbtrack.log_* calls need a sink
    note: str | None = None  # what the script runs differently from the cell as written (it raised...)
    guards: list[str] = field(default_factory=list)  # runtime calls emitted before the cell


@dataclass(frozen=True)
class Omitted:
    """An executed cell the export leaves out, why, and how suspicious leaving it out is.

    ``suspicion`` ranks what a verifier should add back first when the script's metrics differ (see
    :data:`nbtrack.exporting.slicing.SUSPICION`): a cell that mutates or aliases a name the run reads beats
    one that calls functions with possible side effects, which beats one that only rebinds names. Unpacks
    as ``(label, first_line, reason)``, the tuple earlier releases used."""

    index: int  # position in the run's history (what plan_export(include=) takes)
    label: str  # In[n]
    first_line: str
    reason: str
    suspicion: int = 0

    def __iter__(self) -> Iterator[str]:
        return iter((self.label, self.first_line, self.reason))

    def __getitem__(self, i: int) -> str:
        return (self.label, self.first_line, self.reason)[i]


@dataclass
class Plan:
    """Everything the targets render: which cells, with which params, guards and requirements."""

    run: Run
    cells: list[CellPlan]  # the kept cells, the tracked cell last
    omitted: list[Omitted]  # history order; unpacks as (label, first line, reason)
    history_len: int
    params: dict[str, Any]  # CLI params: name -> the run's value
    constant_params: dict[str, Any]  # other recorded params the script logs as they were
    param_names: list[str]  # %%track -p NAME: read from the namespace
    metrics: list[str]  # %%track -m NAME
    inputs: dict[str, dict[str, Any]]  # in-memory inputs checked at the tracked cell
    files: list[dict[str, Any]]  # data files: {"name", "path", "hash", "algorithm"}
    requirements: list[str]
    helpers: set[str]
    needs_display: bool
    params_var: str
    track_line: str
    options: argparse.Namespace
    slice: bool
    included: list[int] = field(default_factory=list)  # history indices added back with include=

    @property
    def suspects(self) -> list[Omitted]:
        """The omitted cells worth adding back, most suspicious first (history order among equals)."""
        return sorted((o for o in self.omitted if o.suspicion > 0), key=lambda o: (-o.suspicion, o.index))

    @property
    def slug(self) -> str:
        return _slug(self.run.name or "run")


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_").lower()[:40]
    if not slug or slug[0].isdigit():
        slug = f"run_{slug}".rstrip("_")
    return slug


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            text = line.strip()
            return text if len(text) <= 60 else text[:57] + "..."
    return "(empty)"


class _TrackLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def _track_options(line: str) -> argparse.Namespace:
    """The options of a ``%%track`` line, as the magic declares them (``-p`` and ``-m`` shape the script).

    Read here rather than with the magic's own parser so that exporting never imports the magic, IPython
    and the panel behind it; an option added to the magic later is skipped, not an error."""
    parser = _TrackLineParser(prog="%%track", add_help=False)
    parser.add_argument("--name", "-n")
    parser.add_argument("--experiment", "-e")
    for option, short in (("--tag", "-t"), ("--param", "-p"), ("--metric", "-m"), ("--data", "-d")):
        parser.add_argument(option, short, action="append", default=[])
    parser.add_argument("--quiet", "-q", action="store_true")
    try:
        options, _unknown = parser.parse_known_args(shlex.split(line))
    except ValueError as exc:
        raise ExportError(f"cannot read the %%track options {line!r}: {exc}") from None
    return options


def _top_level_names(tree: ast.Module) -> set[str]:
    """Names a cell binds at its top level (what IPython's ``$name`` expansion can see afterwards)."""
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in stmt.names}
        else:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
            for target in targets:
                if target is not None:
                    names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def _parse(translation: magics_to_python.Translation) -> ast.Module | None:
    if translation.tree is None and translation.code is not None:
        try:
            translation.tree = ast.parse(translation.code)
        except (SyntaxError, ValueError):
            translation.code = None
    return translation.tree


def _translate_history(history: list[str]) -> list[magics_to_python.Translation]:
    """Translate every cell; ``$name``/``{expr}`` in shell commands expand only over names bound before."""
    out = []
    known: set[str] = set()
    for source in history:
        expands = ("$" in source or "{" in source) and ("!" in source or "%" in source)
        translation = magics_to_python.translate(source, set(known) if expands else None)
        out.append(translation)
        tree = _parse(translation)
        if tree is not None:
            known |= _top_level_names(tree)
    return out


def _resolve_run(run: Run | str, store: Any = None) -> Run:
    if isinstance(run, Run):
        return run
    from nbtrack.query.search import get_run
    from nbtrack.store.local import get_store

    st = get_store(store)
    return get_run(st.resolve(str(run)), store=st)  # resolve() validates the id before any use


def plan_export(run: Run | str, *, slice: bool = True, store: Any = None, include: Iterable[int] = ()) -> Plan:
    """Analyse a run's history: kept and omitted cells, params, guards and requirements (nothing written).

    ``include``: history indices (``Omitted.index``) to keep although the slice omits them, with what they
    depend on: how a verifier widens a slice whose script did not reproduce the run."""
    run = _resolve_run(run, store)
    history = run.history
    if not history:
        how = "a `with nbtrack.track()` block outside a notebook cell" if run.source == "api" else "an older nbtrack"
        raise ExportError(
            f"run {run.id} has no recorded execution history (it was recorded by {how}); only runs of "
            "%%track cells and of `with nbtrack.track()` blocks in notebook cells can be exported"
        )
    raw_target = history[-1]
    if run.cell_block is None and not raw_target.lstrip().startswith("%%track"):
        raise ExportError(f"the last history entry of run {run.id} is not its %%track cell")
    offset = (run.doc.get("execution_count") or len(history)) - len(history)

    def label(i: int) -> str:
        return f"In[{i + 1 + offset}]"

    translations = _translate_history(history)
    target = len(history) - 1
    if run.cell_block is not None:  # a `with nbtrack.track()` block in a cell, e.g. one run of a sweep
        sweep.reduce_translation(translations[target], run.cell_block)
    raised = _cut_failed_cells(run, translations, target)
    target_tr = translations[target]
    if target_tr.code is None or target_tr.track_line is None:
        raise ExportError(f"{label(target)}: the tracked cell is not valid Python after translation")
    options = _track_options(target_tr.track_line)

    codes = [t.code for t in translations]
    facts = defuse.analyze_history(codes, [t.tree for t in translations])
    for f, t in zip(facts, translations, strict=True):
        f.uses -= t.helpers  # os/subprocess used by translated magics come from the script's own imports
    forced = {
        i: ("changes the working directory" if "cwd" in t.effects else "sets environment variables")
        for i, t in enumerate(translations[:target])
        if t.effects & {"cwd", "env"}
    }
    unsure = [i for i, t in enumerate(translations[:target]) if t.problems or "namespace" in t.effects]
    included = sorted({i for i in include if 0 <= i < target and facts[i].valid})
    forced.update((i, "added back (include=)") for i in included if i not in forced)

    # data inputs as the run recorded them
    files: list[dict[str, Any]] = []
    inputs: dict[str, dict[str, Any]] = {}
    for key, record in run.data.items():
        kind = record.get("kind")
        if kind in FILE_KINDS and record.get("path") and record.get("hash"):
            files.append(
                {"name": key, "path": record["path"], "hash": record["hash"], "algorithm": record.get("algorithm")}
            )
        elif kind in DATA_KINDS and key.isidentifier() and record.get("hash"):
            inputs[key] = {"hash": record["hash"], "algorithm": record.get("algorithm")}
    external = {f["path"] for f in files}

    labels = {i: label(i) for i in range(len(history))}
    if slice:
        cut = slicing.slice_history(facts, target, external_files=external, unsure=unsure, forced=forced, label=labels)
        for key, info in inputs.items():
            origins = sorted(slicing.origin_files(facts, key, target))
            if origins:
                info["origin"] = ", ".join(origins)
                external |= set(origins)
        if external != {f["path"] for f in files}:
            cut = slicing.slice_history(
                facts, target, external_files=external, unsure=unsure, forced=forced, label=labels
            )
        kept = cut.kept
        omitted_reasons = cut.omitted
        suspicion = cut.suspicion
    else:
        suspicion = {}
        kept = [i for i in range(len(history)) if facts[i].valid and not translations[i].only_requirements]
        omitted_reasons = {
            i: "not valid Python: it raised SyntaxError when it ran" for i in range(target) if not facts[i].valid
        }
    for i in range(target):
        if translations[i].only_requirements and i not in kept:
            omitted_reasons[i] = "installs packages: now requirements.txt entries"
        elif i in raised and i not in kept:
            error = raised[i][0]
            reason = omitted_reasons.get(i, "")
            omitted_reasons[i] = (
                f"raised {error} in the kernel before it defined anything"
                if not reason or reason.startswith("defines nothing")
                else f"raised {error} in the kernel; {reason}"
            )
    for info in inputs.values():
        info["strict"] = "origin" in info

    _check_translatable(kept, translations, facts, labels, run)

    # params: the tracked cell's literal assignments become the command line
    tree = ast.parse(target_tr.code)
    literals = literal_params(tree)
    recorded = run.params
    cli_params = {
        name: recorded.get(name, value)
        for name, value in literals.items()
        if is_plain_literal(recorded.get(name, value))
    }
    var_params = [item for item in options.param if "=" not in item]
    body, cli_params = _replace_param_assignments(target_tr.code, tree, cli_params, "PARAMS")
    constant_params = {
        k: v for k, v in recorded.items() if k not in cli_params and k not in var_params and is_plain_literal(v)
    }
    used_names = set().union(*(f.uses | f.defines for f in facts if f.valid))
    params_var = "PARAMS" if "PARAMS" not in used_names else "NBTRACK_PARAMS"
    if params_var != "PARAMS":
        body, _ = _replace_param_assignments(target_tr.code, tree, cli_params, params_var)

    cells: list[CellPlan] = []
    for i in kept:
        t = translations[i]
        code = body if i == target else (t.code or "")
        cells.append(
            CellPlan(
                index=i,
                label=label(i),
                source=history[i],
                translation=t,
                code=code,
                other_run=i != target and t.track_line is not None,
                note=raised[i][1] if i in raised else None,
            )
        )
    _place_file_guards(cells, files, facts, run)

    helpers = set().union(*(translations[i].helpers for i in kept)) if kept else set()
    defined = set().union(*(f.defines for f in facts if f.valid))
    needs_display = "display" not in defined and any(
        isinstance(n, ast.Name) and n.id == "display" for i in kept for n in ast.walk(ast.parse(codes[i] or ""))
    )
    imports = set().union(*(facts[i].imports for i in kept if facts[i].valid))
    pip = [req for i in range(target) for req in translations[i].requirements]
    omitted = [
        Omitted(
            index=i,
            label=label(i),
            first_line=_first_line(history[i]),
            reason=omitted_reasons.get(i, "not needed by the run"),
            suspicion=suspicion.get(i, 0),
        )
        for i in range(target)
        if i not in kept
    ]
    return Plan(
        run=run,
        cells=cells,
        omitted=omitted,
        history_len=len(history),
        params=cli_params,
        constant_params=constant_params,
        param_names=[p for p in var_params if p not in cli_params],
        metrics=list(options.metric),
        inputs=inputs,
        files=files,
        requirements=requirements(imports | (helpers & {"matplotlib"}), run.env.get("packages"), pip),
        helpers=helpers,
        needs_display=needs_display,
        params_var=params_var,
        track_line=target_tr.track_line,
        options=options,
        slice=slice,
        included=included,
    )


def _cut_failed_cells(run: Run, translations: list[Any], target: int) -> dict[int, tuple[str, str]]:
    """Replace the code of each history cell that raised by the part that ran (:mod:`failed`); returns
    index -> (the error's class, the note for the script)."""
    raised: dict[int, tuple[str, str]] = {}
    for failure in run.history_failed:
        i = failure.get("index") if isinstance(failure, dict) else None
        if not isinstance(i, int) or not 0 <= i < target or translations[i].code is None:
            continue
        t = translations[i]
        try:
            code, note = failed.ran_part(t.code, t.source, failure)
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            continue
        t.code, t.tree = code, tree
        raised[i] = (str(failure.get("error") or "an error"), note)
    return raised


def _check_translatable(
    kept: list[int], translations: list[Any], facts: list[Any], labels: dict[int, str], run: Run
) -> None:
    """Fail with every problem of the kept cells: untranslatable magics, IPython-only names, top-level await."""
    problems: list[str] = []
    defined = set().union(*(f.defines for f in facts if f.valid))
    for i in kept:
        t = translations[i]
        for p in t.problems:
            problems.append(f"{labels[i]} line {p.line}: `{p.text}`: {p.reason}")
        if t.code is None:
            problems.append(f"{labels[i]}: not valid Python")
            continue
        tree = ast.parse(t.code)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Name)
                and isinstance(node.ctx, ast.Load)
                and node.id not in defined
                and (node.id in IPYTHON_ONLY_NAMES or _IPYTHON_HISTORY_RE.match(node.id))
            ):
                if node.id == "get_ipython" and any(p.text.startswith("get_ipython") for p in t.problems):
                    continue
                problems.append(
                    f"{labels[i]} line {node.lineno}: `{node.id}` is IPython's input/output history, "
                    "which a script does not have"
                )
        if _top_level_await(tree):
            problems.append(f"{labels[i]}: top-level `await` runs only in a kernel")
    if problems:
        listed = "\n  ".join(problems)
        raise ExportError(
            f"cannot export run {run.id}: cells it depends on use IPython features that have no "
            f"plain-Python form:\n  {listed}"
        )


def _top_level_await(tree: ast.Module) -> bool:
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Await, ast.AsyncFor, ast.AsyncWith)):
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


def _replace_param_assignments(
    code: str, tree: ast.Module, params: dict[str, Any], params_var: str
) -> tuple[str, dict[str, Any]]:
    """The tracked cell with the last literal assignment of each param reading ``PARAMS[name]`` instead.

    A param bound together with a non-param in one statement stays as written, and off the command line.
    """
    last: dict[str, ast.Assign | ast.AnnAssign] = {}
    for stmt in tree.body:
        if not isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            continue
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if stmt.value is not None else []
        for name in {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}:
            if name in params:
                last[name] = stmt
    kept_params = dict(params)
    replacements: dict[int, tuple[ast.stmt, list[str]]] = {}
    for name, stmt in last.items():
        names = [
            n.id
            for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
            for n in ast.walk(t)
            if isinstance(n, ast.Name)
        ]
        if all(n in params for n in names) and isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            replacements[id(stmt)] = (stmt, list(dict.fromkeys(names)))
        else:
            kept_params.pop(name, None)
    for name in list(kept_params):
        if name not in last:
            kept_params.pop(name)
    lines = code.splitlines(keepends=True)
    for stmt, names in sorted(replacements.values(), key=lambda item: item[0].lineno, reverse=True):
        names = [n for n in names if n in kept_params]
        if not names:
            continue
        text = "; ".join(f"{n} = {params_var}[{n!r}]" for n in names)
        first = lines[stmt.lineno - 1]
        indent = first[: len(first) - len(first.lstrip())]
        end = stmt.end_lineno or stmt.lineno
        tail = lines[end - 1].encode("utf-8")[stmt.end_col_offset or 0 :].decode("utf-8")
        lines[stmt.lineno - 1 : end] = [indent + text + (tail if tail.strip() else "\n")]
    return "".join(lines), kept_params


def _place_file_guards(cells: list[CellPlan], files: list[dict[str, Any]], facts: list[Any], run: Run) -> None:
    """Every data check runs before any user code: on the first kept cell, unless a kept cell writes the file
    (then just after that writer). The files the tracked cell opened for reading (``Run.files_read``: paths the
    code may compute at run time) join ``files`` and are checked first too."""
    from nbtrack.data.encoding import ALGORITHM

    known = {norm_path(f["path"]) for f in files}
    for path, digest in sorted(run.files_read.items()):
        if norm_path(path) not in known and isinstance(digest, str):
            files.append({"name": path, "path": path, "hash": digest, "algorithm": ALGORITHM})
    for info in files:
        path = norm_path(info["path"])
        where = cells[0]
        for n, cell in enumerate(cells[:-1]):
            if path in facts[cell.index].file_writes:
                where = cells[n + 1]
                break
        where.guards.append(info["name"])
