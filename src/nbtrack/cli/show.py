"""``nbtrack show RUN``: one run as text (or its record as JSON): params by where they were written, metrics,
tags, data, models, artifacts, output files, the runs it reads from and the runs that read its outputs, code.

The rows come from :mod:`nbtrack.query.contents`, as in the panel's and the sidebar's details.
"""

from __future__ import annotations

import json
from typing import Any

from nbtrack import format as fmt
from nbtrack.query import contents


def cli_show(args: Any, store: Any) -> int:
    """Print the run ``args.run`` names (an id or a prefix) in ``args.format``."""
    from nbtrack.query.search import get_run

    run = get_run(args.run, store=store)
    if args.format == "json":
        print(json.dumps(run.doc, indent=1, ensure_ascii=False))
        return 0
    print("\n".join(show_lines(run, store.run_docs())))
    return 0


def show_lines(run: Any, docs: dict[str, dict[str, Any]]) -> list[str]:
    """The lines of ``nbtrack show`` for ``run``; ``docs`` (every record of its store) finds the runs downstream."""
    lines = [
        f"run         {run.id}",
        f"experiment  {run.experiment}",
        f"name        {run.name}",
        f"status      {run.status}",
        f"duration    {run.duration if run.duration is None else f'{run.duration:.3f} s'}",
    ]
    if run.parent:
        lines.append(f"previous    {run.parent}")
    lines.extend(_params(run.params, run.param_sources))
    for title, mapping in (("metrics", run.metrics), ("tags", run.tags)):
        lines.append(f"{title}:")
        lines.extend(f"  {key} = {value!r}" for key, value in mapping.items())
    if run.data:
        lines.append("data:")
        for key, record in run.data.items():
            shape = "x".join(str(n) for n in record.get("shape", [])) or record.get("size", "")
            lines.append(f"  {key}: {record.get('kind')} {shape} {record.get('hash')}")
    lines.extend(_models(run.models))
    lines.extend(_artifacts(run.artifacts))
    lines.extend(_outputs(run.outputs))
    lines.extend(_links(run.upstream, contents.downstream(docs, run.id)))
    if run.error:
        lines.append(f"error: {run.error['type']}: {run.error['message']}")
    if run.code:
        lines.append("code:")
        lines.extend(f"  {line}" for line in run.code.splitlines())
    return lines


def _params(params: dict[str, Any], sources: dict[str, str]) -> list[str]:
    if not sources or not params:
        return ["params:", *(f"  {key} = {value!r}" for key, value in params.items())]
    groups = contents.params_by_label(params, sources)
    lines = ["params (" + ", ".join(f"{len(names)} {label}" for label, names in groups.items()) + "):"]
    for label, names in groups.items():
        lines.append(f"  {label}:")
        lines.extend(f"    {name} = {params[name]!r}" for name in names)
    return lines


def _models(models: Any) -> list[str]:
    rows = contents.model_rows(models)
    if not rows:
        return []
    lines = ["models:"]
    for m in rows:
        what = m["class"] or "(class unknown)"
        if m["skipped"]:
            lines.append(f"  {m['name']}: {what}, not kept: {m['skipped']} ({fmt.size(m['size'])})")
            continue
        version = f"{m['framework']} {m['framework_version']}" if m["framework_version"] else m["framework"]
        notes = [n for n in (version, "pickle" if m["pickle"] else None, "auto" if m["auto"] else "logged") if n]
        lines.append(
            f"  {m['name']}: {what}, {m['format'] or 'format unknown'}, {fmt.size(m['size'])}, "
            f"hash {contents.short_hash(m['hash']) or '?'} ({', '.join(notes)})"
        )
    return lines


def _artifacts(artifacts: Any) -> list[str]:
    rows = contents.artifact_rows(artifacts)
    lines = ["artifacts:"] if rows else []
    for a in rows:
        lines.append(f"  {a['name']}: {a['kind']}, {a['media_type'] or 'type unknown'}, {fmt.size(a['size'])}")
    return lines


def _outputs(outputs: Any) -> list[str]:
    rows = contents.output_rows(outputs)
    lines = ["outputs:"] if rows else []
    for o in rows:
        kept = "kept" if o["kept"] else "hashed only"
        lines.append(f"  {o['path']}: {fmt.size(o['size'])}, {kept}, hash {contents.short_hash(o['hash']) or '?'}")
    return lines


def _links(upstream: dict[str, str], downstream: dict[str, list[str]]) -> list[str]:
    lines = []
    if upstream:
        lines.append("upstream (inputs an earlier run wrote):")
        lines.extend(f"  {name} <- {run_id}" for name, run_id in upstream.items())
    if downstream:
        lines.append("downstream (runs that read its outputs):")
        lines.extend(f"  {name} -> {', '.join(run_ids)}" for name, run_ids in downstream.items())
    return lines


def add_cli(sub: Any, func: Any) -> None:
    """Register ``nbtrack show`` on the CLI's subparsers."""
    p = sub.add_parser("show", help="show one run: params, metrics, data, models, artifacts, outputs, links, code")
    p.add_argument("run", help="run id or unambiguous prefix")
    p.add_argument("--format", "-f", choices=["text", "json"], default="text")
    p.set_defaults(func=func)
