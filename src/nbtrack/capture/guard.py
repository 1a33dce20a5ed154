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
from nbtrack.errors import NbtrackWarning
from nbtrack.redact import Redactor
from nbtrack.run import Status

MAX_NAME_LENGTH = 250
MAX_METRICS = 1_000  # distinct metric names one run keeps; NBTRACK_MAX_METRICS overrides it
STEP_RANGE = range(-(2**63), 2**63)  # steps are int64, as the series and its readers (pandas, MLflow) hold them


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


class SaveProblems:
    """What of one run could not be written to its store; :meth:`report` says it in one warning at the end.

    Parts that failed are retried when the run finishes, so a store that became writable again loses nothing
    and says nothing."""

    def __init__(self) -> None:
        self.failed: dict[str, BaseException] = {}  # part ("the run record", ...) -> its last error

    def fail(self, part: str, error: BaseException) -> None:
        self.failed[part] = error

    def ok(self, part: str) -> None:
        self.failed.pop(part, None)

    def __bool__(self) -> bool:
        return bool(self.failed)

    def message(self, run_id: str, root: Any, *, record_saved: bool, start_saved: bool, code: str) -> str | None:
        """The sentence for what was and was not saved, or None when everything was."""
        if not self.failed:
            return None
        error = self.failed.get("the run record") or next(iter(self.failed.values()))
        cause = f"{type(error).__name__}: {error}"
        space = isinstance(error, OSError) and error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1))
        advice = (
            "free some disk space (or quota), or set NBTRACK_DIR to another folder"
            if space
            else ("set NBTRACK_DIR to a writable folder")
        )
        parts = ", ".join(self.failed)
        if record_saved:
            return (
                f"run {run_id} was saved to {root}, but {parts} could not be saved ({cause}). "
                f"Your {code} ran normally; {advice}."
            )
        kept = (
            "the store holds only its start record (status running)" if start_saved else "nothing of it is in the store"
        )
        return (
            f"run {run_id} could not be saved to {root} ({cause}): {kept}. Not saved: {parts}. Its params, metrics "
            f"and tags were kept in memory while it ran and saving was retried when it ended; they are dropped now. "
            f"Your {code} ran normally; {advice}."
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
