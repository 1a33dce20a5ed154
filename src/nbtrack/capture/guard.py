"""What a run accepts, and how nbtrack's own failures reach the user: cleaned names, encoded values, warnings.

Tracking never breaks the user's code: a name that cannot be one, a value JSON cannot hold or a store that
cannot be written becomes one ``NbtrackWarning`` sentence, and the run keeps what it can.
"""

from __future__ import annotations

import errno
import math
import operator
import os
import traceback
import warnings
from typing import Any

from nbtrack import values
from nbtrack.errors import NbtrackWarning, RunDeletedError, StoreWriteError
from nbtrack.redact import Redactor
from nbtrack.run import Status

MAX_NAME_LENGTH = 250
MAX_METRICS = 1_000  # distinct metric names one run keeps; NBTRACK_MAX_METRICS overrides it
STEP_RANGE = range(-(2**63), 2**63)  # steps are int64, as the series and its readers (pandas, MLflow) hold them
STEP_MIN, STEP_MAX = STEP_RANGE[0], STEP_RANGE[-1]  # two comparisons cost a quarter of `in STEP_RANGE`


def warn(message: str) -> None:
    """One ``NbtrackWarning``, attributed to the caller of the nbtrack function that called this."""
    warnings.warn(f"nbtrack: {message}", NbtrackWarning, stacklevel=3)


def clean_key(key: Any, kind: str) -> str | None:
    """A param/metric/tag name as text; None (with a warning) when it cannot be one."""
    if not isinstance(key, str):
        key = values.safe_repr(key, MAX_NAME_LENGTH) if not isinstance(key, (int, float, bool)) else str(key)
    key = key.replace("\x00", "")
    if not key.strip():
        warn(f"a {kind} name must not be empty: value not recorded")
        return None
    if len(key) > MAX_NAME_LENGTH:
        warn(f"{kind} name {key[:40]!r}... is longer than {MAX_NAME_LENGTH} characters: truncated")
        key = key[:MAX_NAME_LENGTH]
    return key


def encode_now(value: Any, what: str) -> Any:
    """The value as the record will hold it, warning (at the user's call) about anything not kept exactly."""
    encoded, notes = values.encode(value, what)
    for note in notes:
        warnings.warn(f"nbtrack: {note}", NbtrackWarning, stacklevel=4)
    return encoded


def items_of(mapping: Any, call: str) -> list[tuple[Any, Any]]:
    """The pairs of what was passed as a dict; none (with a warning) when it is not one."""
    try:
        return list(mapping.items())
    except Exception as exc:
        warn(f"{call}() takes a dict; got {type(mapping).__name__} ({exc}): nothing recorded")
        return []


def max_metric_names() -> int:
    """How many distinct metric names a run keeps: ``NBTRACK_MAX_METRICS``, else :data:`MAX_METRICS`."""
    try:
        return max(1, int(os.environ.get("NBTRACK_MAX_METRICS", MAX_METRICS)))
    except ValueError:
        return MAX_METRICS


def clean_step(step: Any, key: str) -> int | None:
    """A metric's step as an int64; None (with a warning: the value takes the next step) when it is not one.

    Whole floats (``2.0``, numpy floats) are kept; ``2.5`` is refused rather than truncated."""
    number: Any = step
    if type(step) is not int:
        try:
            number = operator.index(step)  # bools, numpy ints
        except TypeError:
            try:
                as_float = float(step)
            except (TypeError, ValueError, OverflowError):
                as_float = math.nan
            if not (math.isfinite(as_float) and as_float.is_integer()):
                shown = values.safe_repr(step, 40)
                warn(f"metric {key!r}: step {shown} is not a whole number; logged at the next step instead")
                return None
            number = int(as_float)
    if number not in STEP_RANGE:
        shown = values.safe_repr(number, 40)
        warn(f"metric {key!r}: step {shown} is outside the 64-bit range of steps; logged at the next step instead")
        return None
    return int(number)


def describe_error(error: BaseException, *, where: bool = True) -> str:
    """What went wrong, in words: an OS error's class, text, code and file, not the store's wrapper.

    A :class:`~nbtrack.errors.StoreWriteError` wraps the ``OSError`` that failed (``raise ... from``): that
    one is named, as the built-in class its ``errno`` makes (``PermissionError``, ``OSError``), so the
    sentence reads ``PermissionError: Permission denied [EACCES] at /x/.nbtrack/lock``.
    """
    while isinstance(error, StoreWriteError) and isinstance(error.__cause__, OSError):
        error = error.__cause__
    if not isinstance(error, OSError) or not error.errno:
        return f"{type(error).__name__}: {error}"
    code = error.errno
    name = type(OSError(code, "")).__name__ if isinstance(error, StoreWriteError) else type(error).__name__
    words = os.strerror(code) if isinstance(error, StoreWriteError) or not error.strerror else error.strerror
    name_of = os.fsdecode(error.filename) if isinstance(error.filename, (str, bytes)) else ""
    at = f" at {name_of}" if where and os.path.isabs(name_of) else ""  # a name relative to an open folder says little
    return f"{name}: {words} [{errno.errorcode.get(code, code)}]{at}"


def _is_space(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1))


class SaveProblems:
    """What of one run could not be written to its store; :meth:`message` says it in one warning at the end.

    Parts that failed are retried when the run finishes, so a store that became writable again loses nothing
    and says nothing. A run deleted while it ran (:class:`~nbtrack.errors.RunDeletedError`) is not a
    failure: the delete is honoured and the warning is the store's own sentence."""

    def __init__(self) -> None:
        self.failed: dict[str, BaseException] = {}  # part ("the run record", ...) -> its last error
        self.saved: list[str] = []  # parts written, in order
        self.deleted: RunDeletedError | None = None

    def fail(self, part: str, error: BaseException) -> None:
        if isinstance(error, RunDeletedError):
            self.deleted = error
            return
        self.failed[part] = error
        if part in self.saved:
            self.saved.remove(part)

    def ok(self, part: str) -> None:
        self.failed.pop(part, None)
        if part not in self.saved:
            self.saved.append(part)

    def __bool__(self) -> bool:
        return bool(self.failed) or self.deleted is not None

    def message(self, run_id: str, root: Any, *, record_saved: bool, start_saved: bool, code: str) -> str | None:
        """The sentence for what was and was not saved, or None when everything was."""
        if self.deleted is not None:
            return str(self.deleted)
        if not self.failed:
            return None
        error = self.failed.get("the run record") or next(iter(self.failed.values()))
        cause = describe_error(error)
        advice = (
            "free some disk space (or quota), or set NBTRACK_DIR to another folder"
            if _is_space(error)
            else "set NBTRACK_DIR to a writable folder"
        )
        reason = describe_error(error, where=False)
        parts = ", ".join(  # a part that failed for another reason says its own
            part if describe_error(exc, where=False) == reason else f"{part} ({describe_error(exc)})"
            for part, exc in self.failed.items()
        )
        blobs = [part for part in self.saved if part != "the run record"]
        if record_saved:
            also = f" Also saved: {', '.join(blobs)}." if blobs else ""
            return (
                f"run {run_id} was saved to {root}, but {parts} could not be saved ({cause}); its record (params, "
                f"metrics, tags) is kept without {'it' if len(self.failed) == 1 else 'them'}.{also} "
                f"Your {code} ran normally; {advice}."
            )
        kept = (
            "the store holds only its start record (status running)" if start_saved else "nothing of it is in the store"
        )
        orphans = (
            f" Content files it saved (`nbtrack gc` removes those no run refers to): {', '.join(blobs)}."
            if blobs
            else ""
        )
        return (
            f"run {run_id} could not be saved to {root} ({cause}): {kept}. Not saved: {parts}.{orphans} Its params, "
            f"metrics and tags were kept in memory while it ran and saving was retried when it ended; they are "
            f"dropped now. Your {code} ran normally; {advice}."
        )


def error_record(error: BaseException, redactor: Redactor | None = None) -> dict[str, Any]:
    """The ``error`` field of a run: type, message and traceback, bounded in size, never raising.

    With ``redactor``, secrets in the message and the traceback (tokens, ``password=...``) are redacted.
    """
    try:
        lines = traceback.format_exception(type(error), error, error.__traceback__)
        text = "".join(lines)
    except Exception:
        text = ""
    record = {
        "type": f"{type(error).__module__}.{type(error).__qualname__}".removeprefix("builtins."),
        "message": values.safe_repr(error, 2000) if not str_safe(error) else str(error)[:10_000],
        "traceback": text[-50_000:],
    }
    if redactor is not None:
        try:
            record = redactor.error(record)
        except Exception:  # never raising: a record without its message beats a lost run
            record["message"] = record["traceback"] = "(not kept: redaction failed)"
    return record


def str_safe(error: BaseException) -> bool:
    try:
        str(error)
    except Exception:
        return False
    return True


def status_for(error: BaseException | None) -> Status:
    """How a run that ended with ``error`` (None: it did not fail) ends."""
    if error is None:
        return Status.FINISHED
    if isinstance(error, KeyboardInterrupt):
        return Status.INTERRUPTED
    return Status.FAILED
