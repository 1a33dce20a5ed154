"""One colour per run or group, the same in the runs table, the sidebar and every chart.

``color_of(key)`` hashes the key (a group label such as ``"lr=0.1"`` or a run id) into :data:`PALETTE`, so a
key gets the same colour in every process and every chart. ``colors_for(keys)`` gives a set of keys shown
together distinct colours while there are enough (a key whose hashed slot is taken moves to the next free
one, keys taken in sorted order), so it depends only on the set, not on its order: the table and every
chart of one comparison receive the same mapping.

The palette is Tableau10 darkened where needed: every colour has at least 3:1 contrast (WCAG 1.4.11, graphics)
against a white background and against JupyterLab's dark theme backgrounds (#111111 and #212121).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

PALETTE: tuple[str, ...] = (
    "#4e79a7",  # blue
    "#e8710a",  # orange
    "#d1495b",  # red
    "#2a9d8f",  # teal
    "#59a14f",  # green
    "#b08a00",  # ochre
    "#b07aa1",  # mauve
    "#8f6ad8",  # purple
    "#9c755f",  # brown
    "#7f7f7f",  # grey
)


def _slot(key: object) -> int:
    digest = hashlib.sha256(str(key).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % len(PALETTE)


def color_of(key: object) -> str:
    """The colour of a run or group: a hash of ``str(key)`` into :data:`PALETTE` (stable across processes)."""
    return PALETTE[_slot(key)]


def colors_for(keys: Iterable[object]) -> dict[str, str]:
    """``{str(key): colour}`` for keys shown together: each key's :func:`color_of` unless an earlier key (in
    sorted order) took it, then the next free colour; with more keys than colours, colours repeat."""
    out: dict[str, str] = {}
    taken: set[int] = set()
    for key in sorted({str(k) for k in keys}):
        slot = _slot(key)
        if len(taken) < len(PALETTE):
            while slot in taken:
                slot = (slot + 1) % len(PALETTE)
        taken.add(slot)
        out[key] = PALETTE[slot]
    return out
