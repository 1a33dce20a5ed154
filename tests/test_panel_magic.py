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
