"""What a run accepts, and how nbtrack's own failures reach the user: cleaned names, encoded values, warnings.

Tracking never breaks the user's code: a name that cannot be one, a value JSON cannot hold or a store that
cannot be written becomes one ``NbtrackWarning`` sentence, and the run keeps what it can.
"""

from __future__ import annotations

import traceback
import warnings
from typing import Any

from nbtrack import values
from nbtrack.errors import NbtrackWarning
from nbtrack.redact import Redactor
from nbtrack.run import Status

MAX_NAME_LENGTH = 250


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
