from pathlib import Path

import pytest

import nbtrack
from nbtrack.store import local as store_mod

CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _not_in_the_checkout(request, monkeypatch):
    """A run records the files it wrote under the working directory: a test left in the checkout would walk the
    whole repository for each run (its time limit, hit on a loaded machine, is a warning, an error here)."""
    if Path.cwd().resolve() == CHECKOUT:
        monkeypatch.chdir(request.getfixturevalue("tmp_path"))


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
    """IPython's in-process test shell with nbtrack loaded, as after a kernel restart: an empty namespace and a
    new history session, whatever the tests before this one (on this worker) ran in it."""
    from IPython.testing.globalipapp import get_ipython, start_ipython

    shell = start_ipython() or get_ipython()
    shell.reset(new_session=True)
    shell.run_line_magic("load_ext", "nbtrack")
    shell.user_ns.pop("__vsc_ipynb_file__", None)
    yield shell
    shell.run_line_magic("unload_ext", "nbtrack")


# shared by the panel tests (test_panel_model, test_panel_actions, test_panel_magic, test_widgets)
@pytest.fixture
def sweep(store_dir):
    """Six finished runs of experiment "sweep" (lr differs, batch does not), one failed run of "other"."""
    made = []
    for lr in (0.01, 0.1, 1.0):
        for seed in range(2):
            with nbtrack.track(
                name=f"lr{lr}",
                experiment="sweep",
                params={"lr": lr, "seed": seed, "batch": 32},
                tags={"opt": "adam" if lr < 1 else "sgd", "owner": "me"},
                environment=False,
            ) as run:
                nbtrack.log_metric("acc", 0.5 + lr / 4 + seed / 100)
                nbtrack.log_metric("loss", 1 - lr / 4)
            made.append(run.id)
    with pytest.raises(ValueError), nbtrack.track(name="broken", experiment="other", environment=False):
        raise ValueError("x")
    return made


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


# Tests that share a server started once (the JupyterLab of tests/browser, the mlflow server of test_push) run
# on one pytest-xdist worker, so it still starts once: `--dist loadgroup` (pyproject.toml) groups them here by
# path. (xdist's `xdist_group` marks do not reach its scheduler under pytest 9: xdist 3.8 renames the items
# through `_nodeid`, which pytest 9 no longer reads.) Every other test is a unit of its own.
SHARED_SERVER_TESTS = {
    "tests/browser/": "jupyterlab",
    "tests/test_push.py::": "mlflow-server",
    "tests/test_push_models.py::": "mlflow-server-models",
    "tests/test_push_backends.py::": "mlflow-backends",
    "tests/jobs/test_dask.py::": "dask-cluster",
}


def shared_server_group(nodeid: str) -> str:
    return next((group for prefix, group in SHARED_SERVER_TESTS.items() if nodeid.startswith(prefix)), nodeid)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedServerScheduling(LoadScopeScheduling):
        """Units are the shared-server groups (the largest first) and single tests."""

        def _split_scope(self, nodeid: str) -> str:
            return shared_server_group(nodeid)

    return SharedServerScheduling(config, log)


# Lines a test wants in the run's summary (timings, screenshot paths): it adds them to its report's
# user_properties under REPORT_KEY, which pytest-xdist carries from the workers to the process that prints.
REPORT_KEY = "nbtrack-report"
_report_lines: list[str] = []


def pytest_runtest_logreport(report):
    _report_lines.extend(value for key, value in report.user_properties if key == REPORT_KEY)


def pytest_terminal_summary(terminalreporter):
    if _report_lines:
        terminalreporter.section("nbtrack test report")
        for line in _report_lines:
            terminalreporter.write_line(line)
