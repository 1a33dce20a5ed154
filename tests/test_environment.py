"""nbtrack.capture.environment: the environment record of a run, with git state read from a real repository."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nbtrack.capture import environment
from nbtrack.capture.environment import RECORDED_ENV_VARS, GitProbe, capture, find_git_root, installed_packages
from nbtrack.store.local import Store


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository with one commit; git's answers are not reused from an earlier test."""
    monkeypatch.setattr(environment, "_git_cache", {})
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    (root / "train.py").write_text("lr = 0.1\n")
    git(root, "add", "train.py")
    git(root, "commit", "-q", "-m", "first")
    (root / "sub").mkdir()
    return root


def head(root) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()


def test_capture_records_commit_clean_state_and_packages(repo, tmp_path, monkeypatch):
    store = Store(tmp_path / "store")
    monkeypatch.chdir(repo / "sub")
    for name in RECORDED_ENV_VARS:  # only what the test sets (another library may have set some)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "never recorded")
    env = capture(store, GitProbe(repo / "sub"))
    assert env["git"] == {"root": str(repo), "commit": head(repo), "branch": "main", "dirty": False}
    packages = store.get_json(env["packages"])
    assert packages["pytest"] == pytest.__version__ and env["package_count"] == len(packages)
    assert env["env_vars"] == {"OMP_NUM_THREADS": "3"}
    assert env["python"] == ".".join(map(str, sys.version_info[:3])) and env["executable"] == sys.executable
    assert env["cwd"] == str(repo / "sub")
    again = capture(store, None)
    assert again["packages"] == env["packages"] and "git" not in again  # one blob for the same package list


def test_a_changed_tracked_file_is_dirty(repo, tmp_path):
    (repo / "train.py").write_text("lr = 0.2\n")
    (repo / "untracked.txt").write_text("not counted\n")
    env = capture(Store(tmp_path / "store"), GitProbe(repo))
    assert env["git"]["dirty"] is True and env["git"]["commit"] == head(repo)


def test_untracked_files_alone_are_not_dirty(repo, tmp_path):
    (repo / "notes.txt").write_text("scratch\n")
    assert GitProbe(repo).wait()["dirty"] is False


def test_a_repository_without_commits_and_a_folder_outside_git(tmp_path, monkeypatch):
    monkeypatch.setattr(environment, "_git_cache", {})
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert GitProbe(empty).wait() == {"root": str(empty), "commit": None}
    outside = tmp_path / "plain"
    outside.mkdir()
    if find_git_root(outside) is None:  # the temp dir is not inside some repository
        probe = GitProbe(outside)
        assert probe.root is None and probe.wait() is None


def test_git_state_is_reused_for_a_few_seconds(repo):
    first = GitProbe(repo).wait()
    (repo / "train.py").write_text("changed\n")
    assert GitProbe(repo).wait() is first  # a sweep asks git once per GIT_REUSE_SECONDS
    environment._git_cache.clear()
    assert GitProbe(repo).wait()["dirty"] is True


def test_installed_packages_is_sorted_and_cached():
    packages = installed_packages()
    assert list(packages) == sorted(packages, key=str.lower)
    assert "nbtrack" in packages and installed_packages() is packages


def test_the_package_list_blob_is_written_again_where_the_store_lacks_it(tmp_path):
    first, second = Store(tmp_path / "a"), Store(tmp_path / "b")
    digest = capture(first)["packages"]
    assert capture(first)["packages"] == digest  # the same list: the hash made once is reused
    assert capture(second)["packages"] == digest and second.get_json(digest) == installed_packages()
    assert Store(first.root).get_json(digest) == installed_packages()


def _listed_by_the_email_parser(path):
    from importlib import metadata

    found = {}
    for dist in metadata.distributions(path=path):
        try:  # importlib_metadata's distributions (once it is imported) raise KeyError for a missing field
            name, version = dist.metadata["Name"], dist.version
        except KeyError:
            continue
        if name and name not in found:
            found[name] = version
    return found


@pytest.mark.parametrize("backport", [False, True], ids=["stdlib", "importlib_metadata-imported"])
def test_names_and_versions_read_from_the_metadata_head_match_the_full_parse(tmp_path, backport):
    """The fast reader of the metadata file's head agrees with importlib's e-mail parser, on every
    distribution installed here and on odd files: another field case, a body that repeats the fields,
    an egg-info, continuation lines, a head without a version, \\r\\n line ends."""
    from importlib import metadata

    if backport:  # it adds its own finder: the distributions found are then its objects, stricter on missing fields
        pytest.importorskip("importlib_metadata")
    site = tmp_path / "site"
    odd = {
        "Odd_Name-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nname: Odd_Name\nVERSION: 1.0\n\nName: wrong\n",
        "plain-2.0.dist-info/METADATA": "Metadata-Version: 2.1\nSummary: a\n  b\nName: plain\nVersion: 2.0rc1\n",
        "legacy-0.3.egg-info/PKG-INFO": "Metadata-Version: 1.0\nName: legacy\nVersion: 0.3\n",
        "noversion-0.dist-info/METADATA": "Metadata-Version: 2.1\nName: noversion\n\nVersion: 9\n",
        "crlf-1.0.dist-info/METADATA": "Metadata-Version: 2.1\r\nName: crlf\r\nVersion: 1.0\r\n\r\nName: wrong\r\n",
    }
    for rel, text in odd.items():
        (site / rel).parent.mkdir(parents=True)
        (site / rel).write_bytes(text.encode())
    for path in (sys.path, [str(site)]):
        ours = {}
        for dist in metadata.distributions(path=path):
            try:
                name, version = environment._name_and_version(dist)
            except KeyError:
                continue
            if name and name not in ours:
                ours[name] = version
        assert ours == _listed_by_the_email_parser(path)
    assert ours["Odd_Name"] == "1.0" and ours["plain"] == "2.0rc1" and ours["legacy"] == "0.3"
    assert ours["crlf"] == "1.0"


@pytest.mark.parametrize("backport", [False, True], ids=["stdlib", "importlib_metadata-imported"])
def test_a_distribution_with_broken_metadata_is_left_out_and_the_rest_listed(tmp_path, monkeypatch, backport):
    if backport:
        pytest.importorskip("importlib_metadata")
    site = tmp_path / "site"
    for rel, text in {
        "good-1.2.dist-info/METADATA": "Metadata-Version: 2.1\nName: good\nVersion: 1.2\n",
        "noversion-0.dist-info/METADATA": "Metadata-Version: 2.1\nName: noversion\n\nVersion: 9\n",
        "empty-0.dist-info/METADATA": "",
    }.items():
        (site / rel).parent.mkdir(parents=True)
        (site / rel).write_text(text)
    monkeypatch.setenv("NBTRACK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(environment, "_packages_cache", None)
    monkeypatch.syspath_prepend(str(site))
    packages = installed_packages()
    assert packages["good"] == "1.2" and "nbtrack" in packages
    assert "noversion" not in packages and "" not in packages and None not in packages
