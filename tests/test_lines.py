"""store/lines.py: blob and chunk lines, and a large store compacted into chunks read back whole."""

from __future__ import annotations

import warnings

import pytest

from nbtrack import ids
from nbtrack.errors import StoreCorruptionWarning
from nbtrack.store.doctor import check
from nbtrack.store.lines import (
    CHUNK_DOCS,
    blob_bytes,
    blob_entry,
    blob_of,
    checked_body,
    chunked,
    decode_line,
    encode_line,
    expand,
)
from nbtrack.store.local import Store
from nbtrack.store.packs import digest_of


@pytest.mark.parametrize("data", [b"text \xe2\x9c\x93", b"\xff\x00 not utf-8", b""])
def test_a_blob_line_carries_its_bytes_and_names_its_hash_in_its_prefix(data):
    digest = digest_of(data)
    line = encode_line(blob_entry(digest, data, 1.5))[:-1]
    assert blob_of(checked_body(line)) == digest
    assert blob_bytes(decode_line(line)) == data
    assert blob_of(checked_body(encode_line({"op": "put", "t": "runs", "id": "x", "doc": {}})[:-1])) is None


def test_chunks_hold_full_runs_of_lines_and_expand_back():
    lines = [encode_line({"op": "put", "t": "runs", "id": f"{n:026d}", "doc": {"n": n}}) for n in range(600)]
    data = chunked(lines)
    out = data.split(b"\n")[:-1]
    assert len(out) == 2 + 600 - 2 * CHUNK_DOCS  # two chunks, the rest plain
    assert [one + b"\n" for line in out for one in expand(line)] == lines
    assert len(data) < sum(map(len, lines)) / 3
    assert expand(out[0][:-3]) == [out[0][:-3]]  # a damaged chunk stays one (damaged) line


def big_store(root, n=700):
    store = Store(root)
    made = {}
    for k in range(n):
        run_id = ids.new_run_id()
        doc = {"id": run_id, "status": "finished", "params": {"k": k}, "env": {"python": "3.11", "pad": "p" * 300}}
        store.put_run({**doc, "status": "running"}, durable=False)
        store.put_run(doc, durable=False)
        made[run_id] = doc
    assert store.journal.compact()
    return store, made


def test_a_compacted_large_store_reads_back_whole_and_smaller(tmp_path):
    store, made = big_store(tmp_path)
    journal = (tmp_path / "runs.jsonl").read_bytes()
    assert journal.count(b'{"op":"chunk"') == 700 // CHUNK_DOCS
    assert len(journal) < (tmp_path / "runs.jsonl.prev").stat().st_size / 5
    assert Store(tmp_path).run_docs() == made
    store.delete_run(next(iter(made)))
    assert len(Store(tmp_path).run_docs()) == 699 and check(Store(tmp_path)).ok


def test_a_damaged_chunk_is_reported_and_doctor_restores_its_runs_from_the_last_good_copy(tmp_path):
    _, made = big_store(tmp_path)
    path = tmp_path / "runs.jsonl"
    lines = path.read_bytes().split(b"\n")
    hit = next(i for i, line in enumerate(lines) if b'{"op":"chunk"' in line[:30])
    lines[hit] = lines[hit][:40] + bytes([lines[hit][40] ^ 1]) + lines[hit][41:]
    path.write_bytes(b"\n".join(lines))
    with pytest.warns(StoreCorruptionWarning, match="damaged"):
        docs = Store(tmp_path).run_docs()
    assert len(docs) == 700 - CHUNK_DOCS  # every run outside the chunk
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoreCorruptionWarning)
        report = check(Store(tmp_path), repair=True)
    assert report.runs_restored == CHUNK_DOCS  # from runs.jsonl.prev, whose lines are plain
    assert Store(tmp_path).run_docs() == made
