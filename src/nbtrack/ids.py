"""Run ids: time-ordered, unique across processes, and safe to use in file names.

An id is 26 lowercase Crockford base32 characters (ULID layout): 48 bits of milliseconds since the
epoch, then 80 random bits. Sorting ids sorts runs by creation time; within one process ids are
strictly increasing even inside one millisecond.
"""

from __future__ import annotations

import os
import re
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
ID_LENGTH = 26
_ID_RE = re.compile(rf"[{_ALPHABET}]{{{ID_LENGTH}}}")
_PREFIX_RE = re.compile(rf"[{_ALPHABET}]{{1,{ID_LENGTH}}}")

_lock = threading.Lock()
_last = (0, 0)


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_run_id() -> str:
    """A new id, later than every id this process made before."""
    global _last
    with _lock:
        ms = time.time_ns() // 1_000_000
        last_ms, last_rand = _last
        if ms <= last_ms:
            ms, rand = last_ms, last_rand + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        if rand >= 1 << 80:  # 2**80 ids in one millisecond: move on to the next one
            ms, rand = ms + 1, int.from_bytes(os.urandom(10), "big")
        _last = (ms, rand)
    return run_id_from(ms, rand)


def run_id_from(ms: int, rand: int) -> str:
    """The id for a millisecond time and 80 random bits (also how pulled MLflow runs get stable ids)."""
    return _encode(ms, 10) + _encode(rand, 16)


def is_run_id(text: object) -> bool:
    return isinstance(text, str) and bool(_ID_RE.fullmatch(text))


def is_id_prefix(text: object) -> bool:
    """True for text that could start a run id; anything else never reaches a lookup or a path."""
    return isinstance(text, str) and bool(_PREFIX_RE.fullmatch(text))  # not match(): "$" allows a final "\n"


def id_time(run_id: str) -> float:
    """Creation time (seconds since the epoch) encoded in an id."""
    ms = 0
    for char in run_id[:10]:
        ms = ms * 32 + _ALPHABET.index(char)
    return ms / 1000
