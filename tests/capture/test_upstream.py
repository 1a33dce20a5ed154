"""Upstream links: a run reading a file an earlier run wrote names that run in ``run.upstream``."""

from __future__ import annotations

import textwrap

import pytest

import nbtrack
from nbtrack.capture.upstream import file_inputs, find_producers


def test_train_links_to_the_prepare_run_that_wrote_its_input(store_dir, tmp_path):
    with nbtrack.track(name="prepare", environment=False) as prepare:
        (tmp_path / "clean.csv").write_text("a,b\n1,2\n")
    with nbtrack.track(name="train", data={"clean": "clean.csv"}, environment=False) as train:
        pass
    with nbtrack.track(name="unrelated", environment=False) as unrelated:
        (tmp_path / "other.csv").write_text("x\n")
    assert nbtrack.get_run(train.id).upstream == {"clean": prepare.id}
    assert nbtrack.get_run(prepare.id).upstream == {} and nbtrack.get_run(unrelated.id).upstream == {}


def test_the_latest_earlier_writer_of_the_same_content_is_linked(store_dir, tmp_path):
    ids = []
    for content in ("v1", "v2", "v2"):
        with nbtrack.track(environment=False) as run:
            (tmp_path / "clean.csv").write_text(content)
        ids.append(run.id)
    (tmp_path / "clean.csv").write_text("v2")  # rewritten outside any run, same content
    with nbtrack.track(environment=False) as train:
        nbtrack.log_data("clean.csv", tmp_path / "clean.csv")
    assert nbtrack.get_run(train.id).upstream == {"clean.csv": ids[2]}
    (tmp_path / "clean.csv").write_text("never written by a run")
    with nbtrack.track(environment=False) as orphan:
        nbtrack.log_data("clean.csv", tmp_path / "clean.csv")
    assert nbtrack.get_run(orphan.id).upstream == {}


def test_a_directory_input_links_to_the_run_that_wrote_its_files(store_dir, tmp_path):
    with nbtrack.track(environment=False) as prepare:
        (tmp_path / "parts").mkdir()
        for i in range(3):
            (tmp_path / "parts" / f"part-{i}.csv").write_text(f"x\n{i}\n")
    with nbtrack.track(data={"parts": tmp_path / "parts"}, environment=False) as train:
        pass
    assert sorted(nbtrack.get_run(prepare.id).outputs) == [f"parts/part-{i}.csv" for i in range(3)]
    assert nbtrack.get_run(train.id).upstream == {"parts": prepare.id}


def test_a_run_reading_and_rewriting_a_file_is_not_its_own_upstream(store_dir, tmp_path):
    (tmp_path / "state.txt").write_text("0")
    with nbtrack.track(data={"state": "state.txt"}, environment=False) as run:
        (tmp_path / "state.txt").write_text("0")  # same content written back
    assert nbtrack.get_run(run.id).upstream == {}


def test_files_only_read_link_by_path(store_dir, tmp_path):
    from nbtrack.capture.upstream import link_upstream
    from nbtrack.data.file_cache import hash_file

    with nbtrack.track(environment=False) as prepare:
        (tmp_path / "features.parquet").write_bytes(b"PAR1 pretend")
    with nbtrack.track(environment=False) as train:
        link_upstream(train, {"features.parquet": hash_file(tmp_path / "features.parquet"), "other.txt": "0" * 32})
        assert train.record.upstream == {"features.parquet": prepare.id}


def test_helpers_pick_file_inputs_and_ignore_later_runs():
    records = {"f": {"kind": "file", "hash": "h1"}, "df": {"kind": "dataframe", "hash": "h2"}, "bad": None}
    records["d"] = {"kind": "directory", "entries": [{"path": "a", "hash": "h3"}, {"path": "b", "hash": "h4"}]}
    assert file_inputs(records) == {"f": {"h1"}, "d": {"h3", "h4"}}
    docs = {
        "a": {"id": "0001", "outputs": {"x": {"hash": "h1"}}},
        "b": {"id": "0003", "outputs": {"y": {"hash": "h1"}}},
        "c": {"id": "0009", "outputs": {"z": {"hash": "h1"}}},  # later than the run
        "d": {"id": "0004", "outputs": None},
    }
    assert find_producers(docs, {"h1"}, before="0005") == {"h1": "0003"}


@pytest.mark.kernel
def test_prepare_and_train_cells_in_a_real_kernel(tmp_path):
    pytest.importorskip("ipykernel")
    from kernel_helpers import code, new_session

    prepare = textwrap.dedent("""\
        %%track -n prepare -q
        raw = pd.DataFrame({"x": [3, 1, 2, None], "y": [1, 0, 1, 1]})
        raw.dropna().to_csv("clean.csv", index=False)
        """)
    train = textwrap.dedent("""\
        %%track -n train -q -d clean.csv
        from sklearn.linear_model import LogisticRegression
        df = pd.read_csv("clean.csv")
        clf = LogisticRegression(C=0.5).fit(df[["x"]], df["y"])
        nbtrack.log_metric("acc", clf.score(df[["x"]], df["y"]))
        """)
    cells = [code("%load_ext nbtrack\nimport nbtrack\nimport pandas as pd"), code(prepare), code(train)]
    session = new_session(tmp_path, cells)
    try:
        session.execute_all()
        (prep,) = session.run_named("prepare")
        (fit,) = session.run_named("train")
        assert list(prep.outputs) == ["clean.csv"]  # not the notebook, not the store
        assert prep.store.get_blob(prep.outputs["clean.csv"]["kept"]) == (tmp_path / "clean.csv").read_bytes()
        assert fit.data["clean.csv"]["hash"] == prep.outputs["clean.csv"]["hash"]
        assert fit.upstream == {"clean.csv": prep.id} and fit.outputs == {}
    finally:
        session.close()
