import pytest

import nbtrack
from nbtrack.store import local as store_mod


@pytest.fixture
def store_dir(tmp_path, monkeypatch):
    """A fresh store as this process's default; the cwd is a temp dir too."""
    path = tmp_path / "store"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBTRACK_DIR", raising=False)
    monkeypatch.delenv("NBTRACK_EXPERIMENT", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    nbtrack.set_store(path)
    yield path
    nbtrack.set_store(None)
    store_mod._stores.pop(path.absolute(), None)


@pytest.fixture
def ip(store_dir):
    """IPython's in-process test shell with nbtrack loaded."""
    from IPython.testing.globalipapp import get_ipython, start_ipython

    shell = start_ipython() or get_ipython()
    shell.run_line_magic("load_ext", "nbtrack")
    shell.user_ns.pop("__vsc_ipynb_file__", None)
    yield shell
    shell.run_line_magic("unload_ext", "nbtrack")


@pytest.fixture(scope="module")
def store_dir_for_fuzz(tmp_path_factory):
    """A test shell with nbtrack loaded and one store, shared by every example of a fuzz test."""
    from IPython.testing.globalipapp import get_ipython, start_ipython

    path = tmp_path_factory.mktemp("fuzzstore")
    nbtrack.set_store(path)
    shell = start_ipython() or get_ipython()
    shell.run_line_magic("load_ext", "nbtrack")
    yield shell
    shell.run_line_magic("unload_ext", "nbtrack")
    nbtrack.set_store(None)


# pytest-jupyter's fixtures (jp_fetch, jp_serverapp, ...) for tests/server/. Its two autouse fixtures (a fresh
# event loop per test, server cleanup) cost about 15 ms a test elsewhere; tests/browser/ turns them off.
pytest_plugins = ["pytest_jupyter.jupyter_server"]
