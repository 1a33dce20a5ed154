"""nbtrack.reprs: text for any value in bounded time."""

import time

from nbtrack import reprs


def test_builtin_values_render_like_repr():
    for value in [None, 1, -2.5, "a'b", b"\x00", [1, (2,), {3: {4}}], frozenset(), set(), (), {}, [[]]]:
        assert reprs.bounded_repr(value) == repr(value)


def test_self_reference_and_sharing_are_bounded():
    a: list = []
    a.append(a)
    assert reprs.bounded_repr(a) == "[[...]]"
    shared: list = []
    for _ in range(60):
        shared = [shared, shared]
    start = time.perf_counter()
    text = reprs.bounded_repr(shared, limit=500)
    assert time.perf_counter() - start < 0.1 and len(text) <= 520 and text.endswith("... [cut]")


def test_long_text_and_huge_ints_are_not_printed_in_full():
    assert len(reprs.bounded_repr("x" * 10**8, limit=100)) < 140
    assert reprs.bounded_repr(10**100_000) == "<int of about 100,000 digits>"


def test_foreign_reprs_are_timed_and_never_raise():
    class Broken:
        def __repr__(self):
            raise ValueError("no")

    class Slow:
        def __repr__(self):
            time.sleep(2)
            return "slow"

    assert "repr failed: ValueError" in reprs.bounded_repr(Broken())
    start = time.perf_counter()
    text = reprs.timed_repr(Slow(), timeout=0.2)
    assert time.perf_counter() - start < 0.5 and "repr took longer than the 0.5 s nbtrack waits" in text
    assert "repr not called" in reprs.timed_repr(Slow(), timeout=0)
    plain = object()
    assert reprs.timed_repr(plain) == repr(plain)
