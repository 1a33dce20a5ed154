"""The ``nbtrack`` command line: list, show and delete runs, check the store, run the demo.

Exit codes: 0 success, 1 a runtime failure (no such run, damaged store...), 2 a usage mistake.
User mistakes give one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from nbtrack import __version__
from nbtrack.errors import NbtrackError
from nbtrack.run import Status


class CliError(NbtrackError):
    """A failure reported as one line with exit code 1."""


def _store(args: argparse.Namespace) -> Any:
    from nbtrack.store.local import get_store

    return get_store(args.store)


def cmd_runs(args: argparse.Namespace) -> int:
    from nbtrack.query.search import QueryError, runs

    try:
        frame = runs(experiment=args.experiment, status=args.status, where=args.where, store=_store(args))
    except QueryError as exc:
        raise CliError(str(exc)) from None
    if args.limit:
        frame = frame.head(args.limit)
    if args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        sys.stdout.write(frame.to_json(orient="records", date_format="iso", indent=1) + "\n")
    else:
        if frame.empty:
            print("no runs" + (f" in experiment {args.experiment!r}" if args.experiment else ""))
            return 0
        import pandas as pd

        shown = frame.copy()
        from nbtrack.format import TIME_FORMAT

        shown["start_time"] = shown["start_time"].dt.strftime(TIME_FORMAT)
        shown = shown.drop(columns=["end_time"])
        with pd.option_context("display.max_columns", 40, "display.width", 200, "display.max_colwidth", 30):
            print(shown.to_string(index=False))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from nbtrack.cli.show import cli_show

    return cli_show(args, _store(args))


def cmd_rm(args: argparse.Namespace) -> int:
    from nbtrack.query.search import delete_run

    store = _store(args)
    if args.purge:
        from nbtrack.cli.gc import cli_purge

        return cli_purge(args.runs, store)
    full_ids = [store.resolve(run) for run in args.runs]  # all or nothing: check every id first
    for run_id in full_ids:
        delete_run(run_id, store=store)
        print(f"deleted {run_id}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from nbtrack.store.doctor import check

    report = check(_store(args), repair=args.repair)
    for line in report.lines:
        print(line)
    return 0 if report.ok or args.repair else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from nbtrack.demo import run_demo

    return run_demo(args.output, store=args.store, timeout=args.timeout)


def cmd_push(args: argparse.Namespace) -> int:
    from nbtrack.cli.remote import cli_push
    from nbtrack.errors import RemoteError

    try:
        return cli_push(args, _store(args))
    except RemoteError as exc:
        raise CliError(str(exc)) from None


def cmd_pull(args: argparse.Namespace) -> int:
    from nbtrack.cli.remote import cli_pull
    from nbtrack.errors import RemoteError

    try:
        return cli_pull(args, _store(args))
    except RemoteError as exc:
        raise CliError(str(exc)) from None


def cmd_compare(args: argparse.Namespace) -> int:
    from nbtrack.cli.compare import cli_compare

    try:
        return cli_compare(args, _store(args))
    except ValueError as exc:
        raise CliError(str(exc)) from None


def cmd_diff(args: argparse.Namespace) -> int:
    from nbtrack.cli.diff import cli_diff

    try:
        return cli_diff(args, _store(args))
    except ValueError as exc:
        raise CliError(str(exc)) from None


def cmd_export(args: argparse.Namespace) -> int:
    from nbtrack.cli.export import cli_export
    from nbtrack.errors import ExportError

    try:
        return cli_export(args, _store(args))
    except (ExportError, ValueError) as exc:
        raise CliError(str(exc)) from None


def cmd_gc(args: argparse.Namespace) -> int:
    from nbtrack.cli.gc import cli_gc

    return cli_gc(args, _store(args))


def cmd_jobs(args: argparse.Namespace) -> int:
    from nbtrack.cli.jobs import cli_jobs

    try:
        return cli_jobs(args, _store(args))
    except ValueError as exc:
        raise CliError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nbtrack", description="Jupyter-native experiment tracking.")
    parser.add_argument("--version", action="version", version=f"nbtrack {__version__}")
    parser.add_argument("--store", help="store directory (default: $NBTRACK_DIR or ./.nbtrack)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("runs", help="list runs")
    p.add_argument("--experiment", "-e")
    p.add_argument("--status", "-s", choices=[s.value for s in Status])
    p.add_argument("--where", "-w", help='filter, e.g. "params.lr < 0.1 and metrics.acc > 0.9"')
    p.add_argument("--limit", type=int)
    p.add_argument("--format", "-f", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=cmd_runs)

    from nbtrack.cli import show as show_cli

    show_cli.add_cli(sub, cmd_show)

    p = sub.add_parser("rm", help="delete runs")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--purge", action="store_true", help="erase them for good: journal, its last good copy, content")
    p.set_defaults(func=cmd_rm)

    p = sub.add_parser("doctor", help="check the store; --repair sets damaged records aside")
    p.add_argument("--repair", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("demo", help="run the bundled quickstart notebook in a real kernel and list its runs")
    p.add_argument("--output", "-o", default="nbtrack-demo", help="working folder (default: ./nbtrack-demo)")
    p.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    p.set_defaults(func=cmd_demo)

    from nbtrack.cli import remote as remote_cli

    remote_cli.add_push(sub, cmd_push)
    remote_cli.add_pull(sub, cmd_pull)

    # compare and diff declare their options next to the code that reads them
    from nbtrack.cli import compare, diff

    compare.add_cli(sub, cmd_compare)
    diff.add_cli(sub, cmd_diff)
    from nbtrack.cli import export as export_cli

    export_cli.add_export(sub, cmd_export)
    from nbtrack.cli import gc as gc_cli

    gc_cli.add_cli(sub, cmd_gc)
    from nbtrack.cli import jobs as jobs_cli

    jobs_cli.add_cli(sub, cmd_jobs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from nbtrack.errors import NbtrackError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `nbtrack runs | head`: the reader left, nothing to report
        return 0
    except (NbtrackError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, LookupError) and exc.args else str(exc)
        print(f"nbtrack: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nbtrack: interrupted", file=sys.stderr)
        return 130
