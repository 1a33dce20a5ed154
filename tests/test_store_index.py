"""The run index (store/index.py): id prefixes and each cell's newest run, kept as the journal applies lines."""

import pytest

from nbtrack import ids
from nbtrack.store.local import AmbiguousRunIdError, RunNotFoundError, Store


def _doc(run_id, **extra):
    return {"id": run_id, "experiment": "e", **extra}


def test_prefix_lookup_agrees_with_a_scan_across_writes_deletes_and_other_processes(tmp_path):
    store = Store(tmp_path)
    made = [ids.new_run_id() for _ in range(300)]
    for run_id in made[::-1]:  # out of order: the index must re-sort, not trust append order
        store.put_run(_doc(run_id))
    for run_id in made[::7]:
        store.delete_run(run_id)
    other = Store(tmp_path)  # another process's view: built from the file, then from the tail it replays
    assert other.run_docs()
    late = ids.new_run_id()
    store.put_run(_doc(late))
    live = set(store.run_docs())
    for reader in (store, other, Store(tmp_path)):
        for run_id in [*made[:40], late]:
            for k in (6, 10, 26):
                prefix = run_id[:k]
                scan = sorted(i for i in live if i.startswith(prefix))
                if len(scan) == 1:
                    assert reader.resolve(prefix) == scan[0]
                elif not scan:
                    with pytest.raises(RunNotFoundError):
                        reader.resolve(prefix)
                else:
                    with pytest.raises(AmbiguousRunIdError):
                        reader.resolve(prefix)


def test_ambiguous_prefix_says_how_many(tmp_path):
    store = Store(tmp_path)
    for c in "abc":
        store.put_run(_doc("0" * 25 + c))
    with pytest.raises(AmbiguousRunIdError, match="matches 3 runs"):
        store.resolve("0000")


def test_previous_run_of_a_cell_follows_writes_deletes_and_compaction(tmp_path):
    store = Store(tmp_path)
    first, second, other = (ids.new_run_id() for _ in range(3))
    assert store.previous_run_of("cell-a") is None
    store.put_run(_doc(first, cell_key="cell-a"))
    store.put_run(_doc(other, cell_key="cell-b"))
    store.put_run(_doc(second, cell_key="cell-a"))
    assert store.previous_run_of("cell-a") == second
    assert Store(tmp_path).previous_run_of("cell-a") == second  # a fresh process: built at load
    store.delete_run(second)
    assert store.previous_run_of("cell-a") == first  # the newest one gone: the next newest
    assert store.journal.compact()
    reopened = Store(tmp_path)
    assert reopened.previous_run_of("cell-a") == first
    assert reopened.previous_run_of("cell-b") == other
    store.delete_run(first)
    assert store.previous_run_of("cell-a") is None


def test_an_index_restored_from_a_checkpoint_agrees_with_a_scan_after_reads_writes_and_deletes(tmp_path):
    """A fresh process restores the index from the checkpoint and makes its id set and order only when first
    asked; lookups, out-of-order writes and deletes after that agree with a scan of the records."""
    store = Store(tmp_path)
    made = [ids.new_run_id() for _ in range(200)]
    for run_id in made:
        store.put_run(_doc(run_id))
    assert store.journal.compact()
    reader = Store(tmp_path)
    assert len(reader.run_docs()) == 200
    prefix = made[7][:24]  # the first lookup makes the set and the order
    assert reader.journal.index.with_prefix(prefix, most=10**6) == sorted(i for i in made if i.startswith(prefix))
    writer = Store(tmp_path)
    early = "0" * 20 + made[0][20:]  # sorts before every id: the restored order must take it in
    writer.put_run(_doc(early))
    writer.delete_run(made[3])
    assert writer.resolve(early[:21]) == early
    with pytest.raises(RunNotFoundError):
        writer.resolve(made[3])
    assert reader.resolve(early[:21]) == early  # the reader replays the tail into the restored index
    with pytest.raises(RunNotFoundError):
        reader.resolve(made[3])
    assert sorted(writer.journal.index.with_prefix("", most=10**6)) == sorted(writer.run_docs())
