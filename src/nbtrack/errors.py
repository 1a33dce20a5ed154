"""Every exception and warning nbtrack raises, under one root.

``except nbtrack.errors.NbtrackError`` catches anything nbtrack raises on purpose; each class also derives
from the built-in exception a caller would expect (``LookupError`` for an unknown run, ``ValueError`` for a
bad query), so code written against those keeps working.

- :class:`NbtrackError`
    - :class:`NoActiveRunError`: a ``log_*`` call outside a run
    - :class:`RunNotFoundError`, :class:`AmbiguousRunIdError`: a run id that names no run, or several
    - :class:`StoreCorruptError`: a store file that is not an nbtrack journal
    - :class:`StoreBusyError`: another process held the store's lock too long
    - :class:`StoreWriteError`: the store could not be written (read-only, permission, disk full); says what was kept
    - :class:`RunDeletedError`: a run's record was not written back because the run was deleted while it ran
    - :class:`MissingBlobError`: a content file a run refers to is gone
    - :class:`QueryError`: a ``where`` expression that cannot be evaluated
    - :class:`DataExpectationError`: data that fails ``nbtrack.expect``
    - :class:`DataChangedError`: an exported script's input differs from the run's
    - :class:`ExportError`: a run that cannot be exported
    - :class:`RemoteError`, :class:`PushBusyError`: a push or pull that cannot go on
    - :class:`UntrustedModelError`: a model whose loading could run code, from a store the user did not write
    - :class:`UnpicklableModelError`: a model no format can save (``log_model`` turns it into a warning)
    - :class:`ModelNotFoundError`: a run has no (saved) model of that name
    - :class:`ModelTooLargeError`: a model passed the size limit of the automatic capture (never reaches the user)
    - :class:`JobError`: a ``run_more``/``sweep`` job that cannot start or resume (an unverified export...)
- :class:`NbtrackWarning`: something was not recorded; the user's code was not affected
    - :class:`StoreCorruptionWarning`: damaged lines were skipped while reading a store

:func:`warn` issues them: pointing at the user's line, and shown again when a cell runs again.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from types import FrameType


class NbtrackError(Exception):
    """The root of every exception nbtrack raises on purpose."""


class NbtrackWarning(UserWarning):
    """Something could not be recorded or checked; the user's code was not affected."""


class NoActiveRunError(NbtrackError, RuntimeError):
    """A ``log_*`` call was made with no active run in this thread."""


class RunNotFoundError(NbtrackError, LookupError):
    """No run has that id (or id prefix)."""


class AmbiguousRunIdError(NbtrackError, LookupError):
    """An id prefix matches more than one run."""


class StoreCorruptError(NbtrackError, RuntimeError):
    """A store file is not an nbtrack journal at all."""


class StoreCorruptionWarning(NbtrackWarning):
    """Some lines of a store file could not be read; every other line was."""


class StoreBusyError(NbtrackError, TimeoutError):
    """Another process held the store's lock for longer than the timeout."""


class StoreWriteError(NbtrackError, OSError):
    """A store write failed (read-only folder, permission denied, disk full, quota); ``errno`` says why.

    The message says what was not saved and that what was saved before is intact.
    """

    def __str__(self) -> str:
        return str(self.strerror if self.strerror is not None else super().__str__())


class RunDeletedError(NbtrackError, LookupError):
    """The run was deleted while it ran, so its record is not written back (the delete is honoured)."""


class MissingBlobError(NbtrackError, FileNotFoundError):
    """A content file (snapshot, history, series...) a run refers to is missing; the message names both."""

    def __str__(self) -> str:
        return str(self.strerror if self.strerror is not None else super().__str__())


class QueryError(NbtrackError, ValueError):
    """A ``where`` expression that cannot be evaluated."""


class DataExpectationError(NbtrackError, ValueError):
    """The data does not meet its declared expectation; ``problems`` lists what is wrong."""

    def __init__(self, name: str, problems: list[str]) -> None:
        self.name = name
        self.problems = problems
        count = len(problems)
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{name} does not meet its expectation ({count} problem{'s' * (count != 1)}):\n{lines}")


class DataChangedError(NbtrackError, RuntimeError):
    """An input's content differs from the one the exported run used."""


class ExportError(NbtrackError):
    """The run cannot be exported; the message says which cell and line, and why."""


class RemoteError(NbtrackError):
    """A push or pull that cannot go on; the message is one line naming the server."""


class JobError(NbtrackError, RuntimeError):
    """A ``run_more`` or ``sweep`` job that cannot start or resume; the message says why and what to do."""


class PushBusyError(NbtrackError, RuntimeError):
    """Another push to the same server from the same store holds the lock."""


class UntrustedModelError(NbtrackError, PermissionError):
    """Loading this model could run code it contains (pickle, or skops types not trusted by default) and it
    comes from a store the user did not write; ``load_model(..., trusted=True)`` loads it anyway."""


class UnpicklableModelError(NbtrackError, TypeError):
    """Neither the framework's own format nor pickle (nor cloudpickle) could save the object."""


class ModelNotFoundError(NbtrackError, LookupError):
    """The run has no model of that name, or it was not saved (too large to capture automatically)."""


class ModelTooLargeError(NbtrackError, ValueError):
    """A model's serialised size passed the limit after ``size`` bytes (``%%track`` then skips it, saying so)."""

    def __init__(self, message: str, size: int = 0) -> None:
        super().__init__(message)
        self.size = size


def warn(message: str, category: type[Warning] = NbtrackWarning) -> None:
    """Warn about something nbtrack could not do, pointing at the user's code that led to it.

    The warning names the first caller outside nbtrack (and outside the IPython and contextlib frames around
    it): the notebook cell's line, the ``%%track`` line, the script's line. The user's filters apply as they
    are (``ignore``, ``error``, ``once``): nbtrack never changes them. Under Python's default filter it shows
    every time, not once per line: a cell that runs again and still loses something says so again (an
    IPython cell that runs again keeps its file name and line numbers).
    """
    frame = _user_frame(sys._getframe(1))
    if frame is None:  # no Python caller at all (called from C): warn as warnings.warn would
        warnings.warn(message, category, stacklevel=2)
        return
    module_globals = frame.f_globals
    warnings.warn_explicit(
        message,
        category,
        frame.f_code.co_filename,
        frame.f_lineno,
        module=module_globals.get("__name__") or "<unknown>",
        registry=None,  # no per-location memory: "default" shows each time; "once" keeps its own
        module_globals=module_globals,
    )


def _user_frame(frame: FrameType | None) -> FrameType | None:
    """The first frame from ``frame`` outwards that is not nbtrack's, IPython's or contextlib's own."""
    skipped = _machinery_dirs()
    last = frame
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(skipped) and filename != contextlib.__file__:
            return frame
        last, frame = frame, frame.f_back
    return last


def _machinery_dirs() -> tuple[str, ...]:
    dirs = [os.path.dirname(os.path.abspath(str(__file__))) + os.sep]
    ipython = sys.modules.get("IPython")  # only when already imported: warning never imports it
    ipython_file = getattr(ipython, "__file__", None)
    if ipython_file:
        dirs.append(os.path.dirname(os.path.abspath(ipython_file)) + os.sep)
    return tuple(dirs)
