"""``nbtrack export``: its options, and what it prints about the cells it kept."""

from __future__ import annotations

import argparse
from typing import Any

from nbtrack.exporting.exporter import TARGETS, export, plan_export, write_export
from nbtrack.exporting.verify import verify_plan


def add_export(sub: Any, handler: Any) -> None:
    """``nbtrack export RUN [--to script|notebook|dvc] [-o PATH] [--no-slice] [--no-verify] [--tolerance X]``."""
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
    p.add_argument(
        "--no-verify",
        action="store_true",
        help="do not execute the script to check that it reproduces the run's metrics",
    )
    p.add_argument(
        "--verify-timeout",
        type=float,
        metavar="SECONDS",
        help="time limit of each verification run (default: 10x the run's duration + 60)",
    )
    p.add_argument("--tolerance", type=float, metavar="X", help="accept metrics within this absolute difference")
    p.set_defaults(func=handler)


def cli_export(args: argparse.Namespace, store: Any) -> int:
    plan = plan_export(store.resolve(args.run), slice=not args.no_slice, store=store)
    if args.to == "dvc" and plan.run.upstream:  # a chain of runs: one verified stage each (exporting/stages.py)
        result = export(
            plan.run,
            to="dvc",
            path=args.output,
            slice=not args.no_slice,
            store=store,
            verify=not args.no_verify,
            verify_timeout=args.verify_timeout,
            tolerance=args.tolerance,
        )
        print(f"wrote {result}")
        return 0
    outcome = None
    if not args.no_verify:
        plan, outcome = verify_plan(
            plan, timeout=args.verify_timeout, tolerance=args.tolerance, widen=not args.no_slice, store=store
        )
    written = write_export(plan, args.to, args.output, verification=outcome)
    print(f"wrote {written}")
    print(outcome.summary() if outcome is not None else "not verified (--no-verify)")
    print(f"kept {len(plan.cells)} of {plan.history_len} executed cells: {' '.join(c.label for c in plan.cells)}")
    for label, first, reason in plan.omitted:
        print(f"  omitted {label} {first}: {reason}")
    return 0
