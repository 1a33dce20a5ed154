"""``nbtrack demo``: execute the bundled quickstart notebook headless in a real kernel, then list its runs."""

from __future__ import annotations

import os
import shutil
import sys
from importlib import resources
from pathlib import Path


def quickstart_path() -> Path:
    """The quickstart notebook: inside the installed wheel, or in the source tree for editable installs."""
    packaged = resources.files("nbtrack") / "examples" / "quickstart.ipynb"
    if packaged.is_file():
        return Path(str(packaged))
    source_tree = Path(__file__).resolve().parents[2] / "example_notebooks" / "quickstart.ipynb"
    if source_tree.is_file():
        return source_tree
    raise FileNotFoundError("the quickstart notebook is not installed with this copy of nbtrack")


def _progress(total: int):
    """A small text progress bar on stderr (tqdm is not a dependency)."""
    width = 30
    if not sys.stderr.isatty():  # in logs and CI: one plain line per cell instead of redrawing

        def plain(done: int, label: str) -> None:
            if done < total:
                print(f"  cell {done + 1}/{total}: {label[:60]}", file=sys.stderr)

        return plain

    def show(done: int, label: str) -> None:
        filled = int(width * done / max(total, 1))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} cells {label[:40]:<40}")
        sys.stderr.flush()
        if done == total:
            sys.stderr.write("\n")

    return show


def run_demo(output: str, store: str | None = None, timeout: int = 600) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from nbtrack.query.search import runs

    folder = Path(output).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "quickstart.ipynb"
    shutil.copyfile(quickstart_path(), target)
    store_dir = Path(store).absolute() if store else folder / ".nbtrack"
    nb = nbformat.read(target, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    show = _progress(len(code_cells))
    env = {**os.environ, "NBTRACK_DIR": str(store_dir), "JPY_SESSION_NAME": str(target)}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    done = 0
    print(f"Running {target} in a Python kernel (store: {store_dir})", file=sys.stderr)
    try:
        with client.setup_kernel(env=env):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                show(done, cell.source.splitlines()[0] if cell.source else "")
                client.execute_cell(cell, index)
                done += 1
            show(done, "done")
    except CellExecutionError as exc:
        sys.stderr.write("\n")
        print(f"nbtrack demo: a cell failed unexpectedly:\n{exc}", file=sys.stderr)
        return 1
    finally:
        nbformat.write(nb, target)
    frame = runs(store=store_dir)
    columns = [
        c
        for c in ("run_id", "name", "status", "duration", "params.lr", "params.seed", "metrics.val_acc")
        if c in frame.columns
    ]
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(frame[columns].to_string(index=False))
    print(f"\n{len(frame)} runs recorded in {store_dir}; the executed notebook is {target}")
    print(f"Try: nbtrack --store {store_dir} runs   or   nbtrack --store {store_dir} show {frame.run_id.iloc[0][:12]}")
    return 0
