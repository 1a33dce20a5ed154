"""``nbtrack.export_runtime``: the name exported scripts import, old and new, is the exporting runtime itself."""

from __future__ import annotations

import subprocess
import sys

from nbtrack.exporting import runtime

# What scripts exported by earlier releases call (`from nbtrack import export_runtime as _nbx`).
CALLED_BY_EXPORTED_SCRIPTS = [
    "parameters",
    "read_params_yaml",
    "check_file",
    "check_data",
    "display",
    "start_run",
    "finish_run",
    "begin_other_run",
    "end_other_run",
]


def test_the_alias_is_the_runtime_module():
    from nbtrack import export_runtime

    assert export_runtime is runtime
    assert all(callable(getattr(export_runtime, name)) for name in CALLED_BY_EXPORTED_SCRIPTS)


def test_a_fresh_process_imports_it_as_a_script_does():
    code = (
        "from nbtrack import export_runtime as _nbx\n"
        "import nbtrack.exporting.runtime as real, nbtrack.export_runtime as dotted\n"
        "assert _nbx is real is dotted, (_nbx, real, dotted)\n"
        "import sys; print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"  # a script that reads no data pays for no pandas import
