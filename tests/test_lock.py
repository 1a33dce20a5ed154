"""The store's write lock: exclusive across processes and threads, re-entrant in one thread, released by death."""

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from nbtrack.errors import StoreBusyError
from nbtrack.store.lock import FileLock


def test_reentrant_in_one_thread_exclusive_across_threads(tmp_path):
    lock = FileLock(tmp_path / "lock", timeout=5)
    order = []

    def other():
        with lock:
            order.append("other")

    with lock, lock:  # re-entrant: the second enter does not wait for the first
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.2)
        order.append("main")
    thread.join(10)
    assert order == ["main", "other"]


HOLDER = textwrap.dedent(
    """
    import sys, time
    from nbtrack.store.lock import FileLock
    with FileLock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def test_another_process_waits_then_gets_it_and_a_timeout_names_the_holder(tmp_path):
    path = tmp_path / "lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), "1"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreBusyError, match=rf"held by process {holder.pid} "), FileLock(path, timeout=0.2):
            pass
        start = time.monotonic()
        with FileLock(path, timeout=30):
            waited = time.monotonic() - start
        assert 0.3 < waited < 20  # got it once the holder let go
    finally:
        holder.kill()
        holder.wait()
