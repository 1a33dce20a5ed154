"""Figures a tracked cell displays, kept as PNG artifacts from the display output (nothing is re-rendered).

While a run is recorded, :class:`FigureCapture` watches what the shell publishes: ``display(fig)``,
``plt.show()`` and the inline backend's flush at the end of the cell's code (``post_execute`` of the
cell body's ``run_cell``, still inside ``%%track``) go through the display publisher; a figure that is the
cell's last expression goes through the display hook. Every ``image/png`` payload is kept as
``figure-1.png``, ``figure-2.png``... (kind ``"figure"``); the same image shown twice is kept once, and
output the cell clears or updates (a live-updating plot) keeps only what is shown at the end.

Under ipykernel the publisher's own hook API (``ZMQDisplayPublisher.register_hook``) is used; a plain
IPython shell has none, so its ``publish`` is wrapped for the run and restored after. A run keeps at most
``NBTRACK_MAX_FIGURES`` figures (default 20) and ``NBTRACK_MAX_FIGURE_BYTES`` bytes of them (default
20 MB); what is left out is said in one warning. ``NBTRACK_MAX_FIGURES=0`` turns figure capture off.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import sys
import threading
from typing import Any

__all__ = ["MAX_FIGURES", "MAX_FIGURE_BYTES", "PNG_SIGNATURE", "FigureCapture", "figure_limits", "png_bytes"]

MAX_FIGURES = 20
MAX_FIGURE_BYTES = 20 * 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DISPLAY_MESSAGES = ("display_data", "update_display_data")


def _env_int(name: str, default: int) -> int:
    try:
        return max(0, int(os.environ.get(name, default)))
    except ValueError:
        return default


def figure_limits() -> tuple[int, int]:
    """(most figures, most bytes of figures) one run keeps: ``NBTRACK_MAX_FIGURES``, ``NBTRACK_MAX_FIGURE_BYTES``."""
    return _env_int("NBTRACK_MAX_FIGURES", MAX_FIGURES), _env_int("NBTRACK_MAX_FIGURE_BYTES", MAX_FIGURE_BYTES)


def png_bytes(payload: Any) -> bytes | None:
    """The PNG an ``image/png`` payload holds: raw bytes (a shell's format data) or base64 text (a kernel message)."""
    if isinstance(payload, (bytes, bytearray)):
        data = bytes(payload)
        if not data.startswith(PNG_SIGNATURE):
            try:
                data = base64.b64decode(data, validate=False)
            except (binascii.Error, ValueError):
                return None
    elif isinstance(payload, str):
        try:
            data = base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError):
            return None
    else:
        return None
    return data if data.startswith(PNG_SIGNATURE) else None


class FigureCapture:
    """The PNG images the cell's output shows, within the run's limits (see the module docstring).

    Output the cell clears (``clear_output``, as live-updating plots do) is dropped, and an update of a
    display (``display_id``) replaces its image: what is kept is what the output shows at the end.
    """

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.max_figures, self.max_bytes = figure_limits()
        self.skipped = 0  # images over the limits, since the last clear
        self._shown: dict[Any, tuple[bytes, bytes]] = {}  # display id (or a number) -> (digest, PNG), in order
        self._count = 0
        self._active = False
        self._thread = threading.get_ident()
        self._undo: list[Any] = []

    @classmethod
    def start(cls) -> FigureCapture | None:
        """A capture watching the running IPython shell, or None (no shell, capture off, not the main thread)."""
        ipython = sys.modules.get("IPython")  # never imports IPython: a script without it has no figures
        if ipython is None or threading.current_thread() is not threading.main_thread():
            return None
        shell = ipython.get_ipython()
        if shell is None or figure_limits()[0] == 0:
            return None
        capture = cls(shell)
        capture._install()
        return capture

    def _install(self) -> None:
        self._active = True
        publisher = getattr(self.shell, "display_pub", None)
        if publisher is not None:
            if callable(getattr(publisher, "register_hook", None)):  # ipykernel: messages pass through hooks
                publisher.register_hook(self._hook)
                self._undo.append(lambda: publisher.unregister_hook(self._hook))
            else:
                self._wrap(publisher, "publish", self._published)
                self._wrap(publisher, "clear_output", lambda args, kwargs: self._clear())
        displayhook = getattr(self.shell, "displayhook", None)
        if displayhook is not None and callable(getattr(displayhook, "write_format_data", None)):
            self._wrap(
                displayhook, "write_format_data", lambda args, kwargs: self._see(_first(args, kwargs, "format_dict"))
            )

    def _wrap(self, owner: Any, method: str, observe: Any) -> None:
        original = getattr(owner, method)
        had_own = method in vars(owner)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self._active:
                with contextlib.suppress(Exception):  # watching must never break a display
                    observe(args, kwargs)
            return original(*args, **kwargs)

        setattr(owner, method, wrapper)

        def undo() -> None:
            if vars(owner).get(method) is wrapper:  # nobody wrapped it after us: put back what was there
                if had_own:
                    setattr(owner, method, original)
                else:
                    delattr(owner, method)

        self._undo.append(undo)

    def _published(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """A plain shell's ``publish(data, metadata=None, *, transient=None, update=False)``."""
        display_id = (kwargs.get("transient") or {}).get("display_id")
        self._see(_first(args, kwargs, "data"), display_id, bool(kwargs.get("update")))

    def _hook(self, msg: Any) -> Any:
        try:
            kind = msg.get("msg_type")
            if self._active and threading.get_ident() == self._thread and kind in _DISPLAY_MESSAGES:
                content = msg.get("content") or {}
                display_id = (content.get("transient") or {}).get("display_id")
                self._see(content.get("data"), display_id, kind == "update_display_data")
            elif self._active and threading.get_ident() == self._thread and kind == "clear_output":
                self._clear()
        except Exception:
            pass
        return msg

    def _see(self, data: Any, display_id: Any = None, update: bool = False) -> None:
        if not isinstance(data, dict) or "image/png" not in data:
            return
        image = png_bytes(data["image/png"])
        if image is None:
            return
        digest = hashlib.blake2b(image, digest_size=16).digest()
        held = sum(len(png) for _, png in self._shown.values())
        if update:  # a display shown before the run is another cell's output: not this run's
            if display_id in self._shown:
                if held - len(self._shown[display_id][1]) + len(image) > self.max_bytes:
                    self.skipped += 1
                else:
                    self._shown[display_id] = (digest, image)
            return
        if any(seen == digest for seen, _ in self._shown.values()):
            return  # the same image again: kept once
        if len(self._shown) >= self.max_figures or held + len(image) > self.max_bytes:
            self.skipped += 1
            return
        self._count += 1
        self._shown[display_id if display_id is not None else self._count] = (digest, image)

    def _clear(self) -> None:
        self._shown.clear()
        self.skipped = 0

    @property
    def images(self) -> list[bytes]:
        """The PNGs kept so far, in the order they were first shown."""
        return [png for _, png in self._shown.values()]

    def stop(self) -> list[bytes]:
        """Stop watching; the images kept, in the order they were first shown."""
        self._active = False
        for undo in reversed(self._undo):
            with contextlib.suppress(Exception):
                undo()
        self._undo.clear()
        return self.images

    def limit_note(self) -> str | None:
        """What was left out, in words, or None."""
        if not self.skipped:
            return None
        return (
            f"{self.skipped} displayed figure(s) not kept: a run keeps {self.max_figures} figures and "
            f"{self.max_bytes:,} bytes of them (NBTRACK_MAX_FIGURES, NBTRACK_MAX_FIGURE_BYTES)"
        )


def _first(args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
    return args[0] if args else kwargs.get(name)
