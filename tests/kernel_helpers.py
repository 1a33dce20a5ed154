"""Helpers for the real-kernel tests: build notebooks, run them in a Jupyter kernel, read the outputs.

The kernel runs with its cwd in a per-test temporary directory, ``NBTRACK_DIR`` pointing at a store
inside it and ``JPY_SESSION_NAME`` naming the notebook file (written to disk before the kernel
starts), exactly as jupyter_server would. Assertions then read the store from the test process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client import BlockingKernelClient
from nbclient import NotebookClient
from nbformat import NotebookNode

import nbtrack
from nbtrack.store import local as store_mod

KERNEL_TIMEOUT = 120
SUMMARY_PREFIX = "nbtrack "


def code(source: str, *, tags: Iterable[str] = ()) -> NotebookNode:
    """A code cell; ``tags`` goes to the cell metadata (e.g. ``raises-exception``)."""
    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def write_notebook(path: Path, cells: list[NotebookNode]) -> NotebookNode:
    """Write a notebook with ``cells`` to ``path`` and return the in-memory node."""
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return nb


class KernelSession:
    """One notebook file, one kernel, one nbtrack store, all inside ``folder``."""

    def __init__(self, folder: Path, nb: NotebookNode, path: Path, **client_options: Any) -> None:
        self.folder = folder
        self.nb = nb
        self.path = path
        self.store_dir = folder / ".nbtrack"
        options = {"timeout": KERNEL_TIMEOUT, "kernel_name": "python3", **client_options}
        self.client = NotebookClient(nb, resources={"metadata": {"path": str(folder)}}, **options)

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, "NBTRACK_DIR": str(self.store_dir), "JPY_SESSION_NAME": str(self.path)}
        env.pop("NBTRACK_EXPERIMENT", None)
        return env

    # executing -----------------------------------------------------------------------------------

    def execute_all(self) -> NotebookNode:
        """Run every cell in order in a fresh kernel (``NotebookClient.execute``), then shut it down."""
        return self.client.execute(env=self.env)

    @contextmanager
    def kernel(self) -> Iterator[KernelSession]:
        """Keep a kernel running for the block, to execute cells one by one with :meth:`run`."""
        with self.client.setup_kernel(env=self.env):
            yield self

    def run(self, index: int) -> NotebookNode:
        """Execute the cell at ``index`` of the in-memory notebook (inside :meth:`kernel`)."""
        return self.client.execute_cell(self.nb.cells[index], index)

    def run_extra(self, source: str, **options: Any) -> NotebookNode:
        """Execute a cell that is not in the notebook file (it is appended to the in-memory node only)."""
        self.nb.cells.append(code(source, **options))
        return self.run(len(self.nb.cells) - 1)

    def blocking_client(self) -> BlockingKernelClient:
        """A second, synchronous client on the running kernel (for raw execute requests)."""
        assert self.client.km is not None
        kc = BlockingKernelClient()
        kc.load_connection_info(self.client.km.get_connection_info())
        kc.start_channels()
        kc.wait_for_ready(timeout=KERNEL_TIMEOUT)
        return kc

    def save_notebook(self, cells: list[NotebookNode] | None = None) -> None:
        """Rewrite the notebook file (optionally with other cells), as a frontend's save would."""
        time.sleep(0.05)  # the new mtime must be later than the end of the previous cell
        nb = nbformat.v4.new_notebook(cells=cells if cells is not None else self.nb.cells)
        nb.metadata.update(self.nb.metadata)
        nbformat.write(nb, self.path)

    # reading the store -----------------------------------------------------------------------

    def runs(self, **kwargs: Any) -> Any:
        return nbtrack.runs(store=self.store_dir, **kwargs)

    def get_run(self, run_id: str) -> Any:
        return nbtrack.get_run(run_id, store=self.store_dir)

    def all_runs(self) -> list[Any]:
        """Every recorded run, oldest first."""
        frame = self.runs()
        return [self.get_run(run_id) for run_id in reversed(list(frame["run_id"]))] if len(frame) else []

    def run_named(self, name: str) -> list[Any]:
        """The runs with this name, oldest first."""
        return [run for run in self.all_runs() if run.name == name]

    def close(self) -> None:
        store_mod._stores.pop(self.store_dir.absolute(), None)


def new_session(
    folder: Path, cells: list[NotebookNode], name: str = "exp.ipynb", **client_options: Any
) -> KernelSession:
    """Write ``cells`` as ``folder/name`` and prepare (not start) a kernel for it."""
    path = folder / name
    nb = write_notebook(path, cells)
    return KernelSession(folder, nb, path, **client_options)


# reading outputs ---------------------------------------------------------------------------------


def outputs(cell: NotebookNode, output_type: str) -> list[NotebookNode]:
    return [o for o in cell.get("outputs", []) if o.output_type == output_type]


def stream_text(cell: NotebookNode, name: str = "stdout") -> str:
    return "".join(o.text for o in outputs(cell, "stream") if o.name == name)


def summaries(cell: NotebookNode) -> list[NotebookNode]:
    """The nbtrack summary display outputs of a cell."""
    return [o for o in outputs(cell, "display_data") if str(o.data.get("text/plain", "")).startswith(SUMMARY_PREFIX)]


def summary_text(cell: NotebookNode) -> str:
    found = summaries(cell)
    assert len(found) == 1, f"expected one nbtrack summary, got {len(found)}: {cell.outputs}"
    return str(found[0].data["text/plain"])


def results(cell: NotebookNode) -> list[NotebookNode]:
    return outputs(cell, "execute_result")
