"""nbtrack.log_artifact: files, directories and bytes kept as content-addressed blobs, names checked first."""

from __future__ import annotations

import pytest

import nbtrack
from nbtrack.capture.artifacts import MAX_NAME_LENGTH, check_name, media_type
from nbtrack.errors import ArtifactError, ArtifactNotFoundError, NbtrackError, NbtrackWarning, NoActiveRunError
from nbtrack.store.gc import collect

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20


def stored(run_id):
    return nbtrack.get_run(run_id)


def test_a_file_a_directory_and_bytes_are_kept_and_read_back(store_dir, tmp_path):
    (tmp_path / "report.csv").write_text("a,b\n1,2\n")
    plots = tmp_path / "plots"
    (plots / "sub").mkdir(parents=True)
    (plots / "loss.png").write_bytes(PNG)
    (plots / "sub" / "notes.txt").write_text("hello")
    with nbtrack.track(environment=False) as run:
        one = nbtrack.log_artifact("report.csv")
        many = nbtrack.log_artifact(plots)
        raw = nbtrack.log_artifact(b"\x00\x01raw")
        png = nbtrack.log_artifact(PNG)
        nbtrack.log_artifact(b"{}", name="cfg/final.json")
    assert list(one) == ["report.csv"] and one["report.csv"]["kind"] == "file"
    assert sorted(many) == ["plots/loss.png", "plots/sub/notes.txt"]
    assert list(raw) == ["artifact-1"] and list(png) == ["artifact-2"]
    back = stored(run.id)
    artifacts = back.artifacts
    assert set(artifacts) == {"report.csv", "plots/loss.png", "plots/sub/notes.txt", "artifact-1", "artifact-2"} | {
        "cfg/final.json"
    }
    read = {name: back.store.get_blob(record["blob"]) for name, record in artifacts.items()}
    assert read["report.csv"] == b"a,b\n1,2\n" and read["plots/loss.png"] == PNG
    assert read["plots/sub/notes.txt"] == b"hello" and read["artifact-1"] == b"\x00\x01raw"
    assert artifacts["report.csv"] == {
        "blob": artifacts["report.csv"]["blob"],
        "size": 8,
        "media_type": "text/csv",
        "kind": "file",
    }
    assert artifacts["plots/loss.png"]["media_type"] == "image/png"
    assert artifacts["artifact-1"] == {
        **artifacts["artifact-1"],
        "kind": "bytes",
        "media_type": "application/octet-stream",
    }
    assert artifacts["artifact-2"]["media_type"] == "image/png"  # told by its first bytes
    assert artifacts["cfg/final.json"]["media_type"] == "application/json"
    # content-addressed: the same bytes under two names are one blob
    assert artifacts["artifact-2"]["blob"] == artifacts["plots/loss.png"]["blob"]


def test_active_run_method_and_name_replaces_the_file_name(store_dir, tmp_path):
    (tmp_path / "model.bin").write_bytes(b"m" * 10)
    with nbtrack.track(environment=False) as run:
        run.log_artifact(tmp_path / "model.bin", name="weights.bin")
    assert list(stored(run.id).artifacts) == ["weights.bin"]
    assert stored(run.id).artifacts["weights.bin"]["size"] == 10


BAD_NAMES = ["../escape.txt", "/etc/passwd", "a/../../b", "a//b", "./a", "a\\b", "C:evil", "", "   ", "bad\x00name"]


@pytest.mark.parametrize("name", [*BAD_NAMES, "t\nx", "x" * (MAX_NAME_LENGTH + 1), 3])
def test_bad_names_are_refused_before_anything_is_stored(store_dir, name):
    with nbtrack.track(environment=False) as run:
        with pytest.raises(ArtifactError) as info:
            nbtrack.log_artifact(b"data", name=name)
        assert isinstance(info.value, ValueError) and isinstance(info.value, NbtrackError)
    assert stored(run.id).artifacts == {}
    assert all(blob.read_bytes() != b"data" for blob in (store_dir / "objects").glob("??/*"))


def test_a_file_name_that_cannot_be_an_artifact_name_asks_for_name(store_dir, tmp_path):
    (tmp_path / "line\nbreak.txt").write_text("x")
    with nbtrack.track(environment=False):
        with pytest.raises(ArtifactError, match="pass name="):
            nbtrack.log_artifact(tmp_path / "line\nbreak.txt")
        assert list(nbtrack.log_artifact(tmp_path / "line\nbreak.txt", name="ok.txt")) == ["ok.txt"]


def test_missing_path_wrong_type_and_no_run(store_dir):
    with pytest.raises(NoActiveRunError, match="log_artifact"):
        nbtrack.log_artifact(b"x")
    with nbtrack.track(environment=False):
        with pytest.raises(ArtifactNotFoundError) as info:
            nbtrack.log_artifact("no-such-file.txt")
        assert isinstance(info.value, FileNotFoundError)
        with pytest.raises(ArtifactError, match="not int"):
            nbtrack.log_artifact(12)


def test_check_name_and_media_type():
    assert check_name("plots/loss curve.png") == "plots/loss curve.png"
    assert media_type("x.unknownext", b"%PDF-1.4") == "application/pdf"
    assert media_type("noext", b"zz") == "application/octet-stream"


def test_gc_keeps_artifact_and_output_blobs_of_live_runs_only(store_dir, tmp_path):
    with nbtrack.track(environment=False) as keep:
        nbtrack.log_artifact(b"keep me", name="k.txt")
        (tmp_path / "out.txt").write_text("an output")
    with nbtrack.track(environment=False) as gone:
        nbtrack.log_artifact(b"purge me", name="p.txt")
    store = nbtrack.get_store()
    kept_blob = stored(keep.id).artifacts["k.txt"]["blob"]
    output_blob = stored(keep.id).outputs["out.txt"]["kept"]
    gone_blob = stored(gone.id).artifacts["p.txt"]["blob"]
    collect(store, [gone.id], grace=0)
    assert store.get_blob(kept_blob) == b"keep me" and store.get_blob(output_blob) == b"an output"
    assert not store.blobs.exists(gone_blob)


def test_a_full_store_loses_artifacts_and_kept_outputs_with_one_warning(store_dir, tmp_path):
    import errno

    from test_unwritable import BLOB_LINE, BLOBS, StoreFaults

    with nbtrack.track(environment=False):
        pass  # the store's folders exist
    faults = StoreFaults(store_dir, errno.ENOSPC, parts=BLOBS, only=BLOB_LINE)  # blobs are files or journal lines
    with pytest.warns(NbtrackWarning) as caught, faults, nbtrack.track(environment=False) as run:
        assert nbtrack.log_artifact(b"lost", name="lost.bin") == {}  # the cell goes on
        (tmp_path / "out.txt").write_text("an output")
    messages = [str(w.message) for w in caught if issubclass(w.category, NbtrackWarning)]
    assert len(messages) == 1, messages
    assert "artifact 'lost.bin'" in messages[0] and "output file 'out.txt'" in messages[0], messages[0]
    back = nbtrack.get_run(run.id)
    assert back.artifacts == {} and back.outputs["out.txt"]["kept"] is None  # hashed, not kept
