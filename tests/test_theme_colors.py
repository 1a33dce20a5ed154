"""The panel's HTML wears JupyterLab's theme: every colour in the panel modules and in the diff HTML it shows is a
``var(--jp-..., fallback)``, so the dark theme never gets light-theme colours (the fallback serves pages
without JupyterLab's variables, e.g. an exported notebook)."""

from __future__ import annotations

import re
from pathlib import Path

import nbtrack.views
from nbtrack.analysis.celldiff import _cell_html, cell_diff

HEX = re.compile(r"#[0-9a-fA-F]{3,8}\b")
FALLBACK = re.compile(r"var\(--jp-[a-z0-9-]+,\s*#[0-9a-fA-F]{3,8}\)")


def bare_colours(text: str) -> list[str]:
    """Hex colours not used as the fallback of a JupyterLab theme variable."""
    return HEX.findall(FALLBACK.sub("", text))


def test_bare_colours_are_found_and_fallbacks_are_not():
    assert bare_colours("color:#cf222e;background:var(--jp-layout-color2, #f6f8fa)") == ["#cf222e"]
    assert bare_colours("color:var(--jp-ui-font-color2, #57606a)") == []


def test_panel_modules_use_theme_variables_only():
    folder = Path(nbtrack.views.__file__).parent
    found = {p.name: bare_colours(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.py"))}
    assert not any(found.values()), {k: v for k, v in found.items() if v}


def test_cell_diff_html_uses_theme_variables():
    a = ["import numpy as np", "x = 1\ny = 2", "print(x)", "old = True"]
    b = ["import numpy as np", "x = 1\ny = 3", "brand new", "print(x)"]
    changes = cell_diff(a, b)
    assert [c.kind for c in changes] == ["same", "changed", "added", "same", "removed"]
    for change in changes:
        page = _cell_html(change)
        assert bare_colours(page) == [], page
        assert "var(--jp-" in page
    changed = next(c for c in changes if c.kind == "changed")
    page = _cell_html(changed)
    assert "var(--jp-success-color1" in page and "var(--jp-error-color1" in page  # + and - lines are marked
