"""Push benchmark: nbtrack runs copied to a real local MLflow tracking server, then pushed again.

Run it with the interpreter of the environment nbtrack and MLflow are installed in (``pip install -e
".[mlflow]"``)::

    python bench/bench_push.py                  # 1,000 runs x 20 params x 10 metrics x 100 steps
    python bench/bench_push.py --runs 200       # smaller
    python bench/bench_push.py --help           # server and client workers, --keep, --output

What it does, all under a temporary directory (removed at the end unless ``--keep``):

1. starts ``mlflow server`` on 127.0.0.1 (a free port) with a sqlite backend and a local artifacts
   destination, and waits for it;
2. records N runs with ``nbtrack.track()`` (20 params, 10 metrics x 100 steps, 5 tags, environment);
3. pushes them (``nbtrack.push``): runs/s of the first push;
4. pushes them again: time of the second push as a fraction of the first (nothing is left to send);
5. checks on the server, with MlflowClient, that there are exactly N runs, one per nbtrack id;
6. measures the server's ceiling: how many log-batch requests of 1,000 metric points it accepts per
   second from a bare ``requests`` client (each run needs one), which bounds any client's runs/s;
7. measures the server's own floor: the same create/log_batch/terminate calls made in-process on a
   SqlAlchemyStore (no HTTP, no client);
8. stops the server by its PID (process group).

Targets from the issue: first push >= 20 runs/s; second push <= 10% of the first. Nothing is asserted:
the figures are printed and written as JSON into bench/results/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# MLflow 3 sends usage telemetry unless told not to; it must be off before mlflow is imported.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
for _var in ("NBTRACK_DIR", "NBTRACK_EXPERIMENT", "NBTRACK_TRACKING_URI", "JPY_SESSION_NAME"):
    os.environ.pop(_var, None)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_foundation import working_directory  # noqa: E402
from mlflow_server import MlflowServer  # noqa: E402

import nbtrack  # noqa: E402
from nbtrack.remote.client import DEFAULT_WORKERS  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
EXPERIMENT = "bench-push"


def make_runs(store: Path, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        params = {f"p{j:02d}": (i * 0.001 + j if j % 4 else f"choice-{j}-{i % 7}") for j in range(20)}
        tags = {"owner": "bench", "batch": i // 100, "seed": i % 5, "stage": "sweep", "note": f"run {i}"}
        with nbtrack.track(name=f"run-{i}", experiment=EXPERIMENT, params=params, tags=tags, store=store) as run:
            for step in range(100):
                run.log_metrics({f"m{k}": (k + 1) / (step + 1) + i * 1e-4 for k in range(10)}, step=step)
    return time.perf_counter() - started


def server_floor(root: Path, runs: int) -> float:
    """Seconds per run of the server's own work (create, 1,000 metric points, params/tags, terminate)."""
    from mlflow.entities import Metric, Param, RunStatus, RunTag
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{root / 'floor.db'}", str(root / "floor-artifacts"))
    experiment_id = store.create_experiment("floor")
    started = time.perf_counter()
    for i in range(runs):
        now = int(time.time() * 1000)
        run = store.create_run(experiment_id, "bench", now, [RunTag("nbtrack.run_id", str(i))], f"floor-{i}")
        run_id = run.info.run_id
        metrics = [Metric(f"m{k}", 1.0 / (s + 1), now + s, s) for k in range(10) for s in range(100)]
        store.log_batch(run_id, metrics, [], [])
        store.log_batch(
            run_id, [], [Param(f"p{j:02d}", str(j)) for j in range(20)], [RunTag(f"t{j}", "x") for j in range(9)]
        )
        store.update_run_info(run_id, RunStatus.FINISHED, now + 1000, None)
    return (time.perf_counter() - started) / runs


def server_ceiling(uri: str, seconds: float = 8.0, threads: int = 8) -> float:
    """log-batch requests of 1,000 metric points the server accepts per second from a minimal client.

    Plain ``requests`` sessions posting the REST body directly (no nbtrack, no MlflowClient): each run of
    the benchmark needs one such request, so this bounds the runs/s any client can reach on this server.
    """
    import requests

    session = requests.Session()
    response = session.post(f"{uri}/api/2.0/mlflow/experiments/create", json={"name": f"ceiling-{time.time()}"})
    experiment_id = response.json()["experiment_id"]
    counts = [0] * threads

    def worker(i: int) -> None:
        s = requests.Session()
        created = s.post(f"{uri}/api/2.0/mlflow/runs/create", json={"experiment_id": experiment_id}).json()
        run_id = created["run"]["info"]["run_id"]
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            now = int(time.time() * 1000)
            body = {
                "run_id": run_id,
                "metrics": [
                    {"key": f"m{k}", "value": 1.0 / (step + 1), "timestamp": now + step, "step": n * 100 + step}
                    for k in range(10)
                    for step in range(100)
                ],
            }
            reply = s.post(
                f"{uri}/api/2.0/mlflow/runs/log-batch",
                data=json.dumps(body),
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
            reply.raise_for_status()
            n += 1
        counts[i] = n

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / (time.monotonic() - started)


def bare_push(uri: str, store: Path, workers: int) -> tuple[float, int]:
    """The same runs sent by a bare client: the requests nbtrack's push makes for them (create, dataset inputs,
    log-batch within MLflow's limits, each artifact, terminate), posted with plain ``requests`` sessions, one per
    worker thread, as many threads as push uses. The payloads are built before the clock starts. Returns
    (runs per second, requests made)."""
    import requests

    from nbtrack.remote.mapping import build_payload
    from nbtrack.store.local import Store

    st = Store(store)
    payloads = [build_payload(doc, st) for doc in st.run_docs().values() if doc.get("status") == "finished"]
    session = requests.Session()
    experiment_id = session.post(
        f"{uri}/api/2.0/mlflow/experiments/create", json={"name": f"bare-{time.time()}"}
    ).json()["experiment_id"]
    queue = list(reversed(payloads))
    guard = threading.Lock()
    requests_made = [0]

    def post(s: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = s.post(f"{uri}/api/2.0/mlflow/{path}", data=json.dumps(body), headers=JSON, timeout=60)
        if reply.status_code != 200:
            raise RuntimeError(f"bare client: {path} answered {reply.status_code}: {reply.text[:300]}")
        return reply.json()

    def one(s: Any, p: Any) -> int:
        tags = [{"key": "nbtrack.run_id", "value": p.run_id}]
        run = post(s, "runs/create", {"experiment_id": experiment_id, "start_time": p.start_ms, "tags": tags})
        run_id = run["run"]["info"]["run_id"]
        n = 1
        if p.datasets:
            inputs = [{"dataset": d, "tags": [{"key": "mlflow.data.context", "value": "input"}]} for d in p.datasets]
            post(s, "runs/log-inputs", {"run_id": run_id, "datasets": inputs})
            n += 1
        metrics = [{"key": k, "value": v, "timestamp": t, "step": st} for k, v, t, st in p.metrics]
        params = [{"key": k, "value": v} for k, v in p.params]
        tags = [{"key": k, "value": v} for k, v in p.tags]
        while metrics or params or tags:  # MLflow: <= 100 params, <= 100 tags, <= 1000 entities per request
            p_now, t_now = params[:100], tags[:100]
            m_now = metrics[: 1000 - len(p_now) - len(t_now)]
            params, tags, metrics = params[len(p_now) :], tags[len(t_now) :], metrics[len(m_now) :]
            post(s, "runs/log-batch", {"run_id": run_id, "metrics": m_now, "params": p_now, "tags": t_now})
            n += 1
        for path, data in p.artifacts.items():
            reply = s.put(
                f"{uri}/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/{path}", data=data
            )
            reply.raise_for_status()
            n += 1
        post(s, "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": p.end_ms or p.start_ms})
        return n + 1

    errors: list[BaseException] = []

    def worker() -> None:
        s = requests.Session()
        while True:
            with guard:
                if not queue or errors:
                    return
                p = queue.pop()
            try:
                made = one(s, p)
            except BaseException as exc:
                errors.append(exc)
                return
            with guard:
                requests_made[0] += made

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return len(payloads) / (time.monotonic() - started), requests_made[0]


JSON = {"Content-Type": "application/json"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs to push (default 1,000)")
    parser.add_argument("--workers", type=int, default=None, help="runs pushed in parallel (default: push's, 4)")
    parser.add_argument("--server-workers", type=int, default=2, help="mlflow server worker processes (default 2)")
    parser.add_argument(
        "--backend",
        choices=["sqlite", "file"],
        default="sqlite",
        help="server backend store (default sqlite; file: MLflow's deprecated file store, to see "
        "how far the client goes when the database is not the bottleneck)",
    )
    parser.add_argument("--floor-runs", type=int, default=30, help="runs for the in-process server floor (0: skip)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--output", type=Path, help="JSON results file (default: bench/results/push-<time>.json)")
    args = parser.parse_args()

    import mlflow
    from mlflow import MlflowClient

    tmp = Path(tempfile.mkdtemp(prefix="nbtrack-bench-push-"))
    server = MlflowServer(tmp / "server", workers=args.server_workers, backend=args.backend)
    results: dict[str, object] = {
        "runs": args.runs,
        "client_workers": args.workers or DEFAULT_WORKERS,
        "server_workers": args.server_workers,
        "backend": args.backend,
        "mlflow": mlflow.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "shape": "20 params, 10 metrics x 100 steps, 5 tags, environment",
    }
    try:
        t0 = time.perf_counter()
        server.start()
        results["server_start_s"] = round(time.perf_counter() - t0, 2)
        print(
            f"mlflow {mlflow.__version__} server up in {results['server_start_s']} s at {server.uri} "
            f"({args.server_workers} workers, {args.backend} backend)",
            flush=True,
        )

        store = tmp / "store"
        (tmp / "cwd").mkdir()
        # Recorded in a folder of their own: runs record the files written in the working directory, and a
        # benchmark started from a crowded folder (/tmp) timed its walk (28 ms a run, cut off at 10,000 entries).
        with working_directory(tmp / "cwd"):
            made = make_runs(store, args.runs)
        results["record_s"] = round(made, 2)
        print(f"recorded {args.runs:,} runs in {made:.1f} s", flush=True)

        cpu = time.process_time()
        first = nbtrack.push(server.uri, store=store, workers=args.workers, progress=None)
        cpu = time.process_time() - cpu
        print(first, flush=True)
        second = nbtrack.push(server.uri, store=store, workers=args.workers, progress=False)
        print(second, flush=True)
        if first.failed:
            print(f"first push: {len(first.failed)} runs failed, e.g. {first.failed[0].error}")

        client = MlflowClient(server.uri)
        experiment = client.get_experiment_by_name(EXPERIMENT)
        found = []
        token = None
        while True:
            page = client.search_runs([experiment.experiment_id], max_results=1000, page_token=token)
            found.extend(page)
            token = page.token
            if not token:
                break
        ids = [r.data.tags.get("nbtrack.run_id") for r in found]
        duplicates = len(ids) - len(set(ids))

        rate = len(first.sent) / first.seconds if first.seconds else 0.0
        ratio = second.seconds / first.seconds if first.seconds else 0.0
        results.update(
            {
                "first_push_s": round(first.seconds, 3),
                "first_push_runs_per_s": round(rate, 2),
                "first_push_bytes": first.bytes,
                "second_push_s": round(second.seconds, 3),
                "second_push_ratio": round(ratio, 4),
                "second_push_sent": len(second.sent),
                "server_runs": len(found),
                "duplicates": duplicates,
                "client_cpu_ms_per_run": round(cpu / max(1, len(first.sent)) * 1000, 1),
            }
        )
        bare_rate, bare_requests = bare_push(server.uri, store, args.workers or DEFAULT_WORKERS)
        results["bare_client_runs_per_s"] = round(bare_rate, 2)
        results["bare_client_requests_per_run"] = round(bare_requests / max(1, len(first.sent)), 2)
        ceiling = server_ceiling(server.uri)
        results["server_ceiling_batches_per_s"] = round(ceiling, 2)
        if args.floor_runs:
            floor = server_floor(tmp, args.floor_runs)
            results["server_floor_ms_per_run"] = round(floor * 1000, 1)
            results["server_floor_runs_per_s_per_process"] = round(1 / floor, 1)

        print()
        print(
            f"first push    {rate:8.1f} runs/s   ({len(first.sent):,} runs in {first.seconds:.1f} s)   "
            f"target >= 20 runs/s: {'met' if rate >= 20 else 'NOT met'}"
        )
        print(
            f"second push   {second.seconds:8.2f} s        = {ratio:.1%} of the first   "
            f"target <= 10%: {'met' if ratio <= 0.10 else 'NOT met'}"
        )
        share = rate / bare_rate if bare_rate else 0.0
        print(
            f"bare client   {bare_rate:8.1f} runs/s   (same requests, {results['bare_client_requests_per_run']} per "
            f"run, plain requests sessions, {args.workers or DEFAULT_WORKERS} threads): nbtrack reaches {share:.0%}   "
            f"target >= 80%: {'met' if share >= 0.8 else 'NOT met'}"
        )
        results["share_of_bare_client"] = round(share, 3)
        print(f"on the server {len(found):,} runs, {duplicates} duplicates")
        print(f"client CPU    {results['client_cpu_ms_per_run']} ms per run (this process: mapping, JSON, HTTP)")
        print(
            f"server        accepts {ceiling:.1f} log-batch requests of 1,000 points per second from a bare "
            f"client: no client can push these runs faster than that"
        )
        if args.floor_runs:
            print(
                f"server floor  {results['server_floor_ms_per_run']} ms of server work per run in-process "
                f"(<= {results['server_floor_runs_per_s_per_process']} runs/s per server process, before HTTP)"
            )
    finally:
        server.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    output = args.output or RESULTS_DIR / f"push-{time.strftime('%Y%m%d-%H%M%S')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1) + "\n")
    print(f"results: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
