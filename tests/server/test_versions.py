"""One version for both halves: the Python package and the JupyterLab extension's package.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from packaging.version import Version

import nbtrack

ROOT = Path(__file__).resolve().parents[2]


def test_package_json_version_is_the_python_version():
    package = json.loads((ROOT / "labextension" / "package.json").read_text())
    assert Version(package["version"]) == Version(nbtrack.__version__), (
        "labextension/package.json and src/nbtrack/__init__.py must carry the same version"
    )


def test_built_extension_has_the_same_version():
    built = Path(nbtrack.__file__).parent / "labextension" / "package.json"
    if not built.is_file():
        pytest.skip("the JupyterLab extension is not built in this checkout (pip install -e . builds it)")
    assert Version(json.loads(built.read_text())["version"]) == Version(nbtrack.__version__)


def test_extension_entry_points():
    assert nbtrack._jupyter_labextension_paths() == [{"src": "labextension", "dest": "nbtrack"}]
    assert nbtrack._jupyter_server_extension_points() == [{"module": "nbtrack.server"}]
    config = json.loads((ROOT / "jupyter-config" / "server-config" / "nbtrack.json").read_text())
    assert config == {"ServerApp": {"jpserver_extensions": {"nbtrack": True}}}
