"""A store in a folder another local user can write: their links and files never make nbtrack write elsewhere.

The attacker is a real second user (``nbtrack-other``, created for these tests and removed after; CI
runs as root, which is needed to create it). The victim is this process. The attacks are the ones
issue 18 reproduced: symlinks planted at the names nbtrack used to write to (predictable temporary
names, ``runs.jsonl.torn``, the lock, the doctor's files), pointing at a file of the victim's (a fake
``~/.bashrc``). Also here: a store the user cannot write (a real ``chmod 0o500`` folder, as the second
user, since root ignores permissions) fails with a clear error and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from nbtrack import ids
from nbtrack.cli import main as cli
from nbtrack.errors import StoreCorruptError, StoreCorruptionWarning, StoreWriteError
from nbtrack.store.local import Store

OTHER = "nbtrack-other"
SRC = Path(__file__).resolve().parents[1] / "src"
BASHRC = b"# the victim's shell startup file\nexport PATH=$HOME/bin:$PATH\n"


def _run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture(scope="module")
def other_user():
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("needs root to create a second local user with useradd (CI runs as root)")
    if not (shutil.which("useradd") and shutil.which("userdel") and shutil.which("runuser")):
        pytest.skip("needs useradd, userdel and runuser to create and act as a second local user")
    _run("userdel", "-r", OTHER)  # left over by an interrupted earlier run
    made = _run("useradd", "-m", OTHER)
    if made.returncode != 0:
        pytest.skip(f"useradd could not create {OTHER}: {made.stderr.strip()}")
    try:
        yield OTHER
    finally:
        _run("userdel", "-r", OTHER)


def as_other(*cmd: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", OTHER, "--"] + (["env", *(f"{k}={v}" for k, v in env.items())] if env else [])
    return _run(*prefix, *cmd, cwd=cwd)


@pytest.fixture
def shared(other_user):
    """``(base, bashrc, project)``: a victim's home with a ``.bashrc`` and a project folder anyone can write."""
    base = Path(tempfile.mkdtemp(prefix="nbtrack-shared-"))  # under /tmp: pytest's tmp_path is 0o700
    os.chmod(base, 0o755)
    home = base / "home"
    home.mkdir(mode=0o700)
    bashrc = home / ".bashrc"
    bashrc.write_bytes(BASHRC)
    project = base / "project"
    project.mkdir()
    os.chmod(project, 0o777)  # a shared folder, without the sticky bit
    try:
        yield base, bashrc, project
    finally:
        shutil.rmtree(base, ignore_errors=True)


def plant_links(store: Path, target: Path, when: float) -> list[str]:
    """As the other user: symlinks to ``target`` at every name nbtrack used to write to without care."""
    pid, tid = os.getpid(), threading.get_ident()
    names = [
        "runs.jsonl.torn",
        f".runs.jsonl.{pid}.{tid}.tmp",  # the old compaction / repair temporary file
        f".runs.jsonl.{pid}.prev.tmp",  # the old name of the link to the last good copy
        ".runs.jsonl.repair.tmp",
        "runs.jsonl.prev",
    ]
    names += [f"runs.jsonl.damaged-{time.strftime('%Y%m%d-%H%M%S', time.localtime(when + s))}" for s in range(30)]
    names += [f"runs.jsonl.before-repair-{time.strftime('%Y%m%d-%H%M%S', time.localtime(when + s))}" for s in range(30)]
    for name in names:
        made = as_other("ln", "-sfn", str(target), str(store / name))
        assert made.returncode == 0, made.stderr
    return names


def test_planted_symlinks_are_never_written_through(shared):
    _, bashrc, project = shared
    store_dir = project / ".nbtrack"
    assert as_other("mkdir", "-m", "777", str(store_dir)).returncode == 0  # the attacker made the store folder
    assert as_other("mkdir", "-m", "777", str(store_dir / "objects")).returncode == 0
    planted = plant_links(store_dir, bashrc, time.time())

    store = Store(store_dir)
    made = [ids.new_run_id() for _ in range(5)]
    for n, run_id in enumerate(made):
        store.put_run({"id": run_id, "n": n, "history": store.put_json([n])})
    with open(store_dir / "runs.jsonl", "ab") as journal:
        journal.write(b'0badc0de {"op":"put"')  # a write torn by a crash: the next writer cuts it off
    store.put_run({"id": ids.new_run_id(), "n": 5})  # ... into runs.jsonl.torn, a link: not followed
    assert store.journal.compact()  # temporary file, the last good copy, the mark
    lines = (store_dir / "runs.jsonl").read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"n":', b'"m":')  # a damaged line, for doctor --repair to set aside
    (store_dir / "runs.jsonl").write_bytes(b"".join(lines) + b"0badc0de {")
    with pytest.warns(StoreCorruptionWarning):
        assert cli(["--store", str(store_dir), "doctor"]) == 1
    assert cli(["--store", str(store_dir), "doctor", "--repair"]) == 0

    assert bashrc.read_bytes() == BASHRC  # nothing reached the victim's file
    assert len(Store(store_dir).run_docs()) == 6  # the damaged line set aside, its run restored from .prev
    kept = [p for p in store_dir.iterdir() if p.name.startswith("runs.jsonl.torn") and not p.is_symlink()]
    assert kept and b'0badc0de {"op":"put"' in kept[0].read_bytes()  # the torn bytes went to a file of our own
    for name in planted:  # what the attacker planted is still a link, was removed, or replaced by a file of ours
        path = store_dir / name
        assert path.is_symlink() or not path.exists() or path.stat().st_uid == os.geteuid()


def test_planted_journal_lock_and_blob_folder_links_are_refused(shared):
    _, bashrc, project = shared
    store_dir = project / ".nbtrack"
    assert as_other("mkdir", "-p", "-m", "777", str(store_dir / "objects")).returncode == 0
    assert as_other("ln", "-s", str(bashrc), str(store_dir / "runs.jsonl")).returncode == 0
    with pytest.raises(StoreWriteError, match="this write was not saved"):
        Store(store_dir).put_run({"id": ids.new_run_id()})
    with pytest.raises(StoreCorruptError, match="never follows a symlink"):
        Store(store_dir).run_docs()
    assert bashrc.read_bytes() == BASHRC
    os.unlink(store_dir / "runs.jsonl")
    assert as_other("ln", "-sfn", str(bashrc), str(store_dir / "lock")).returncode == 0  # replaces ours
    store = Store(store_dir)
    with pytest.raises(StoreWriteError, match="could not lock"):
        store.put_run({"id": ids.new_run_id()})
    assert bashrc.read_bytes() == BASHRC

    data = b"a blob"
    target = hashlib.blake2b(data, digest_size=16).hexdigest()
    assert as_other("ln", "-s", str(bashrc.parent), str(store_dir / "objects" / target[:2])).returncode == 0
    with pytest.raises(StoreWriteError, match="nothing of it was kept"):
        store.blobs.put(data)
    assert sorted(p.name for p in bashrc.parent.iterdir()) == [".bashrc"]  # nothing created in the victim's home


def _other_python(base: Path) -> list[str]:
    """A Python the other user can run with nbtrack (this tree) and its dependencies importable."""
    paths = [str(SRC), *site.getsitepackages()]
    env = {"PYTHONPATH": os.pathsep.join(paths), "HOME": str(base)}
    for python in (sys.executable, f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"):
        probe = as_other(python, "-c", "import nbtrack.store.local", env=env, cwd=base)
        if probe.returncode == 0:
            return ["env", *(f"{k}={v}" for k, v in env.items()), python]
    pytest.skip(f"no Python that {OTHER} can run imports nbtrack ({sys.executable} is not reachable for that user)")


SEED = (
    "import sys; from nbtrack import ids; from nbtrack.store.local import Store; "
    "Store(sys.argv[1]).put_run({'id': ids.new_run_id()})"
)
READ_ONLY = textwrap.dedent(
    """
    import json, sys
    from nbtrack import ids
    from nbtrack.errors import StoreWriteError
    from nbtrack.store.local import Store
    store = Store(sys.argv[1])
    out = {"before": len(store.run_docs())}
    for what, call in [("record", lambda: store.put_run({"id": ids.new_run_id()})),
                       ("blob", lambda: store.put_blob(b"x" * 5000))]:
        try:
            call()
            out[what] = "saved"
        except StoreWriteError as exc:
            out[what] = [exc.errno, str(exc)]
    print(json.dumps(out))
    """
)


def test_a_read_only_store_refuses_writes_clearly_and_leaves_nothing(shared):
    base, _, project = shared
    store_dir = project / "store"
    assert as_other("mkdir", str(store_dir)).returncode == 0
    python = _other_python(base)
    seed = subprocess.run(
        ["runuser", "-u", OTHER, "--", *python, "-c", SEED, str(store_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=base,
    )
    assert seed.returncode == 0, seed.stderr
    for path in [store_dir, store_dir / "objects"]:
        os.chmod(path, 0o500)  # read-only for its owner, the other user
    os.chmod(store_dir / "runs.jsonl", 0o400)
    before = sorted(p.name for p in store_dir.rglob("*"))
    done = subprocess.run(
        ["runuser", "-u", OTHER, "--", *python, "-c", READ_ONLY, str(store_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=base,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["before"] == 1
    errno_record, message = out["record"]
    assert errno_record == 13 and "this write was not saved" in message and "intact" in message
    errno_blob, message = out["blob"]
    assert errno_blob == 13 and "nothing of it was kept" in message
    assert sorted(p.name for p in store_dir.rglob("*")) == before  # no temporary file left behind
