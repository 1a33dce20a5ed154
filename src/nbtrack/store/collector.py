"""Python's cyclic garbage collector paused while a store makes many objects that hold no cycles.

Opening a 100,000-run store, loading its runs table or compacting it allocates hundreds of thousands of
lists, dicts and strings, none of them in a reference cycle. Each collection they set off walks every
object alive: ~25 ms of a 150 ms cold ``runs(where=...)``, and 0.2-0.7 s a collection during compaction,
with the GIL held (every writer waited). Reference counting still frees everything as usual.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_depth = 0
_resume = False  # whether the collector was on when the outermost pause began
_guard = threading.Lock()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside (threads may nest pauses); the collector is left as it was found."""
    global _depth, _resume
    with _guard:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _guard:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()
