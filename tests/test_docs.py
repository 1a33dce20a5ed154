"""Every fenced code block of README.md and docs/*.md runs, so no example can rot.

Rules (one document at a time, in a fresh temporary folder that is also the working directory, with
``NBTRACK_DIR`` pointing at ``.nbtrack`` inside it):

- ```` ```python ````: run in order. When any Python block of the document is a notebook cell (it starts
  with ``%load_ext`` or ``%%``, or holds a ``%%`` cell magic), all of the document's Python blocks are the
  cells of one notebook, ``<document>.ipynb``, executed in a real kernel with nbclient; otherwise they
  run in this process, in one namespace per document.
- ```` ```bash ````: run with ``bash -e`` against the store the earlier blocks made; ``nbtrack``,
  ``python`` and ``jupyter`` are this interpreter's. A line ending in ``# exit code N`` must exit with N;
  every other line must succeed.
- ```` ```text ````: output, never run. Any other language is an error, so nothing is left out by accident.
- ``<!-- not executed: REASON -->`` on the line before a block skips it, visibly: the skipped blocks and
  their reasons are reported (``-rs`` or the test's output) and counted.

A failure names the document and the line of the block (and of the line inside it, for bash).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")
SKIP = re.compile(r"^<!--\s*not executed:\s*(.+?)\s*-->$")
EXIT_CODE = re.compile(r"#\s*exit code (\d+)\s*$")
RUN_LANGUAGES = {"python", "bash"}
OUTPUT_LANGUAGES = {"text"}
BASH_TIMEOUT = 600
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    source: str
    skip: str | None  # the reason given in a ``not executed`` comment

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def is_cell(self) -> bool:
        """A notebook cell: it needs IPython (magics), so the document runs in a kernel."""
        text = self.source.lstrip()
        return text.startswith(("%load_ext", "%%")) or re.search(r"^%%", self.source, re.M) is not None


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with the line each starts on."""
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    previous = ""
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        start, language = i, match.group(1).lower()
        i += 1
        body = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        assert i < len(lines), f"{path.relative_to(ROOT)}:{start + 1}: code block is never closed"
        skip = SKIP.match(previous)
        found.append(Block(path, start + 1, language, "\n".join(body) + "\n", skip.group(1) if skip else None))
        previous = ""
        i += 1
    return found


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_every_block_has_a_known_language() -> None:
    unknown = [
        f"{b.where}: ```{b.language or '(none)'}"
        for path in DOCUMENTS
        for b in blocks(path)
        if b.language not in RUN_LANGUAGES | OUTPUT_LANGUAGES
    ]
    assert not unknown, "code blocks must be python, bash (both run) or text (output):\n" + "\n".join(unknown)


def test_the_documents_have_examples() -> None:
    """A guard on the parser itself: the README's examples are found and most of them run."""
    readme = blocks(ROOT / "README.md")
    assert sum(b.language == "python" for b in readme) >= 1
    assert sum(b.language == "bash" and not b.skip for b in readme) >= 1


def test_blocks_not_executed_are_listed() -> None:
    """Blocks skipped by a ``not executed`` comment: reported as this test's skip reason (see ``-ra``)."""
    skipped = [f"{b.where} ({b.skip})" for path in DOCUMENTS for b in blocks(path) if b.skip]
    if skipped:
        pytest.skip(f"{len(skipped)} blocks not executed: " + "; ".join(skipped))


# running -------------------------------------------------------------------------------------------------


def _environment(folder: Path) -> dict[str, str]:
    env = {**os.environ, "NBTRACK_DIR": str(folder / ".nbtrack"), "MPLBACKEND": "Agg"}
    env.pop("NBTRACK_EXPERIMENT", None)
    env.pop("NBTRACK_TRACKING_URI", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "src"), env.get("PYTHONPATH", "")] if p)
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    return env


def _bash_script(block: Block) -> str:
    """The block as one bash script: a prelude on line 1 (aliases, not functions, so that the ERR trap sees
    the failing line), then the block's lines, so $LINENO - 1 is the line inside the block."""
    py = shlex.quote(sys.executable)
    prelude = (
        f"set -e -o pipefail; shopt -s expand_aliases; alias nbtrack={shlex.quote(py + ' -m nbtrack.cli')}; "
        f"alias python={py}; alias jupyter={shlex.quote(py + ' -m jupyter')}; "
        "trap 'echo \"nbtrack-docs: failed at line $((LINENO - 1))\" >&2' ERR"
    )
    lines = []
    for line in block.source.splitlines():
        expected = EXIT_CODE.search(line)
        if expected:
            command = line[: expected.start()].rstrip()
            want = expected.group(1)
            line = (
                f"rc=0; {command} || rc=$?; [ $rc -eq {want} ] || "
                f'{{ echo "nbtrack-docs: exit code $rc, expected {want}" >&2; false; }}'
            )
        lines.append(line)
    return prelude + "\n" + "\n".join(lines) + "\n"


def run_bash(block: Block, folder: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(
        ["bash", "-c", _bash_script(block)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=BASH_TIMEOUT,
    )
    if proc.returncode != 0:
        match = re.search(r"nbtrack-docs: failed at line (\d+)", proc.stderr)
        line = block.line + int(match.group(1)) if match else block.line
        pytest.fail(
            f"{_id(block.path)}:{line}: bash block failed (exit code {proc.returncode})\n"
            f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}",
            pytrace=False,
        )


def run_in_process(block: Block, namespace: dict[str, object]) -> None:
    # blank lines in front, so a traceback names the document's own line numbers
    code = compile("\n" * block.line + block.source, str(block.path), "exec")
    import traceback

    try:
        exec(code, namespace)
    except Exception as exc:
        failure = f"{block.where}: python block failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    else:
        return
    pytest.fail(failure, pytrace=False)


def _skipped(skipped: list[Block]) -> None:
    for b in skipped:
        print(f"not executed: {b.where} ({b.skip})")


def needs_kernel(path: Path) -> bool:
    return any(b.is_cell for b in blocks(path) if b.language == "python" and not b.skip)


@pytest.mark.filterwarnings("ignore:.*noload.*:DeprecationWarning")  # MLflow's sqlalchemy store, in mlflow.md
@pytest.mark.parametrize(
    "path", [pytest.param(p, marks=[pytest.mark.kernel] if needs_kernel(p) else []) for p in DOCUMENTS], ids=_id
)
def test_document_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = [b for b in blocks(path) if b.language in RUN_LANGUAGES]
    skipped = [b for b in found if b.skip]
    todo = [b for b in found if not b.skip]
    _skipped(skipped)
    if not found:
        return  # prose only (docs/reliability.md)
    if not todo:
        pytest.skip(f"{_id(path)}: no block to run ({len(skipped)} not executed)")
    if "mlflow" in path.read_text(encoding="utf-8") and any("--to" in b.source for b in todo):
        pytest.importorskip("mlflow", reason=f"{_id(path)} pushes to MLflow: needs the mlflow extra")
    env = _environment(tmp_path)
    if needs_kernel(path):
        _run_in_kernel(path, todo, tmp_path, env)
    else:
        _run_here(todo, tmp_path, env, monkeypatch)
    if skipped:
        print(f"{_id(path)}: {len(todo)} blocks ran, {len(skipped)} not executed")


def _run_here(todo: list[Block], folder: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import nbtrack
    from nbtrack.store import local as store_mod

    monkeypatch.chdir(folder)
    for key in ("NBTRACK_DIR", "MPLBACKEND", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("NBTRACK_EXPERIMENT", raising=False)
    monkeypatch.delenv("NBTRACK_TRACKING_URI", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    nbtrack.set_store(None)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    try:
        for block in todo:
            if block.language == "python":
                run_in_process(block, namespace)
            else:
                run_bash(block, folder, env)
    finally:
        import matplotlib.pyplot as plt

        plt.close("all")
        store_mod._stores.pop((folder / ".nbtrack").absolute(), None)


def _run_in_kernel(path: Path, todo: list[Block], folder: Path, env: dict[str, str]) -> None:
    from kernel_helpers import code, new_session
    from nbclient.exceptions import CellExecutionError

    cells = [b for b in todo if b.language == "python"]
    session = new_session(folder, [code(b.source) for b in cells], name=f"{path.stem}.ipynb")
    try:
        with pytest.MonkeyPatch.context() as mp:
            # the kernel inherits this process's environment (kernel_helpers adds NBTRACK_DIR)
            mp.setenv("PYTHONPATH", env["PYTHONPATH"])
            mp.delenv("MPLBACKEND", raising=False)
            with session.kernel():
                index = 0
                for block in todo:
                    if block.language == "bash":
                        run_bash(block, folder, {**env, "NBTRACK_DIR": str(session.store_dir)})
                        continue
                    try:
                        session.run(index)
                    except CellExecutionError as exc:
                        message = ANSI.sub("", str(exc))
                        pytest.fail(f"{block.where}: notebook cell failed in the kernel:\n{message}", pytrace=False)
                    index += 1
    finally:
        session.close()
