"""Parameter discovery benchmark: what reading a tracked cell's params costs (nbtrack.capture.hyperparams and
nbtrack.capture.framework_params).

    python bench/bench_hyperparams.py            # median of 20
    python bench/bench_hyperparams.py --repeat 50

Workload: a generated 200-line cell (imports, literal assignments, config dicts, calls with literal keyword
and positional arguments, a 20-step scikit-learn pipeline written inline). The cell is run once (not timed)
so the pipeline is fitted; then, timed together as the magic does them: parsing the cell, the params its code
writes (``cell_params``: assigned, config, call, input) and the framework params of the models it fitted
(``record_framework``: ``get_params(deep=True)`` of the pipeline, defaults compared), logged into a run that
is not saved. The first (cold: signature caches empty) call is shown on its own. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

TARGET_MS = 20.0
STEPS = [
    "StandardScaler(with_mean=True, with_std=True)",
    "MinMaxScaler(feature_range=(0, 1))",
    "MaxAbsScaler()",
    "RobustScaler(quantile_range=(25.0, 75.0))",
    "FunctionTransformer(validate=False)",
]


def make_cell(lines: int = 200, steps: int = 20) -> str:
    head = [
        "from sklearn.pipeline import Pipeline",
        "from sklearn.preprocessing import StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler",
        "from sklearn.preprocessing import FunctionTransformer",
        "from sklearn.linear_model import LogisticRegression",
        "from sklearn.model_selection import train_test_split",
        "config = dict(lr=0.1, depth=3, layers=[64, 32], opt=dict(name='adam', beta=0.9))",
        "params = {'alpha': 0.01, 'l1_ratio': 0.5, 'nested': {'a': 1, 'b': [1, 2, 3]}}",
        "X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)",
        "pipe = Pipeline([",
    ]
    head += [f"    ('s{i}', {STEPS[i % len(STEPS)]})," for i in range(steps - 1)]
    head += ["    ('clf', LogisticRegression(C=0.5, max_iter=200)),", "])", "pipe.fit(X_train, y_train)"]
    body = []
    i = 0
    while len(head) + len(body) < lines - 1:
        body.append(f"value_{i} = {i} * 0.5")
        body.append(f"scaled_{i} = round(value_{i} * 1.5, ndigits=2)")
        body.append(f"frame_{i} = dict(step={i}, name='s{i}', ratio=0.{i % 10})")
        i += 1
    return "\n".join(head + body + ["acc = pipe.score(X_test, y_test)"]) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed repetitions (median reported)")
    args = parser.parse_args(argv)

    from sklearn.datasets import make_classification

    import nbtrack
    from nbtrack.capture.framework_params import record_framework
    from nbtrack.capture.hyperparams import LiteralMemory, cell_params, log_discovered
    from nbtrack.capture.lifecycle import ActiveRun
    from nbtrack.capture.params import parse
    from nbtrack.store.local import get_store

    with tempfile.TemporaryDirectory() as tmp:
        nbtrack.set_store(os.path.join(tmp, "store"))
        source = make_cell()
        X, y = make_classification(200, n_features=8, random_state=0)
        namespace: dict = {"X": X, "y": y}
        exec(compile(source, "<cell>", "exec"), namespace)  # the benchmark's own cell, run once: fitted
        memory = LiteralMemory()
        memory.remember(parse("max_iter = 200\n"))

        def discover() -> int:
            run = ActiveRun(get_store(), name="bench")
            tree = parse(source)
            log_discovered(run, cell_params(tree, namespace, memory))
            record_framework(run, tree, namespace)
            return len(run.record.params)

        def parse_only() -> int:
            return len(parse(source).body)

        start = time.perf_counter()
        count = discover()
        cold = (time.perf_counter() - start) * 1000
        samples, cpu, parsing = [], [], []
        for _ in range(args.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            discover()
            samples.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            start_cpu = time.process_time()
            parse_only()
            parsing.append((time.process_time() - start_cpu) * 1000)
        median = statistics.median(samples)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        lines = source.count("\n")
        print(f"parameter discovery, {lines}-line cell, 20-step pipeline ({count} params)")
        print(f"  Python {sys.version.split()[0]}")
        print(f"  first call (cold caches)   {cold:8.2f} ms")
        ok = "ok" if median <= TARGET_MS else "NO"
        print(f"  median of {args.repeat:<3}              {median:8.2f} ms   target <= {TARGET_MS:.0f} ms  {ok}")
        print(f"  CPU time, median           {statistics.median(cpu):8.2f} ms   (this process only: less load noise)")
        print(f"  of which parsing (CPU)     {statistics.median(parsing):8.2f} ms   (the magic parsed before too)")
        print(f"  load average (1 min)       {load:8.2f}")
        empty_cell_cost(namespace)


def empty_cell_cost(namespace: dict, repeat: int = 2000) -> None:
    """What parameter discovery adds to a ``%%track`` cell that fits no model (``pass``): reading its params,
    the framework step, marking explicit params, and remembering the cell's literals after it ran."""
    from types import SimpleNamespace

    from IPython.core.inputtransformer2 import TransformerManager

    from nbtrack.capture.framework_params import record_framework
    from nbtrack.capture.hyperparams import LiteralMemory, mark_explicit, record_cell
    from nbtrack.capture.lifecycle import ActiveRun
    from nbtrack.capture.params import bound_names, input_names, parse
    from nbtrack.store.local import get_store

    shell = SimpleNamespace(transform_cell=TransformerManager().transform_cell)
    result = SimpleNamespace(info=SimpleNamespace(raw_cell="# %%track\npass\n"), error_before_exec=None)
    memory = LiteralMemory()
    run = ActiveRun(get_store(), name="empty")
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        tree = parse("pass\n")  # a fresh tree, as the magic parses each cell (its walks are cached on it)
        record_cell(run, tree, namespace, memory, ())
        _ = bound_names(tree) - input_names(tree)
        record_framework(run, tree, namespace)
        mark_explicit(run)
        memory.remember_cell(shell, result)
        samples.append((time.perf_counter() - start) * 1e6)
    print(f"empty %%track cell (pass): added by discovery, median of {repeat}: {statistics.median(samples):.0f} us")


if __name__ == "__main__":
    main()
