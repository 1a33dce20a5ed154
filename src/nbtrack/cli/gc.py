"""``nbtrack gc`` and ``nbtrack rm --purge``: erase deleted runs and unreferenced content files for good."""

from __future__ import annotations

from typing import Any

from nbtrack.store.gc import DEFAULT_GRACE, collect


def cli_gc(args: Any, store: Any) -> int:
    """``nbtrack gc``: compact the journal and its last good copy, delete blobs no run refers to."""
    report = collect(store, grace=args.grace)
    for line in report.lines:
        print(line)
    return 0


def cli_purge(runs: list[str], store: Any) -> int:
    """``nbtrack rm --purge RUN...``: delete the runs and erase every byte of them (a gc that starts with them)."""
    report = collect(store, runs)
    for line in report.lines:
        print(line)
    return 0


def add_cli(sub: Any, func: Any) -> None:
    """Register ``nbtrack gc`` on the CLI's subparsers."""
    p = sub.add_parser(
        "gc", help="erase deleted runs from runs.jsonl and runs.jsonl.prev, delete content files no run refers to"
    )
    p.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE,
        help=f"keep unreferenced files younger than this many seconds (default {DEFAULT_GRACE:.0f}): "
        "a run may be about to refer to them",
    )
    p.set_defaults(func=func)
