"""The package list is read from the on-disk cache in a fresh process, and a change of sys.path misses it."""

import json
import os
import subprocess
import sys

from nbtrack.capture import package_cache

_PRINT_PACKAGES = (
    "import json, time\n"
    "from nbtrack.capture.environment import installed_packages\n"
    "t = time.perf_counter(); p = installed_packages()\n"
    "print(json.dumps({'n': len(p), 'nbtrack': 'nbtrack' in {k.lower() for k in p}, 'fake': p.get('fake-dist')}))\n"
)


def _run(cache, extra_path=None):
    env = {**os.environ, "NBTRACK_CACHE_DIR": str(cache)}
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(extra_path), env.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", _PRINT_PACKAGES], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_a_fresh_process_reads_the_list_the_previous_one_cached(tmp_path):
    first = _run(tmp_path)
    assert first["n"] > 10 and first["nbtrack"] and first["fake"] is None
    [cached] = list(tmp_path.glob("packages-*.json"))
    doc = json.loads(cached.read_text())
    doc["packages"]["fake-dist"] = "9.9"  # proves the second process read the file instead of scanning
    cached.write_text(json.dumps(doc))
    assert _run(tmp_path)["fake"] == "9.9"


def test_another_sys_path_or_a_changed_folder_is_another_cache_entry(tmp_path):
    cache = tmp_path / "cache"
    extra = tmp_path / "site"
    extra.mkdir()
    _run(cache, extra)
    _run(cache, extra)
    assert len(list(cache.glob("packages-*.json"))) == 1
    (extra / "new_pkg-1.0.dist-info").mkdir()  # what an install does to a site folder: its mtime moves
    os.utime(extra, ns=(os.stat(extra).st_atime_ns, os.stat(extra).st_mtime_ns + 10**9))
    _run(cache, extra)
    assert len(list(cache.glob("packages-*.json"))) == 2


def test_a_damaged_or_foreign_cache_file_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_CACHE_DIR", str(tmp_path))
    key = package_cache.cache_key([("x", 1)])
    package_cache.save(key, {"a": "1"})
    assert package_cache.load(key) == {"a": "1"}
    path = tmp_path / f"packages-{key}.json"
    path.write_text("{not json")
    assert package_cache.load(key) is None
    path.write_text(json.dumps({"key": "other", "packages": {"a": "1"}}))
    assert package_cache.load(key) is None
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere.json")
    (tmp_path / "elsewhere.json").write_text(json.dumps({"key": key, "packages": {"a": "1"}}))
    assert package_cache.load(key) is None  # never followed through a link


def test_an_unwritable_cache_folder_costs_only_the_scan(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("NBTRACK_CACHE_DIR", str(blocker / "sub"))
    package_cache.save("k", {"a": "1"})  # no exception
    assert package_cache.load("k") is None


def test_files_written_in_the_working_directory_keep_the_cache_but_a_distribution_there_does_not(tmp_path):
    cache = tmp_path / "cache"
    work = tmp_path / "work"
    work.mkdir()

    def run_in_work():
        env = {**os.environ, "NBTRACK_CACHE_DIR": str(cache)}
        subprocess.run([sys.executable, "-c", _PRINT_PACKAGES], env=env, cwd=work, check=True, capture_output=True)

    run_in_work()
    (work / "results.csv").write_text("a,b\n")  # what a notebook does all day: the folder's mtime moves
    os.utime(work, ns=(os.stat(work).st_atime_ns, os.stat(work).st_mtime_ns + 10**9))
    run_in_work()
    assert len(list(cache.glob("packages-*.json"))) == 1  # no rescan in the next fresh process
    (work / "local_pkg-0.1.dist-info").mkdir()  # a distribution importable from the working directory
    run_in_work()
    assert len(list(cache.glob("packages-*.json"))) == 2


def test_a_working_directory_without_distributions_does_not_key_the_list(tmp_path):
    """A fresh kernel in another notebook folder reads the list cached from the first folder."""
    cache = tmp_path / "cache"
    env = {**os.environ, "NBTRACK_CACHE_DIR": str(cache)}
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        subprocess.run([sys.executable, "-c", _PRINT_PACKAGES], env=env, cwd=tmp_path / name, check=True)
    assert len(list(cache.glob("packages-*.json"))) == 1
    (tmp_path / "two" / "local_pkg-1.0.dist-info").mkdir()  # a folder that holds a distribution is keyed by it
    subprocess.run([sys.executable, "-c", _PRINT_PACKAGES], env=env, cwd=tmp_path / "two", check=True)
    assert len(list(cache.glob("packages-*.json"))) == 2


_SCRIPT_WRITING_BESIDE_ITSELF = """
import importlib.metadata, os, sys
scans = []
real = importlib.metadata.distributions
importlib.metadata.distributions = lambda *a, **k: scans.append(1) or real(*a, **k)
from nbtrack.capture.environment import installed_packages
here = os.path.dirname(os.path.abspath(__file__))
for seed in range(3):
    installed_packages()
    open(os.path.join(here, f"model_{seed}.pkl"), "w").close()  # a new file beside the script: its folder moves
    st = os.stat(here)
    os.utime(here, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
print(len(scans))
"""


def test_a_script_saving_files_beside_itself_scans_the_packages_once(tmp_path):
    """``python train.py`` puts the script's folder first on ``sys.path``; its mtime moves with every file the
    script writes there, which made every run of the process rescan the packages (~25 ms each, 200-500 ms on a
    busy machine)."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "train.py").write_text(_SCRIPT_WRITING_BESIDE_ITSELF)
    env = {**os.environ, "NBTRACK_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, str(folder / "train.py")], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "1"


def test_the_cache_folder_keeps_only_the_lists_used_last(tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_CACHE_DIR", str(tmp_path))
    keys = [package_cache.cache_key([("site", i)]) for i in range(package_cache.KEEP + 5)]

    def age(key, seconds):  # mtimes a few seconds apart, whatever the clock's resolution
        path = tmp_path / f"packages-{key}.json"
        os.utime(path, ns=(0, 10**18 + seconds * 10**9))

    for i, key in enumerate(keys):
        package_cache.save(key, {"a": str(i)})
        age(key, i)
    listed = sorted(p.name for p in tmp_path.glob("packages-*.json"))
    assert listed == sorted(f"packages-{k}.json" for k in keys[5:])  # the 5 oldest are gone
    oldest_kept = keys[5]
    assert package_cache.load(oldest_kept) == {"a": "5"}  # a read marks it used: the next prune keeps it
    assert os.stat(tmp_path / f"packages-{oldest_kept}.json").st_mtime_ns > 10**18 + 10**12
    package_cache.save(package_cache.cache_key([("site", "new")]), {"a": "new"})
    assert package_cache.load(oldest_kept) == {"a": "5"}
    assert package_cache.load(keys[6]) is None  # the least recently used one went instead
    assert len(list(tmp_path.glob("packages-*.json"))) == package_cache.KEEP
