"""The ``%nbtrack`` line magic: ``%nbtrack panel`` and its usage errors."""

from __future__ import annotations

import pytest

from nbtrack.views import widgets as panel_mod


def test_nbtrack_magic(ip, sweep):
    p = ip.run_line_magic("nbtrack", "panel sweep --static --page-size 4")
    try:
        assert isinstance(p, panel_mod.Panel)
        assert p.model.experiment == "sweep" and p.model.page_size == 4 and not p.polling
        assert p.page_label.value == "page 1 of 2"
    finally:
        p.close()
    from IPython.core.error import UsageError

    for line in ("", "nope", "panel --bad", "panel a b"):
        with pytest.raises(UsageError):
            ip.run_line_magic("nbtrack", line)


def test_load_ext_imports_the_panel_libraries_in_the_background():
    """``%load_ext nbtrack`` returns before ipywidgets and pandas are imported; a thread imports them."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from nbtrack.views.panel_magic import warm_up\n"
        "assert 'pandas' not in sys.modules and 'ipywidgets' not in sys.modules, 'imported before the warm-up'\n"
        "thread = warm_up()\n"
        "thread.join(120)\n"
        "assert not thread.is_alive() and thread.daemon\n"
        "assert {'pandas', 'ipywidgets', 'nbtrack.views.widgets'} <= set(sys.modules)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert done.stdout.strip() == "ok", done.stderr
