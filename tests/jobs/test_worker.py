"""jobs/worker.py: execute_task runs real scripts in fresh interpreters, each in its own process group."""

from __future__ import annotations

import os
import time
from pathlib import Path

from nbtrack.jobs.tasks import Task, content_digest, file_digest
from nbtrack.jobs.worker import CANNOT_START, execute_task

SCRIPT = b"""
import os, sys, nbtrack
seed = int(sys.argv[sys.argv.index('--seed') + 1])
rows = open('data.csv').read().splitlines()
with nbtrack.track('t', experiment='w', params={'seed': seed}, environment=False):
    nbtrack.log_metric('rows', float(len(rows)) + seed)
print('cwd=' + os.getcwd())
print(os.environ.get('NBTRACK_DIR'))
"""


def task(tmp_path: Path, script: bytes = SCRIPT, **kw) -> Task:
    data = tmp_path / "data.csv"
    if not data.exists():
        data.write_text("a\n1\n2\n")
    options = {"task_id": "t1", "script": script, "script_name": "s.py", "args": ["--seed", "3"]}
    options.update(cwd=str(tmp_path), inputs={"data.csv": file_digest(data)}, timeout=120.0, env={})
    options.update(kw)
    return Task(**options)


def test_a_script_runs_where_the_run_ran_and_its_record_and_blobs_come_back(tmp_path, store_dir):
    result = execute_task(task(tmp_path))
    assert result.returncode == 0 and result.ok, result.stderr_tail
    assert f"cwd={tmp_path}" in result.stdout_tail
    assert result.doc["params"] == {"seed": 3} and result.doc["metrics"] == {"rows": 6.0}
    assert result.doc["status"] == "finished" and result.host
    assert result.blobs and all(content_digest(b) == d for d, b in result.blobs.items())
    assert result.doc["series"] in result.blobs
    temp_store = result.stdout_tail.strip().splitlines()[-1]
    assert not Path(temp_store).exists()  # the temporary store is gone, the user's store untouched
    assert not store_dir.exists()


def test_inputs_are_fetched_by_digest_where_the_working_directory_differs(tmp_path):
    t = task(tmp_path)
    (tmp_path / "data.csv").write_text("a\n1\n2\n3\n4\n")  # the file here changed since: not the run's input
    asked = []

    def fetch(digest):
        asked.append(digest)
        return b"a\n1\n2\n"

    result = execute_task(t, fetch)
    assert result.ok, result.stderr_tail
    assert asked == [t.inputs["data.csv"]]
    assert result.doc["metrics"] == {"rows": 6.0}  # the recorded bytes, not the changed file
    assert f"cwd={tmp_path}" not in result.stdout_tail


def test_missing_inputs_without_a_fetcher_fail_the_task_before_it_starts(tmp_path):
    t = task(tmp_path, cwd=str(tmp_path / "gone"))
    result = execute_task(t)
    assert result.returncode == CANNOT_START and "data.csv" in result.stderr_tail and result.doc is None
    bad = execute_task(t, lambda digest: b"other bytes")
    assert bad.returncode == CANNOT_START and "digest" in bad.stderr_tail


def test_a_crash_keeps_the_stderr_tail_and_the_failed_record(tmp_path):
    script = (
        b"import sys, nbtrack\nprint('noise ' * 3000, file=sys.stderr)\n"
        b"with nbtrack.track('t', environment=False):\n    raise ValueError('bad seed')\n"
    )
    result = execute_task(task(tmp_path, script=script, args=[]))
    assert result.returncode == 1 and not result.ok
    assert "ValueError: bad seed" in result.stderr_tail and len(result.stderr_tail) <= 4000
    assert result.doc is not None and result.doc["status"] == "failed"


def test_the_timeout_kills_the_whole_process_group(tmp_path):
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    ).encode()
    started = time.perf_counter()
    result = execute_task(task(tmp_path, script=script, args=[], timeout=3.0))
    assert time.perf_counter() - started < 30
    assert result.timed_out and result.returncode == -9 and "time limit" in result.stderr_tail
    child = int(pid_file.read_text())
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the script's child outlived the timeout")


def test_on_start_gets_the_process_group_id(tmp_path):
    seen = []
    result = execute_task(task(tmp_path, script=b"import os; print(os.getpgid(0))", args=[]), on_start=seen.append)
    assert result.returncode == 0 and seen == [int(result.stdout_tail.strip())]
