"""A real JupyterLab (with nbtrack's sidebar and server extension) and headless Debian chromium.

``lab`` starts ``jupyter lab`` on 127.0.0.1 with a token, in a temporary root with private Jupyter and
IPython directories (nothing is written to the home directory), once for all browser tests. Playwright
drives the system chromium (``/usr/bin/chromium``; Playwright's own browser download is never used).
Screenshots go to ``$ARTIFACTS`` (``.ci/run`` sets it) or pytest's temporary directory; the paths are
printed. ``NBTRACK_SCREENSHOTS=docs/img`` also writes the README's screenshots.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "nbtrack-browser-test"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (.ci/run installs it)"
)


# pytest-jupyter's autouse fixtures (an asyncio loop per test, server cleanup) clash with Playwright's sync
# API, which runs its own loop; these tests start their own server, so both become no-ops here.
@pytest.fixture(autouse=True)
def jp_asyncio_loop():
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    yield


def notebook(path: Path, cells: list[str]) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


class Lab:
    def __init__(self, url: str, root: Path, log: Path) -> None:
        self.url = url
        self.root = root
        self.log = log

    def page_url(self, path: str) -> str:
        return f"{self.url}{path}{'&' if '?' in path else '?'}token={TOKEN}"

    def api(self, path: str) -> dict:
        return json.loads(_get(self.page_url(f"nbtrack/api/{path}")))


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("ARTIFACTS") or tmp_path_factory.mktemp("artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def lab(tmp_path_factory, artifacts):
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (.ci/run installs it)")
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBTRACK_", "JPY_"))}
    for name, sub in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("IPYTHONDIR", "ipython"),
    ):
        env[name] = str(base / sub)
        (base / sub).mkdir()
    settings = base / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    port = _free_port()
    log_path = artifacts / "lab.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--FileContentsManager.delete_to_trash=False",
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while True:
        try:
            _get(f"{url}api/status?token={TOKEN}")
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log.close()
                raise RuntimeError(
                    f"jupyter lab did not start; see {log_path}:\n{log_path.read_text()[-3000:]}"
                ) from None
            time.sleep(0.2)
    REPORT.append(f"jupyter lab log: {log_path}")
    yield Lab(url, root, log_path)
    process.send_signal(signal.SIGTERM)  # shuts the kernels down too
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    log.close()


@pytest.fixture(scope="module")
def browser(lab):
    """Playwright's sync API keeps an asyncio loop marked running while it is started: stop it at the end of
    each module, so the tests after the browser tests get a usable loop."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def on_dialog(dialog, errors: list[str]) -> None:
    """Leaving JupyterLab asks "leave the page?" (accepted); any other dialog (an alert()) is an error."""
    if dialog.type == "beforeunload":
        dialog.accept()
    else:
        errors.append(f"{dialog.type} dialog: {dialog.message}")
        dialog.dismiss()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    if call.when == "teardown":  # the REPORT lines so far go with this test's last report (see tests/conftest.py)
        item.user_properties.extend((REPORT_KEY, line) for line in REPORT)
        REPORT.clear()
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser, request, artifacts):
    """A fresh page; a JavaScript error or an alert() fails the test. A failed test leaves a screenshot."""
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: on_dialog(dialog, errors))
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        path = artifacts / f"failed-{request.node.name}.png"
        page.screenshot(path=str(path))
        REPORT.append(f"screenshot of the failure: {path}")
    context.close()
    assert not errors, f"errors in the page: {errors}"


REPORT: list[str] = []  # printed at the end of the run (by tests/conftest.py): screenshots saved, timings
REPORT_KEY = "nbtrack-report"  # tests/conftest.py prints the user_properties under this key


def screenshot(page, artifacts: Path, name: str, readme: bool = False) -> Path:
    """Save a screenshot as an artifact; the README's also under $NBTRACK_SCREENSHOTS when set (docs/img)."""
    path = artifacts / name
    page.screenshot(path=str(path))
    REPORT.append(f"screenshot: {path}")
    docs = os.environ.get("NBTRACK_SCREENSHOTS")
    if docs and readme:
        folder = Path(__file__).resolve().parents[2] / docs  # relative to the checkout: tests run in temp folders
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / name))
        REPORT.append(f"screenshot: {folder / name}")
    return path


def open_notebook(page, lab: Lab, name: str) -> None:
    """Open a notebook in a workspace of its own (nothing restored from an earlier test) and wait until its
    kernel is idle (the status bar says so)."""
    page.goto(lab.page_url(f"lab/workspaces/{workspace(name)}/tree/{name}"))
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=60_000)
    page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for(timeout=60_000)


def workspace(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name) + f"-{time.monotonic_ns()}"


def run_all_cells(page) -> None:
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()


def open_sidebar(page) -> None:
    tab = page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="nbtrack-runs"]')
    tab.wait_for(timeout=60_000)
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()


def widen_sidebar(page, pixels: int = 330) -> None:
    """Drag the handle between the left sidebar and the main area, so the table's columns show."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + pixels, y, steps=5)
    page.mouse.up()
