"""``nbtrack diff A B``: its options and how they map onto :func:`nbtrack.analysis.rundiff.diff`."""

from __future__ import annotations

from typing import Any

from nbtrack.analysis.rundiff import diff


def cli_diff(args: Any, store: Any) -> int:
    """``nbtrack diff A B``: the differences as text or JSON."""
    result = diff(args.a, args.b, code=args.code, outputs=args.outputs, store=store)
    print(result.to_json() if args.format == "json" else result.to_text())
    return 0


def add_cli(sub: Any, func: Any) -> None:
    """Register ``nbtrack diff`` on the CLI's subparsers."""
    p = sub.add_parser("diff", help="what changed between two runs: params, metrics, data, environment, code")
    p.add_argument("a", help="run A (id or unambiguous prefix)")
    p.add_argument("b", help="run B")
    p.add_argument(
        "--code",
        choices=["history", "cell", "snapshot"],
        default="history",
        help="compare the execution history (default), the tracked cell, or the saved notebooks",
    )
    p.add_argument("--outputs", action="store_true", help="with --code snapshot: compare outputs and counts too")
    p.add_argument("--format", "-f", choices=["text", "json"], default="text")
    p.set_defaults(func=func)
