"""The %%track line as the export plan reads it (without importing the magic)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nbtrack.errors import ExportError
from nbtrack.exporting.plan import _track_options


def test_track_options_as_the_magic_declares_them():
    options = _track_options('-n "my run" -e exp -p lr -p bs=3 -m acc -m loss -d data.csv -t k=v -q')
    assert options.param == ["lr", "bs=3"] and options.metric == ["acc", "loss"]
    assert options.name == "my run" and options.experiment == "exp" and options.quiet
    assert _track_options("").param == [] and _track_options("").metric == []
    assert _track_options("--some-future-option -p x").param == ["x"]
    with pytest.raises(ExportError, match="cannot read the %%track options"):
        _track_options("-p")


def test_planning_an_export_does_not_import_ipython():
    code = "import sys, nbtrack.exporting.exporter; print('IPython' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
