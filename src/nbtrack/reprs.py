"""Text for any value in bounded time: what nbtrack stores when a value has no JSON form, and what it shows.

``repr`` is not safe to call on arbitrary objects: a container may refer to itself or share parts
exponentially (``l = [l, l]`` forty times is 2^40 items to print), an int of a million digits takes
seconds to print, and a user's ``__repr__`` may sleep, loop or raise. :func:`bounded_repr` renders
builtin containers itself, visiting at most ``limit`` characters' worth of items, and calls a foreign
``__repr__`` in a helper thread it waits for at most :data:`REPR_SECONDS`; past that the object is
shown by its type and id. A ``__repr__`` that holds the GIL in C code for long cannot be interrupted
by any thread; the ones written in Python give the GIL back every few milliseconds, so they can.
"""

from __future__ import annotations

import threading
import time
from typing import Any

REPR_LIMIT = 1_000
REPR_SECONDS = 0.5  # the longest nbtrack waits for a foreign __repr__
MAX_INT_BITS = 10_000  # ints longer than this (~3,000 digits) are shown by their size

# Types whose repr is nbtrack's own rendering or known to be quick: no helper thread for them.
_QUICK_MODULES = frozenset({"builtins", "datetime", "decimal", "fractions", "uuid", "pathlib", "enum"})


class _Out:
    """Collects the pieces of one rendering and says when it is long enough."""

    def __init__(self, limit: int, deadline: float | None) -> None:
        self.limit = limit
        self.deadline = time.monotonic() + REPR_SECONDS if deadline is None else deadline
        self.parts: list[str] = []
        self.length = 0
        self.full = False

    def add(self, text: str) -> None:
        if self.full:
            return
        room = self.limit - self.length
        if len(text) > room:
            text = text[: max(room, 0)]
            self.full = True
        self.parts.append(text)
        self.length += len(text)

    def text(self) -> str:
        joined = "".join(self.parts)
        return joined + "... [cut]" if self.full else joined


def type_name(value: Any) -> str:
    """``module.Qualname`` of the value's type (``builtins.`` kept, as records store it)."""
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def opaque(value: Any, why: str = "") -> str:
    """An object shown without calling anything of its own: type and id."""
    suffix = f"; {why}" if why else ""
    return f"<{type_name(value).removeprefix('builtins.')} object at {id(value):#x}{suffix}>"


def int_text(value: int) -> str:
    """An int's digits, or its size when printing it would be slow (or refused by Python)."""
    bits = value.bit_length()
    if bits > MAX_INT_BITS:
        return f"<int of about {int(bits * 0.30103):,} digits>"
    return int.__repr__(value)


def timed_repr(value: Any, timeout: float = REPR_SECONDS) -> str:
    """``repr(value)``, never raising, waiting at most ``timeout`` seconds for a foreign ``__repr__``
    (none at all when ``timeout`` is 0: the object is shown by its type and id)."""
    cls = type(value)
    if cls.__repr__ is object.__repr__:
        return object.__repr__(value)
    if cls.__module__.split(".")[0] in _QUICK_MODULES:
        return _call_repr(value)
    if timeout <= 0:
        return opaque(value, f"repr not called: the {REPR_SECONDS:g} s for this value's reprs are used up")
    result: list[str] = []
    worker = threading.Thread(target=lambda: result.append(_call_repr(value)), name="nbtrack-repr", daemon=True)
    worker.start()
    worker.join(timeout)
    if not result:  # still running (the thread finishes on its own; nothing waits for it)
        return opaque(value, f"repr took longer than the {REPR_SECONDS:g} s nbtrack waits")
    return result[0]


def _call_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break tracking
        return f"<{type(value).__name__} object; repr failed: {type(exc).__name__}>"
    if not isinstance(text, str):
        return f"<{type(value).__name__} object>"
    return text


def bounded_repr(value: Any, limit: int = REPR_LIMIT, deadline: float | None = None) -> str:
    """A repr of at most about ``limit`` characters, in time bounded by ``limit`` (see the module docstring).

    Foreign ``__repr__`` methods share one budget: until ``deadline`` (``time.monotonic()``; default
    :data:`REPR_SECONDS` from now), so a list of a thousand slow objects costs it once, not a thousand times.
    """
    out = _Out(limit, deadline)
    _render(value, out, set())
    return out.text()


def _render(value: Any, out: _Out, path: set[int]) -> None:
    if out.full:
        return
    if value is None or isinstance(value, (bool, float, complex)):
        out.add(repr(value))
    elif isinstance(value, int):
        out.add(int_text(value))
    elif isinstance(value, (str, bytes, bytearray)):
        head = value[: out.limit + 1]
        text = type(head).__repr__(head)  # the builtin repr, never a subclass's
        out.add(text if len(head) <= out.limit else text[:-1])
        if len(value) > len(head):
            out.add(f"... [{len(value) - len(head):,} more]")
    elif type(value) in _BRACKETS:
        if id(value) in path:
            out.add("[...]" if isinstance(value, list) else "{...}" if isinstance(value, (dict, set)) else "(...)")
            return
        path.add(id(value))
        try:
            _render_container(value, out, path)
        finally:
            path.discard(id(value))
    else:
        out.add(timed_repr(value, out.deadline - time.monotonic()))


_BRACKETS: dict[type, tuple[str, str]] = {
    list: ("[", "]"),
    tuple: ("(", ")"),
    set: ("{", "}"),
    frozenset: ("frozenset({", "})"),
    dict: ("{", "}"),
}
_EMPTY: dict[type, str] = {list: "[]", tuple: "()", set: "set()", frozenset: "frozenset()", dict: "{}"}


def _render_container(value: Any, out: _Out, path: set[int]) -> None:
    opening, closing = _BRACKETS[type(value)]
    if not value:
        out.add(_EMPTY[type(value)])
        return
    out.add(opening)
    items = value.items() if isinstance(value, dict) else value
    for index, item in enumerate(items):
        if out.full:
            return
        if index:
            out.add(", ")
        if isinstance(value, dict):
            _render(item[0], out, path)
            out.add(": ")
            _render(item[1], out, path)
        else:
            _render(item, out, path)
    if isinstance(value, tuple) and len(value) == 1:
        out.add(",")
    out.add(closing)
