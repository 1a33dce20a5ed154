"""Export a run to a runnable script, a parameterized notebook or a DVC stage, built from the code that ran.

The source is the run's recorded execution history: every cell the kernel ran, in the order it ran them,
up to and including the tracked cell, including cells since edited or deleted; never the notebook file.
Each cell is turned into plain Python (:mod:`nbtrack.exporting.magics_to_python`), then cut down to the cells the
tracked cell depends on (:mod:`nbtrack.exporting.slicing`). The script that comes out:

- takes the run's params from one block at the top: a typed command line with the run's values as
  defaults (``--help`` lists them), also readable from the ``params.yaml`` written beside it; the tracked
  cell's literal assignments of those params read them from there;
- checks each data file the run fingerprinted, and each in-memory input read from a file, against the
  recorded hash before use (``--allow-data-change`` makes a mismatch a warning);
- records a run of its own (tagged ``exported_from``) and prints the final metrics as one JSON object on
  the last line of stdout, so pipeline runs sit beside notebook runs in a comparison.

``requirements.txt`` pins the packages the kept code imports to the versions recorded with the run.
"""

from __future__ import annotations

import ast
import contextlib
import json
import math
import os
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbtrack.capture.params import is_plain_literal, literal_params
from nbtrack.errors import ExportError
from nbtrack.exporting import magics_to_python, slicing
from nbtrack.run import Run

TARGETS = ("script", "notebook", "dvc")
RUNTIME_ALIAS = "nbtrack_export"
IPYTHON_ONLY_NAMES = frozenset({"In", "Out", "_ih", "_oh", "_dh", "_i", "_ii", "_iii", "__", "___", "get_ipython"})
_IPYTHON_HISTORY_RE = re.compile(r"^_(i)?\d+$")
DATA_KINDS = frozenset({"dataframe", "series", "index", "ndarray"})
FILE_KINDS = frozenset({"file", "directory"})
# Import names whose distribution name differs, used when packages_distributions() cannot tell (the package
# is not installed where the export runs) or to spare its cost.
KNOWN_DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "yaml": "PyYAML",
    "PIL": "Pillow",
    "cv2": "opencv-python",
    "bs4": "beautifulsoup4",
    "skimage": "scikit-image",
    "dateutil": "python-dateutil",
    "dotenv": "python-dotenv",
    "jwt": "PyJWT",
}


# planning --------------------------------------------------------------------------------------------------


@dataclass
class CellPlan:
    index: int
    label: str  # In[n]
    source: str  # as the user wrote it
    translation: magics_to_python.Translation
    code: str  # plain Python to emit
    other_run: bool = False  # an earlier %%track cell: its nbtrack.log_* calls need a sink
    guards: list[str] = field(default_factory=list)  # runtime calls emitted before the cell


@dataclass
class Plan:
    """Everything the targets render: which cells, with which params, guards and requirements."""

    run: Run
    cells: list[CellPlan]  # the kept cells, the tracked cell last
    omitted: list[tuple[str, str, str]]  # (label, first line, reason)
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
    options: Any
    slice: bool

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


def _track_options(line: str) -> Any:
    from IPython.core.error import UsageError

    from nbtrack.capture.magic import TrackMagics

    try:
        return TrackMagics.track.parser.parse_args(shlex.split(line))
    except (UsageError, ValueError, SystemExit) as exc:
        raise ExportError(f"cannot read the %%track options {line!r}: {exc}") from None


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


def plan_export(run: Run | str, *, slice: bool = True, store: Any = None) -> Plan:
    """Analyse a run's history: kept and omitted cells, params, guards and requirements (nothing written)."""
    run = _resolve_run(run, store)
    history = run.history
    if not history:
        how = "a `with nbtrack.track()` block" if run.doc.get("source") == "api" else "an older nbtrack"
        raise ExportError(
            f"run {run.id} has no recorded execution history (it was recorded by {how}); only runs of "
            "%%track cells can be exported"
        )
    raw_target = history[-1]
    if not raw_target.lstrip().startswith("%%track"):
        raise ExportError(f"the last history entry of run {run.id} is not its %%track cell")
    offset = (run.doc.get("execution_count") or len(history)) - len(history)

    def label(i: int) -> str:
        return f"In[{i + 1 + offset}]"

    translations = _translate_history(history)
    target = len(history) - 1
    target_tr = translations[target]
    if target_tr.code is None or target_tr.track_line is None:
        raise ExportError(f"{label(target)}: the tracked cell is not valid Python after translation")
    options = _track_options(target_tr.track_line)

    codes = [t.code for t in translations]
    facts = slicing.analyze_history(codes, [t.tree for t in translations])
    for f, t in zip(facts, translations, strict=True):
        f.uses -= t.helpers  # os/subprocess used by translated magics come from the script's own imports
    forced = {
        i: ("changes the working directory" if "cwd" in t.effects else "sets environment variables")
        for i, t in enumerate(translations[:target])
        if t.effects & {"cwd", "env"}
    }
    unsure = [i for i, t in enumerate(translations[:target]) if t.problems or "namespace" in t.effects]

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
    else:
        kept = [i for i in range(len(history)) if facts[i].valid and not translations[i].only_requirements]
        omitted_reasons = {
            i: "not valid Python: it raised SyntaxError when it ran" for i in range(target) if not facts[i].valid
        }
    for i in range(target):
        if translations[i].only_requirements and i not in kept:
            omitted_reasons[i] = "installs packages: now requirements.txt entries"
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
            )
        )
    _place_file_guards(cells, files, facts)

    helpers = set().union(*(translations[i].helpers for i in kept)) if kept else set()
    defined = set().union(*(f.defines for f in facts if f.valid))
    needs_display = "display" not in defined and any(
        isinstance(n, ast.Name) and n.id == "display" for i in kept for n in ast.walk(ast.parse(codes[i] or ""))
    )
    imports = set().union(*(facts[i].imports for i in kept if facts[i].valid))
    pip = [req for i in range(target) for req in translations[i].requirements]
    omitted = [
        (label(i), _first_line(history[i]), omitted_reasons.get(i, "not needed by the run"))
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
    )


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
    last: dict[str, ast.stmt] = {}
    for stmt in tree.body:
        targets: list[ast.expr] = []
        if isinstance(stmt, ast.Assign):
            targets = stmt.targets
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets = [stmt.target]
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


def _place_file_guards(cells: list[CellPlan], files: list[dict[str, Any]], facts: list[Any]) -> None:
    """Each data file is checked just before the first kept cell that reads it, else before the tracked cell."""
    for info in files:
        path = slicing.norm_path(info["path"])
        where = cells[-1]
        for cell in cells[:-1]:
            f = facts[cell.index]
            if path in f.file_reads or path in f.file_writes or info["path"] in cell.code:
                where = cell
                break
        where.guards.append(info["name"])


# requirements ------------------------------------------------------------------------------------------------


def _norm_dist(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_dist_map: dict[str, list[str]] | None = None


def _packages_distributions() -> dict[str, list[str]]:
    global _dist_map
    if _dist_map is None:
        from importlib import metadata

        try:
            _dist_map = dict(metadata.packages_distributions())
        except Exception:
            _dist_map = {}
    return _dist_map


def requirements(imports: set[str], recorded: dict[str, str] | None, pip: list[str]) -> list[str]:
    """requirements.txt lines: the distributions of the imported packages (and of ``%pip install``s), pinned to
    the versions recorded with the run; a comment for an import no installed distribution provides."""
    recorded = recorded or {}
    versions = {_norm_dist(k): (k, v) for k, v in recorded.items()}
    lines: dict[str, str] = {}
    comments: list[str] = []

    def add(dist: str, spec: str | None = None) -> None:
        key = _norm_dist(dist)
        if key in lines:
            return
        name, version = versions.get(key, (dist, None))
        if spec and re.search(r"[<>=!~@]", spec):
            lines[key] = spec
        else:
            lines[key] = f"{name}=={version}" if version else name

    for module in sorted(imports | {"nbtrack"}):
        if module in sys.stdlib_module_names or module.startswith("_") or module == "__future__":
            continue
        if _norm_dist(module) in versions:
            add(module)
        elif module in KNOWN_DISTRIBUTIONS:
            add(KNOWN_DISTRIBUTIONS[module])
        else:
            dists = _packages_distributions().get(module)
            if dists:
                add(sorted(dists)[0])
            elif module == "nbtrack":
                from nbtrack import __version__

                lines["nbtrack"] = f"nbtrack=={__version__}"
            else:
                comments.append(f"# {module}: imported, but no installed distribution provides it (a local module?)")
    for spec in pip:
        name = re.split(r"[<>=!~\[@; ]", spec, maxsplit=1)[0]
        if name:
            add(name, spec)
    return sorted(lines.values(), key=str.lower) + comments


# rendering ---------------------------------------------------------------------------------------------------


def _py(value: Any) -> str:
    """A Python literal for a param value (non-finite floats included)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    return repr(value)


def _dict_literal(values: dict[str, Any], indent: str) -> str:
    if not values:
        return "{}"
    items = "".join(f"{indent}    {k!r}: {_py(v)},\n" for k, v in values.items())
    return "{\n" + items + indent + "}"


def _oneline(text: str) -> str:
    """User text (a run name) safe inside a comment or docstring line."""
    return re.sub(r"\s+", " ", str(text)).strip()[:200]


def _header(plan: Plan, target: str) -> list[str]:
    run = plan.run
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(run.start_time)) if run.start_time else "?"
    name = f'"{_oneline(run.name)}"' if run.name else "(unnamed)"
    kept = " ".join(c.label for c in plan.cells)
    lines = [
        f"Exported by nbtrack from run {run.id}: {name} in experiment {_oneline(run.experiment)!r}, recorded {when}.",
        "",
        "Built from the kernel's execution history (the cells in the order they ran, including cells since",
        "edited or deleted), not from the notebook file. Run it from the directory the notebook ran in:",
        "relative data paths resolve against the working directory, as they did there.",
        "",
    ]
    if target != "notebook":
        lines += [
            "The params below are a command line (--help lists them; the run's values are the defaults), also",
            "read from a YAML file with --params params.yaml. Data files are checked against the hashes the",
            "run recorded; --allow-data-change turns a mismatch into a warning. The script records a run of",
            "its own (tag exported_from) and prints the final metrics as JSON on the last line of stdout.",
            "",
        ]
    lines.append(
        f"Kept {len(plan.cells)} of {plan.history_len} executed cells{'' if plan.slice else ' (no slicing)'}: {kept}"
    )
    if plan.omitted:
        lines.append("Omitted:")
        for label, first, reason in plan.omitted:
            lines.append(f"  {label}  {first}")
            lines.append(f"      -> {reason}")
    return lines


def _guard_lines(plan: Plan, cell: CellPlan) -> list[str]:
    out = []
    for name in cell.guards:
        info = next(f for f in plan.files if f["name"] == name)
        named = f", name={name!r}" if name != info["path"] else ""
        out.append(
            f"{RUNTIME_ALIAS}.check_file({info['path']!r}, {info['hash']!r}{named}, "
            f"algorithm={info['algorithm']!r}, source_run={plan.run.id!r})"
        )
    return out


def _start_lines(plan: Plan) -> list[str]:
    run = plan.run
    tags = {k: v for k, v in run.tags.items() if k != "exported_from" and is_plain_literal(v)}
    params = (
        f"{{**{plan.params_var}, **{_dict_literal(plan.constant_params, '    ')}}}"
        if plan.constant_params
        else plan.params_var
    )
    lines = [
        f"{RUNTIME_ALIAS}.start_run(",
        "    globals(),",
        f"    source_run={run.id!r},",
        f"    name={run.name!r},",
        f"    experiment={run.experiment!r},",
        f"    params={params},",
    ]
    if tags:
        lines.append(f"    tags={_dict_literal(tags, '    ')},")
    if plan.inputs:
        lines.append("    inputs={")
        for key, info in plan.inputs.items():
            lines.append(
                f"        {key!r}: {json.dumps(info, sort_keys=True)},".replace(": true", ": True")
                .replace(": false", ": False")
                .replace(": null", ": None")
            )
        lines.append("    },")
    if plan.param_names:
        lines.append(f"    param_names={plan.param_names!r},")
    lines.append(")")
    return lines


def _finish_line(plan: Plan) -> str:
    metrics = f", metrics={plan.metrics!r}" if plan.metrics else ""
    return f"{RUNTIME_ALIAS}.finish_run(globals(){metrics})"


def _cell_title(plan: Plan, cell: CellPlan, last: bool) -> str:
    if last:
        title = f"# {cell.label}: the tracked cell (%%track {plan.track_line.strip()})".rstrip()
    elif cell.other_run:
        title = f"# {cell.label}: a %%track cell of another run (its nbtrack.log_* calls go nowhere here)"
    else:
        title = f"# {cell.label}"
    return title + " " + "-" * max(3, 100 - len(title)) if len(title) < 97 else title


def _cell_body(plan: Plan, cell: CellPlan, last: bool) -> list[str]:
    lines: list[str] = []
    lines += _guard_lines(plan, cell)
    if last:
        lines += _start_lines(plan)
    elif cell.other_run:
        lines.append(f"{RUNTIME_ALIAS}.begin_other_run()")
    code = cell.code.rstrip("\n")
    lines += code.splitlines() if code.strip() else ["pass"]
    if last:
        lines.append(_finish_line(plan))
    elif cell.other_run:
        lines.append(f"{RUNTIME_ALIAS}.end_other_run()")
    return lines


def _helper_imports(plan: Plan) -> list[str]:
    return [f"import {m}" for m in sorted(plan.helpers & set(magics_to_python.HELPER_MODULES))]


def render_script(plan: Plan) -> str:
    """The exported script's text."""
    title = f"{_oneline(plan.run.name or 'run')}: exported by nbtrack from run {plan.run.id}"
    title = title.replace("\\", "\\\\").replace('"', '\\"')
    out = ["#!/usr/bin/env python3", f'"""{title}."""', ""]
    out += [f"# {line}".rstrip() for line in _header(plan, "script")]
    out.append("")
    out += _helper_imports(plan)
    out.append(f"from nbtrack import export_runtime as {RUNTIME_ALIAS}")
    if plan.needs_display:
        out.append(f"display = {RUNTIME_ALIAS}.display  # IPython's display(): prints in a script")
    out.append("")
    out.append("# The run's params: override them on the command line (--help) or with --params params.yaml.")
    out.append(f"{plan.params_var} = {RUNTIME_ALIAS}.parameters(")
    out.append(f"    {_dict_literal(plan.params, '    ')},")
    out.append("    description=__doc__,")
    out.append(")")
    for n, cell in enumerate(plan.cells):
        last = n == len(plan.cells) - 1
        out += ["", "", _cell_title(plan, cell, last)]
        out += _cell_body(plan, cell, last)
    return "\n".join(out) + "\n"


def render_notebook(plan: Plan) -> Any:
    """The exported notebook: a ``parameters`` cell (papermill injects its values after it), then the cells."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    header = "\n".join(_header(plan, "notebook"))
    nb.cells.append(
        nbformat.v4.new_markdown_cell(
            f"# {_oneline(plan.run.name or 'run')}: exported by nbtrack\n\n" + header.replace("\n", "  \n")
        )
    )
    param_lines = [f"{k} = {_py(v)}" for k, v in plan.params.items()]
    param_lines.append("allow_data_change = False  # True: a data file that changed only warns")
    cell = nbformat.v4.new_code_cell("\n".join(param_lines))
    cell.metadata["tags"] = ["parameters"]
    nb.cells.append(cell)
    setup = [
        *_helper_imports(plan),
        f"from nbtrack import export_runtime as {RUNTIME_ALIAS}",
        "",
        f"{plan.params_var} = {RUNTIME_ALIAS}.parameters(",
        "    {" + ", ".join(f"{k!r}: {k}" for k in plan.params) + "},",
        "    cli=False,",
        "    allow_data_change=allow_data_change,",
        ")",
    ]
    nb.cells.append(nbformat.v4.new_code_cell("\n".join(setup)))
    for n, c in enumerate(plan.cells):
        last = n == len(plan.cells) - 1
        nb.cells.append(nbformat.v4.new_code_cell("\n".join([_cell_title(plan, c, last), *_cell_body(plan, c, last)])))
    return nb


def _yaml_value(value: Any) -> str:
    """YAML (flow style, JSON-compatible) for a param value, readable by YAML 1.1 and 1.2 parsers alike."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {_yaml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def render_params_yaml(plan: Plan) -> str:
    name = _oneline(plan.run.name or "unnamed")
    lines = [
        f"# Params of run {plan.run.id} ({name}), read by the exported script with",
        "# --params params.yaml; command-line options override them.",
    ]
    lines += [f"{json.dumps(k) if not k.isidentifier() else k}: {_yaml_value(v)}" for k, v in plan.params.items()]
    return "\n".join(lines) + "\n"


def render_requirements(plan: Plan) -> str:
    head = [f"# Packages the exported code imports, pinned to the versions recorded with run {plan.run.id}."]
    return "\n".join(head + plan.requirements) + "\n"


def _q(text: str) -> str:
    """A YAML scalar: plain when safe, else double-quoted (JSON)."""
    return (
        text if re.fullmatch(r"[A-Za-z0-9_./-][A-Za-z0-9_./ -]*", text) and not text.endswith(" ") else json.dumps(text)
    )


def render_dvc(plan: Plan, folder: Path, script: Path) -> str:
    """A dvc.yaml with one stage running the script; paths relative to its ``wdir`` (where the notebook ran)."""
    cwd = plan.run.env.get("cwd")
    workdir = Path(cwd) if cwd and Path(cwd).is_dir() else folder
    wdir = os.path.relpath(workdir, folder)

    def rel(p: Path) -> str:
        return Path(os.path.relpath(p, workdir)).as_posix()

    params_file = rel(folder / "params.yaml")
    metrics_file = rel(folder / "metrics.json")
    cmd = f"python {rel(script)} --params {params_file} --metrics-file {metrics_file}"
    lines = ["stages:", f"  {plan.slug}:", f"    cmd: {_q(cmd)}"]
    if wdir != ".":
        lines.append(f"    wdir: {_q(Path(wdir).as_posix())}")
    lines.append("    deps:")
    lines.append(f"      - {_q(rel(script))}")
    for info in plan.files:
        lines.append(f"      - {_q(Path(info['path']).as_posix())}")
    for info in plan.inputs.values():
        for origin in (info.get("origin") or "").split(", "):
            if origin and all(origin != f["path"] for f in plan.files):
                lines.append(f"      - {_q(Path(origin).as_posix())}")
    if plan.params:
        lines.append("    params:")
        lines.append(f"      - {_q(params_file)}:")
        lines += [f"          - {_q(k)}" for k in plan.params]
    lines += ["    metrics:", f"      - {_q(metrics_file)}:", "          cache: false"]
    return "\n".join(lines) + "\n"


# the public entry points ------------------------------------------------------------------------------------


def _default_name(plan: Plan, suffix: str) -> str:
    return f"{plan.slug}-{plan.run.id}{suffix}"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def export(
    run: Run | str,
    to: str = "script",
    path: str | os.PathLike[str] | None = None,
    slice: bool = True,
    *,
    store: Any = None,
) -> Path:
    """Write a run as a runnable script (``to="script"``), a parameterized notebook (``"notebook"``) or a DVC
    stage folder (``"dvc"``), built from the code that produced it; returns the script's path (the folder's
    for ``dvc``). ``params.yaml`` and ``requirements.txt`` go beside the script; missing folders are created.

    ``slice=False`` keeps every executed cell instead of only those the tracked cell depends on.
    Raises :class:`ExportError` when a cell the run depends on cannot be plain Python.
    """
    if to not in TARGETS:
        raise ValueError(f"to must be one of {', '.join(TARGETS)}, not {to!r}")
    return write_export(plan_export(run, slice=slice, store=store), to, path)


def write_export(plan: Plan, to: str = "script", path: str | os.PathLike[str] | None = None) -> Path:
    """Render a plan to ``to`` at ``path`` (see :func:`export`)."""
    if to not in TARGETS:
        raise ValueError(f"to must be one of {', '.join(TARGETS)}, not {to!r}")
    target = Path(path).expanduser() if path is not None else None
    if to == "dvc":
        folder = target if target is not None else Path.cwd() / _default_name(plan, "")
        folder.mkdir(parents=True, exist_ok=True)
        script = folder / f"{plan.slug}.py"
        _write(script, render_script(plan))
        _write(folder / "params.yaml", render_params_yaml(plan))
        _write(folder / "requirements.txt", render_requirements(plan))
        _write(folder / "dvc.yaml", render_dvc(plan, folder.absolute(), script.absolute()))
        return folder
    suffix = ".py" if to == "script" else ".ipynb"
    if target is None:
        out = Path.cwd() / _default_name(plan, suffix)
    elif target.is_dir() or str(path).endswith(("/", os.sep)):
        out = target / _default_name(plan, suffix)
    else:
        out = target
    if to == "script":
        _write(out, render_script(plan))
        with contextlib.suppress(OSError):
            out.chmod(out.stat().st_mode | 0o111)
    else:
        import nbformat

        _write(out, nbformat.writes(render_notebook(plan)))
    _write(out.parent / "params.yaml", render_params_yaml(plan))
    _write(out.parent / "requirements.txt", render_requirements(plan))
    return out


def export_action(
    run: Run | str,
    to: str = "script",
    path: str | os.PathLike[str] | None = None,
    *,
    slice: bool = True,
    store: Any = None,
) -> dict[str, Any]:
    """The Export action for the views: never raises; returns ``{"ok", "path", "message", "kept", "omitted"}``."""
    try:
        plan = plan_export(run, slice=slice, store=store)
        written = write_export(plan, to, path)
    except (ExportError, ValueError, LookupError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, LookupError) and exc.args else str(exc)
        return {"ok": False, "path": None, "message": message, "kept": [], "omitted": []}
    return {
        "ok": True,
        "path": str(written),
        "message": f"exported run {plan.run.id} to {written} (kept {len(plan.cells)} of {plan.history_len} cells)",
        "kept": [c.label for c in plan.cells],
        "omitted": [{"cell": label, "first_line": first, "reason": reason} for label, first, reason in plan.omitted],
    }
