"""``nbtrack compare``: its options and how they map onto :func:`nbtrack.analysis.comparison.compare`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nbtrack.analysis.comparison import TESTS, compare


def _split(values: Sequence[str] | None) -> list[str]:
    return [v.strip() for item in (values or []) for v in item.split(",") if v.strip()]


def cli_compare(args: Any, store: Any) -> int:
    """``nbtrack compare``: print the comparison as a table, CSV or JSON; optionally save a plot."""
    import sys

    metrics = _split(args.metric)
    directions: dict[str, bool] = {m: True for m in _split(args.maximize)}
    directions.update({m: False for m in _split(args.minimize)})
    runs: Any = _split(args.runs) if args.runs else args.experiment
    cv = None
    if args.cv:
        try:
            n_train, n_test = (int(v) for v in args.cv.split(","))
        except ValueError:
            raise ValueError("--cv takes N_TRAIN,N_TEST, e.g. --cv 800,200") from None
        cv = (n_train, n_test)
    cmp = compare(
        runs,
        metric=metrics or None,
        by=_split(args.by) or None,
        baseline=args.baseline,
        higher_is_better=directions or None,
        paired=args.paired,
        confidence=args.confidence,
        seed_params=_split(args.seed_params),
        test=args.test,
        adjust=args.adjust,
        cv=cv,
        dataset=args.dataset,
        seed=args.seed,
        store=store,
    )
    if args.format == "json":
        sys.stdout.write(cmp.to_json() + "\n")
    elif args.format == "csv":
        table = cmp.pairs if args.table == "pairs" else cmp.groups
        table.to_csv(sys.stdout, index=False)
        for warning in cmp.warnings:
            print(f"nbtrack: warning: {warning}", file=sys.stderr)
    else:
        print(cmp.to_text())
    if args.plot:
        fig = cmp.plot(args.kind)
        fig.savefig(args.plot, dpi=120)
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 0


def add_cli(sub: Any, func: Any) -> None:
    """Register ``nbtrack compare`` on the CLI's subparsers."""
    p = sub.add_parser("compare", help="compare configurations of runs: intervals, tests and verdicts")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--experiment", "-e", help="experiment (default: $NBTRACK_EXPERIMENT or 'default')")
    where.add_argument("--runs", action="append", metavar="IDS", help="run ids or prefixes, comma-separated")
    p.add_argument("--metric", "-m", action="append", required=True, help="metric(s), comma-separated or repeated")
    p.add_argument("--by", action="append", help="params forming a configuration (default: all but seed-like)")
    p.add_argument("--baseline", "-b", help="reference group: a label such as lr=0.1, or a run id")
    p.add_argument("--maximize", action="append", metavar="METRIC", help="metrics where higher is better")
    p.add_argument("--minimize", action="append", metavar="METRIC", help="metrics where lower is better")
    pairing = p.add_mutually_exclusive_group()
    pairing.add_argument(
        "--paired",
        dest="paired",
        action="store_const",
        const=True,
        default=None,
        help="pair runs by seed/fold (warns when they do not match)",
    )
    pairing.add_argument("--unpaired", dest="paired", action="store_const", const=False, help="never pair runs")
    p.add_argument("--test", choices=list(TESTS), help="force a test (default: chosen from the runs)")
    p.add_argument("--adjust", choices=["holm", "bh", "none"], default="holm", help="multiplicity adjustment")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--cv", metavar="N_TRAIN,N_TEST", help="runs are CV folds of these sizes: Nadeau-Bengio test")
    p.add_argument("--dataset", help="tag or param naming each run's data set (default: a 'dataset' tag)")
    p.add_argument("--seed-params", action="append", metavar="NAMES", help="more seed-like params, comma-separated")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--format", "-f", choices=["table", "csv", "json"], default="table")
    p.add_argument("--table", choices=["groups", "pairs"], default="groups", help="which table --format csv writes")
    p.add_argument("--plot", metavar="FILE", help="also save a plot (png, svg, pdf)")
    p.add_argument(
        "--kind",
        default="box",
        choices=["box", "diff", "curves", "parallel", "matrix", "cd"],
        help="plot kind for --plot (default box)",
    )
    p.set_defaults(func=func)
