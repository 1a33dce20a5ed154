"""``%load_ext nbtrack`` registers only the magics; a background thread loads what the first ``%%track`` needs.

Real kernels (nbclient): a fresh kernel's first tracked cell, run straight after ``%load_ext`` (while the
thread still reads the store) and after it, finds the previous run of the cell and its data change.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from kernel_helpers import code, new_session, summary_text

pytest.importorskip("ipykernel")

pytestmark = pytest.mark.kernel

# The store read ahead even when small (the threshold is a size above which reading it takes long).
LOAD = "import nbtrack.capture.warm_up as _w\n_w.WARM_STORE_BYTES = 0\n%load_ext nbtrack"
DATA = "import pandas as pd\ndf = pd.DataFrame({{'a': [1, 2, {last}]}})"
FIT = "%%track --name fit\nrows = len(df)"
WAIT = "assert _w.ready.wait(120)"  # the warm-up read the store, then the tracked cell runs


def _session(tmp_path, cells):
    return new_session(tmp_path, cells)


@pytest.mark.parametrize("after_warm_up", [False, True], ids=["right-after-load-ext", "after-the-warm-up"])
def test_a_fresh_kernels_first_tracked_cell_finds_the_previous_run_and_its_data_change(tmp_path, after_warm_up):
    first = _session(tmp_path, [code(LOAD), code(DATA.format(last=3)), code(FIT)])
    first.execute_all()
    first.close()
    # A fresh kernel on the same store: the data is read before %load_ext, so the tracked cell follows it at once.
    cells = [code(DATA.format(last=4)), code(LOAD), *([code(WAIT)] if after_warm_up else []), code(FIT)]
    second = _session(tmp_path, cells)
    nb = second.execute_all()
    try:
        old, new = second.run_named("fit")
        assert new.parent == old.id
        assert new.doc["data_change"] == {"state": "changed", "changed": ["df"], "added": [], "removed": []}
        assert "data changed df" in summary_text(nb.cells[-1])
    finally:
        second.close()


def test_load_ext_registers_the_magics_and_hooks_and_warms_up_in_the_background(tmp_path):
    cells = [
        code("%load_ext nbtrack"),
        code(
            textwrap.dedent("""
                import sys, threading
                ip = get_ipython()
                magics = ip.magics_manager.magics
                assert "track" in magics["cell"] and "nbtrack" in magics["line"]
                hooks = {h.__name__ for e in ("pre_run_cell", "post_run_cell") for h in ip.events.callbacks[e]}
                assert {"pre_run_cell", "post_run_cell"} <= hooks
                from nbtrack.capture import warm_up
                assert warm_up.ready.wait(120)
                print(sorted({"nbtrack.capture.cell_run", "nbtrack.store.local"} - set(sys.modules)))
            """)
        ),
        # once no cell has run for a moment (the user is typing), the thread imports the panel's libraries
        code(
            "[t.join(120) for t in threading.enumerate() if t.name == 'nbtrack-warm-up']\n"
            "print(sorted({'nbtrack.views.widgets', 'pandas', 'ipywidgets'} - set(sys.modules)))"
        ),
        code("lr = 0.5"),
        code("%%track --name t\ny = lr * 2"),
        code("%nbtrack panel --static"),
    ]
    s = _session(tmp_path, cells)
    with s.kernel():
        for index in range(len(cells)):
            if index == 2:
                time.sleep(3)  # a pause between cells, as a user's (warm_up.QUIET_SECONDS is 0.5)
            s.run(index)
    nb = s.nb
    try:
        for cell in nb.cells[1:3]:
            assert "".join(o.get("text", "") for o in cell.outputs).strip() == "[]"
        [run] = s.run_named("t")
        assert run.params["lr"] == 0.5  # an earlier cell's literal, remembered when the tracked cell asked
    finally:
        s.close()


def test_load_ext_imports_neither_the_store_nor_the_lifecycle_on_the_cells_thread(tmp_path):
    """What ``%load_ext`` imports on the thread that runs it is a few small modules; the rest is the warm-up's."""
    code_text = textwrap.dedent("""
        import sys, threading
        import IPython
        ip = IPython.core.interactiveshell.InteractiveShell.instance()
        on_main = []
        def hook(event, args):
            if event == "import" and threading.current_thread() is threading.main_thread():
                on_main.append(args[0])
        sys.addaudithook(hook)
        ip.run_line_magic("load_ext", "nbtrack")
        print(sorted({m for m in on_main if m.startswith("nbtrack")}))
    """)
    out = subprocess.run([sys.executable, "-c", code_text], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = set(eval(out.stdout.strip().splitlines()[-1]))
    assert {"nbtrack.capture.magic", "nbtrack.views.panel_magic"} <= loaded
    assert not {"nbtrack.capture.lifecycle", "nbtrack.store.local", "nbtrack.capture.cell_run"} & loaded
    assert not (tmp_path / ".nbtrack").exists()  # loading the extension writes nothing


def test_unloading_the_extension_ends_its_warm_up_thread(ip):
    """A warm-up still waiting for a quiet moment gives up when the extension is unloaded (no thread piles up)."""
    import threading

    waiting = [t for t in threading.enumerate() if t.name == "nbtrack-warm-up"]
    assert waiting  # the fixture's %load_ext started one; no cell has ended since, so it is still waiting
    ip.run_line_magic("unload_ext", "nbtrack")
    for thread in waiting:
        thread.join(60)
        assert not thread.is_alive()
