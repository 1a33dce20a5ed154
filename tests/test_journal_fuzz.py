"""Lost data is never silent: a journal cut or changed anywhere gives a warning on read and a failing doctor.

The store is built as nbtrack writes it (a ``running`` record without fsync, then the final record,
a compaction halfway), then damaged in a copy: truncated at random offsets, at every line boundary and
inside multi-byte UTF-8 characters, or with one byte flipped. Each time: reading warns, ``doctor``
reports a problem (non-zero exit), and every run whose lines were not touched is still read, intact.
"""

from __future__ import annotations

import random
import shutil
import warnings
from pathlib import Path

import pytest

from nbtrack import ids
from nbtrack.cli import main as cli
from nbtrack.errors import StoreCorruptionWarning
from nbtrack.store import mark
from nbtrack.store.doctor import check
from nbtrack.store.local import Store

RNG = random.Random(18)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict[str, dict], bytes]:
    """A store of 40 runs (names with multi-byte characters), compacted after 25; its final docs; its bytes."""
    root = tmp_path_factory.mktemp("fuzzbase")
    store = Store(root)
    store.run_docs()
    final = {}
    for n in range(40):
        run_id = ids.new_run_id()
        doc = {"id": run_id, "name": f"caf\u00e9-\u65e5\u672c-{n}", "status": "running", "params": {"n": n}}
        store.put_run(doc, durable=False)
        final[run_id] = {**doc, "status": "finished", "metrics": {"acc": n / 40}}
        store.put_run(final[run_id])
        if n == 24:
            assert store.journal.compact()
    return root, final, (root / "runs.jsonl").read_bytes()


def damaged_copy(built, tmp_path: Path, data: bytes) -> Path:
    root, _, _ = built
    copy = tmp_path / f"case{RNG.randrange(10**9)}"
    shutil.copytree(root, copy)
    (copy / "runs.jsonl").write_bytes(data)
    return copy


def line_spans(data: bytes) -> list[tuple[int, int]]:
    spans, start = [], 0
    for line in data.splitlines(keepends=True):
        spans.append((start, start + len(line)))
        start += len(line)
    return spans


def assert_loss_reported_and_survivors_kept(copy: Path, final: dict[str, dict], intact: set[str]) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        docs = Store(copy).run_docs()
    said = [str(w.message) for w in caught if issubclass(w.category, StoreCorruptionWarning)]
    assert said, "a damaged journal was read without a warning"
    assert all("runs.jsonl" in s for s in said)  # the warning names the file
    for run_id in intact:
        assert docs.get(run_id) == final[run_id], f"surviving run {run_id} lost"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoreCorruptionWarning)
        assert not check(Store(copy)).ok


def runs_in(data: bytes, spans: list[tuple[int, int]], keep) -> set[str]:
    """Ids whose final line lies in a span for which ``keep(span)`` is true."""
    last: dict[str, tuple[int, int]] = {}
    for span in spans:
        line = data[span[0] : span[1]]
        marker = line.find(b'"id":"')
        if marker > 0:
            last[line[marker + 6 : marker + 32].decode()] = span
    return {run_id for run_id, span in last.items() if keep(span)}


def truncation_offsets(data: bytes) -> list[tuple[str, int]]:
    spans = line_spans(data)
    offsets = [("boundary", end) for _, end in spans[:-1]] + [("boundary", 0)]
    offsets += [("random", RNG.randrange(1, len(data))) for _ in range(25)]
    multibyte = [i for i in range(1, len(data)) if 0x80 <= data[i] < 0xC0]  # continuation bytes
    offsets += [("mid-utf8", i) for i in RNG.sample(multibyte, 15)]
    return offsets


def test_every_truncation_is_reported_and_loses_no_surviving_run(built, tmp_path):
    _, final, data = built
    spans = line_spans(data)
    cases = truncation_offsets(data)
    for _, offset in cases:
        copy = damaged_copy(built, tmp_path, data[:offset])
        assert_loss_reported_and_survivors_kept(copy, final, runs_in(data, spans, lambda s, cut=offset: s[1] <= cut))
        shutil.rmtree(copy)
    assert len(cases) > 80


def test_every_flipped_byte_is_reported_and_loses_no_other_run(built, tmp_path):
    _, final, data = built
    spans = line_spans(data)
    positions = [*RNG.sample(range(len(data)), 40), 8, len(data) - 1]  # the header's separator, the last newline
    for position in positions:
        flipped = bytearray(data)
        flipped[position] ^= 1 << RNG.randrange(8)
        hit = next(i for i, (start, end) in enumerate(spans) if start <= position < end)
        touched = {spans[hit]} | ({spans[hit + 1]} if data[position] == 0x0A and hit + 1 < len(spans) else set())
        copy = damaged_copy(built, tmp_path, bytes(flipped))
        assert_loss_reported_and_survivors_kept(copy, final, runs_in(data, spans, lambda s, hit=touched: s not in hit))
        shutil.rmtree(copy)


def test_a_damaged_header_leaves_every_run_readable_and_doctor_checks_the_rest(built, tmp_path, capsys):
    _, final, data = built
    changed = bytearray(data)
    changed[8] = ord("x")  # offset 8 of line 1: the header's separator
    copy = damaged_copy(built, tmp_path, bytes(changed))
    with pytest.warns(StoreCorruptionWarning, match="line 1"):
        docs = Store(copy).run_docs()
    assert docs == final
    with pytest.warns(StoreCorruptionWarning):
        assert cli(["--store", str(copy), "doctor"]) == 1
    out = capsys.readouterr().out
    assert "line 1: damaged" in out and "40 run(s) readable" in out
    assert cli(["--store", str(copy), "doctor", "--repair"]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreCorruptionWarning)
        assert Store(copy).run_docs() == final  # no warning any more
        assert check(Store(copy)).ok
    assert list(copy.glob("runs.jsonl.before-repair-*"))  # what was replaced is kept


def mark_bytes(root: Path) -> bytes:
    with open(root / "lock", "rb") as lock:
        lock.seek(mark.OFFSET)
        return lock.read(128)


def set_mark_bytes(root: Path, raw: bytes) -> None:
    with open(root / "lock", "r+b") as lock:
        lock.seek(mark.OFFSET)
        lock.write(raw)


def test_a_lagging_mark_never_raises_a_false_alarm(tmp_path):
    store = Store(tmp_path)
    first = {"id": ids.new_run_id(), "n": 1}
    store.put_run(first)
    lagging = mark_bytes(tmp_path)
    for n in range(5):
        store.put_run({"id": ids.new_run_id(), "n": n})
    set_mark_bytes(tmp_path, lagging)  # the mark of a writer killed before moving it on
    durable_end = (tmp_path / "runs.jsonl").stat().st_size
    store.put_run({"id": ids.new_run_id(), "n": 9}, durable=False)  # not committed: a power cut may lose it
    with open(tmp_path / "runs.jsonl", "r+b") as f:
        f.truncate(durable_end)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreCorruptionWarning)
        assert len(Store(tmp_path).run_docs()) == 6
        assert check(Store(tmp_path)).ok
        set_mark_bytes(tmp_path, b"nbtrack-mark 2 garbage")  # a torn mark is ignored, too
        assert len(Store(tmp_path).run_docs()) == 6 and check(Store(tmp_path)).ok


def test_a_compaction_killed_before_it_moved_the_mark_is_no_false_alarm(tmp_path):
    store = Store(tmp_path)
    for n in range(20):
        store.put_run({"id": ids.new_run_id(), "n": n, "payload": "x" * 100})
    before = mark_bytes(tmp_path)
    assert store.journal.compact()  # a shorter file under a new epoch
    set_mark_bytes(tmp_path, before)  # as if killed between the rename and the mark
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreCorruptionWarning)
        assert len(Store(tmp_path).run_docs()) == 20
        assert check(Store(tmp_path)).ok
        Store(tmp_path).put_run({"id": ids.new_run_id(), "n": 20})  # and the next writer moves it on
    path = tmp_path / "runs.jsonl"
    path.write_bytes(path.read_bytes()[:-50])
    with pytest.warns(StoreCorruptionWarning, match="committed data is missing"):
        Store(tmp_path).run_docs()


def test_a_journal_cut_at_a_line_boundary_is_reported_with_the_runs_to_restore(tmp_path, capsys):
    store = Store(tmp_path)
    made = [ids.new_run_id() for _ in range(6)]
    for n, run_id in enumerate(made[:4]):
        store.put_run({"id": run_id, "n": n})
    assert store.journal.compact()
    for n, run_id in enumerate(made[4:], 4):
        store.put_run({"id": run_id, "n": n})
    path = tmp_path / "runs.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]))  # header + 2 runs: 2 from the copy and 2 written since are gone
    with pytest.warns(StoreCorruptionWarning, match=r"runs\.jsonl: committed data is missing.*shorter"):
        assert len(Store(tmp_path).run_docs()) == 2
    with pytest.warns(StoreCorruptionWarning):
        assert cli(["--store", str(tmp_path), "doctor"]) == 1
    out = capsys.readouterr().out
    assert "committed data is missing" in out and made[2] in out and made[3] in out  # named from the copy
    assert cli(["--store", str(tmp_path), "doctor", "--repair"]) == 0
    assert "cannot be restored" in capsys.readouterr().out  # the two written after the copy are in no copy
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreCorruptionWarning)
        assert sorted(Store(tmp_path).run_docs()) == sorted(made[:4])
