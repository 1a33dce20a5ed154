"""The text of an export: the script, the parameterized notebook, ``params.yaml``, ``requirements.txt`` and
``dvc.yaml``, rendered from a :class:`~nbtrack.exporting.plan.Plan`.

The script imports ``from nbtrack import export_runtime`` (the stable name old scripts rely on) and calls
its ``parameters``/``check_file``/``start_run``/``finish_run`` functions.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nbtrack.capture.params import is_plain_literal
from nbtrack.exporting import magics_to_python
from nbtrack.exporting.plan import CellPlan, Plan
from nbtrack.exporting.readable import label_ranges, omission_lines, without_displays

RUNTIME_ALIAS = "nbtrack_export"


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
    kept = label_ranges([c.label for c in plan.cells])
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
        if target == "notebook":  # a markdown cell folds nothing: the list is the header's end
            lines += _footer(plan)
        else:
            lines.append(f"Omitted {len(plan.omitted)}, each with the reason, listed at the end of this file.")
    return lines


def _footer(plan: Plan) -> list[str]:
    """The omitted cells, one line each (the header only counts them)."""
    if not plan.omitted:
        return []
    return [f"Omitted cells of the execution history ({len(plan.omitted)}):", *omission_lines(plan.omitted)]


START_BANNER = "# ===== nbtrack: the run starts here (in-memory inputs checked, the script's own run opened) ====="
FINISH_BANNER = "# ===== nbtrack: the run finishes here (metrics recorded, printed as JSON on the last line) ====="


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
    if last and plan.run.cell_block is not None:
        title = f"# {cell.label}: the cell of the run's `with nbtrack.track()` block, reduced to the run's iteration"
    elif last:
        title = f"# {cell.label}: the tracked cell (%%track {plan.track_line.strip()})".rstrip()
    elif cell.other_run:
        title = f"# {cell.label}: a %%track cell of another run (its nbtrack.log_* calls go nowhere here)"
    else:
        title = f"# {cell.label}"
    title = title + " " + "-" * max(3, 100 - len(title)) if len(title) < 97 else title
    return f"{title}\n# ({_oneline(cell.note)})" if cell.note else title


def _other_runs(plan: Plan) -> bool:
    return any(c.other_run for c in plan.cells)


def _cell_body(plan: Plan, cell: CellPlan, last: bool, *, script: bool = False) -> list[str]:
    """A cell's lines; the tracked cell between the run's start and finish. In a script, display-only
    expressions are left out; earlier %%track cells log into a sink opened once before the first cell."""
    lines: list[str] = []
    lines += _guard_lines(plan, cell)
    if last:
        if _other_runs(plan):
            lines.append(f"{RUNTIME_ALIAS}.end_other_run()  # nbtrack.log_* calls count again from here")
        lines += [START_BANNER, *_start_lines(plan), "# " + "=" * (len(START_BANNER) - 2)]
    code = cell.code
    if script:
        code = without_displays(code)
    code = code.rstrip("\n")
    lines += code.splitlines() if code.strip() else ["pass"]
    if last:
        lines += [FINISH_BANNER, _finish_line(plan)]
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
    if _other_runs(plan):
        out.append(
            f"{RUNTIME_ALIAS}.begin_other_run()  # the nbtrack.log_* calls of other runs' %%track cells go nowhere"
        )
    for n, cell in enumerate(plan.cells):
        last = n == len(plan.cells) - 1
        out += ["", "", _cell_title(plan, cell, last)]
        out += _cell_body(plan, cell, last, script=True)
    footer = _footer(plan)
    if footer:
        out += ["", "", *(f"# {line}".rstrip() for line in footer)]
    return "\n".join(out) + "\n"


def verification_block(outcome: Any, run_id: str) -> list[str]:
    """The header lines saying whether the export was verified (``outcome``: a ``verify.Verification``), so
    a script that does not reproduce its run can never pass for one that does."""
    if outcome is None:
        return []
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(outcome.checked_at))
    rule = "=" * 98
    if outcome.verified:
        lines = [
            rule,
            f"VERIFIED by nbtrack on {when}: run in a fresh interpreter, it reproduced the metrics of run {run_id}",
            f"({', '.join(outcome.metrics) or 'none recorded'}) "
            + ("exactly" if not outcome.tolerance else "within the tolerance given")
            + f"; {outcome.executions} execution(s), the last took {outcome.seconds:.1f} s.",
        ]
        if outcome.added:
            lines.append("Cells the slice had omitted, added because the metrics needed them:")
            lines += [f"  {label}: {why}" for label, why in outcome.added]
        return [*lines, rule]
    lines = [
        rule,
        f"UNVERIFIED: executed by nbtrack on {when}, this script did NOT reproduce the metrics of run {run_id}.",
        "Do not trust what it computes before the cause below is fixed.",
    ]
    for name, (recorded, reproduced) in outcome.differences.items():
        got = "not reproduced" if reproduced is None else f"reproduced {reproduced!r}"
        lines.append(f"  {_oneline(name)}: recorded {recorded!r}, {got}")
    lines.append(f"Likely cause: {_oneline(outcome.cause or 'unknown')}")
    return [*lines, rule]


def mark_script(text: str, block: list[str]) -> str:
    """The script with ``block`` as a comment block at the top (after the ``#!`` line)."""
    if not block:
        return text
    first, _, rest = text.partition("\n")
    return first + "\n" + "".join(f"# {line}\n" for line in block) + rest


def mark_notebook(nb: Any, block: list[str]) -> Any:
    """The exported notebook with ``block`` at the top of its first (markdown) cell."""
    if block:
        text = "  \n".join(line for line in block if not line.startswith("=")).replace("UNVERIFIED", "**UNVERIFIED**")
        nb.cells[0].source = text.replace("VERIFIED by", "**VERIFIED** by") + "\n\n" + nb.cells[0].source
    return nb


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
    if _other_runs(plan):
        setup.append(f"{RUNTIME_ALIAS}.begin_other_run()  # the nbtrack.log_* calls of other runs' cells go nowhere")
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


def dvc_workdir(plan: Plan, folder: Path) -> Path:
    """Where a stage runs: the folder the notebook ran in (the run's ``cwd``), else the export folder."""
    cwd = plan.run.env.get("cwd")
    return Path(cwd) if cwd and Path(cwd).is_dir() else folder


def dvc_stage_lines(
    plan: Plan,
    folder: Path,
    script: Path,
    *,
    name: str | None = None,
    params_file: Path | None = None,
    metrics_file: Path | None = None,
    deps: Sequence[str] = (),
    outs: Sequence[str] = (),
) -> list[str]:
    """One stage of a dvc.yaml (indented under ``stages:``) running the script; paths relative to its
    ``wdir`` (where the notebook ran). ``deps``/``outs`` (relative to that ``wdir``): the files it reads from
    earlier stages (the script is told, ``--upstream-output``: a new content there is the point, not a changed
    input) and the files it writes, so DVC orders the stages and caches what they produce."""
    workdir = dvc_workdir(plan, folder)
    wdir = os.path.relpath(workdir, folder)

    def rel(p: Path) -> str:
        return Path(os.path.relpath(p, workdir)).as_posix()

    params = rel(params_file if params_file is not None else folder / "params.yaml")
    metrics = rel(metrics_file if metrics_file is not None else folder / "metrics.json")
    cmd = f"python {rel(script)} --params {params} --metrics-file {metrics}"
    cmd += "".join(f" --upstream-output {shlex.quote(dep)}" for dep in deps)
    lines = [f"  {name or plan.slug}:", f"    cmd: {_q(cmd)}"]
    if wdir != ".":
        lines.append(f"    wdir: {_q(Path(wdir).as_posix())}")
    found = [rel(script), *(Path(info["path"]).as_posix() for info in plan.files)]
    for info in plan.inputs.values():
        found += [Path(origin).as_posix() for origin in (info.get("origin") or "").split(", ") if origin]
    found += list(deps)
    lines.append("    deps:")
    lines += [f"      - {_q(dep)}" for dep in dict.fromkeys(found)]
    if outs:
        lines.append("    outs:")
        lines += [f"      - {_q(out)}" for out in dict.fromkeys(outs)]
    if plan.params:
        lines.append("    params:")
        lines.append(f"      - {_q(params)}:")
        lines += [f"          - {_q(k)}" for k in plan.params]
    lines += ["    metrics:", f"      - {_q(metrics)}:", "          cache: false"]
    return lines


def render_dvc(plan: Plan, folder: Path, script: Path) -> str:
    """A dvc.yaml with one stage running the script; paths relative to its ``wdir`` (where the notebook ran)."""
    return "\n".join(["stages:", *dvc_stage_lines(plan, folder, script)]) + "\n"
