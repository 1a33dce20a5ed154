"""``nbtrack export``: its options, and what it prints about the cells it kept."""

from __future__ import annotations

import argparse
from typing import Any

from nbtrack.exporting.exporter import TARGETS, plan_export, write_export


def add_export(sub: Any, handler: Any) -> None:
    """``nbtrack export RUN [--to script|notebook|dvc] [-o PATH] [--no-slice]``."""
    p = sub.add_parser("export", help="write a run as a runnable script, notebook or DVC stage")
    p.add_argument("run", help="run id or unambiguous prefix")
    p.add_argument("--to", choices=TARGETS, default="script", help="what to write (default: script)")
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="file (script, notebook) or folder (dvc) to write; default: NAME-RUNID in the current folder",
    )
    p.add_argument("--no-slice", action="store_true", help="keep every executed cell, not only those the run needs")
    p.set_defaults(func=handler)


def cli_export(args: argparse.Namespace, store: Any) -> int:
    plan = plan_export(store.resolve(args.run), slice=not args.no_slice, store=store)
    written = write_export(plan, args.to, args.output)
    print(f"wrote {written}")
    print(f"kept {len(plan.cells)} of {plan.history_len} executed cells: {' '.join(c.label for c in plan.cells)}")
    for label, first, reason in plan.omitted:
        print(f"  omitted {label} {first}: {reason}")
    return 0
