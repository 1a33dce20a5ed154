"""``nbtrack push`` and ``nbtrack pull``: their options, and the report they print."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nbtrack.remote.report import Report


def add_push(sub: Any, handler: Any) -> None:
    """``nbtrack push [RUN...] --to URI [-e EXPERIMENT] [--since DATE] [-n] [--force]``."""
    p = sub.add_parser("push", help="copy runs to an MLflow tracking server (again: only what is new)")
    p.add_argument("runs", nargs="*", metavar="RUN", help="run ids or prefixes (default: every run)")
    p.add_argument("--to", required=True, metavar="URI", help="tracking URI, e.g. http://host:5000")
    p.add_argument("--experiment", "-e", action="append", help="only runs of this experiment; repeatable")
    p.add_argument("--since", metavar="DATE", help="only runs started since: 2024-05-01, 2024-05-01T14:30, 7d, 12h")
    p.add_argument("--dry-run", "-n", action="store_true", help="list what would be sent; send nothing")
    p.add_argument("--force", action="store_true", help="look every run up on the server, not in the push state")
    p.add_argument("--workers", type=int, default=None, help="runs sent in parallel (default: 4)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--verbose", "-v", action="store_true", help="one line per run")
    p.set_defaults(func=handler)


def add_pull(sub: Any, handler: Any) -> None:
    """``nbtrack pull --from URI -e EXPERIMENT [-n]``."""
    p = sub.add_parser("pull", help="import the runs of an MLflow experiment into the local store")
    p.add_argument("--from", dest="source", required=True, metavar="URI", help="tracking URI")
    p.add_argument("--experiment", "-e", required=True, help="MLflow experiment name")
    p.add_argument("--dry-run", "-n", action="store_true", help="list what would be imported")
    p.add_argument("--workers", type=int, default=None, help="runs fetched in parallel (default: 4)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--verbose", "-v", action="store_true", help="one line per run")
    p.set_defaults(func=handler)


def cli_push(args: argparse.Namespace, store: Any) -> int:
    from nbtrack.remote.push import push

    report = push(
        args.to,
        args.runs or None,
        experiment=args.experiment,
        since=args.since,
        store=store,
        dry_run=args.dry_run,
        force=args.force,
        workers=args.workers,
        progress=not args.quiet,
    )
    return print_report(report, args, "pushed")


def cli_pull(args: argparse.Namespace, store: Any) -> int:
    from nbtrack.remote.pull import pull

    report = pull(
        args.source, args.experiment, store=store, dry_run=args.dry_run, workers=args.workers, progress=not args.quiet
    )
    return print_report(report, args, "pulled")


def print_report(report: Report, args: argparse.Namespace, verb: str) -> int:
    """Print a push or pull report; the exit code is 1 when any run failed."""
    for action in report.actions:
        if args.dry_run or action.action == "failed" or args.verbose:
            print(action.line(args.dry_run))
    print(report)
    if report.failed:
        first = report.failed[0]
        print(
            f"nbtrack: error: {len(report.failed)} runs were not {verb}; first: {first.run_id}: {first.error}",
            file=sys.stderr,
        )
        return 1
    return 0
