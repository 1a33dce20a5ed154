"""nbtrack.query.contents: a run's models, artifacts, outputs and links as the rows every view shows, and which
blobs a record references (what the server may serve)."""

from __future__ import annotations

from nbtrack.query import contents

MODEL = {"blob": "a" * 32, "format": "skops", "class": "sklearn.linear_model.Ridge", "size": 9, "hash": "b" * 32}


def test_params_are_grouped_by_the_label_of_their_source():
    sources = {"a": "assigned", "b": "call", "c": "config", "d": "input", "e": "framework", "f": "explicit", "g": 3}
    groups = contents.params_by_label(["e", "a", "g", "b", "d", "c", "f", "h"], sources)
    assert list(groups) == ["explicit", "inline", "input", "framework", "other"]
    assert groups["inline"] == ["a", "b", "c"] and groups["other"] == ["g", "h"]  # unknown and absent
    assert contents.params_by_label(["x"], None) == {"other": ["x"]}


def test_rows_survive_malformed_records():
    rows = contents.model_rows({"m": MODEL, "bad": "not a dict", "skip": {"skipped": "over the limit", "size": True}})
    m, bad, skip = rows
    assert (m["kept"], m["hash"], m["blob"], m["size"]) == (True, "b" * 32, "a" * 32, 9)
    assert (bad["kept"], bad["class"], bad["hash"]) == (False, None, None)
    assert (skip["kept"], skip["skipped"], skip["size"]) == (False, "over the limit", None)  # a bool is no size
    assert contents.model_rows(None) == [] and contents.artifact_rows([1, 2]) == []
    (out,) = contents.output_rows({"o.csv": {"hash": "c" * 32, "size": 3, "kept": "../../etc/passwd"}})
    assert out["kept"] is None  # not a digest: nothing to download
    (art,) = contents.artifact_rows({"f": {"blob": "d" * 32, "media_type": "image/svg+xml"}})
    assert art["kind"] == "file" and contents.is_figure(art)  # an image type shows as a figure


def test_blob_of_names_only_what_the_record_references():
    doc = {
        "models": {"clf": MODEL, "big": {"skipped": "too big", "blob": "e" * 32}},
        "artifacts": {"plots/fig 1.png": {"blob": "f" * 32, "media_type": "IMAGE/PNG"}},
        "outputs": {"out/../x.csv": {"hash": "1" * 32, "kept": "2" * 32}, "y.csv": {"hash": "3" * 32, "kept": None}},
        "snapshot": {"blob": "4" * 32},
    }
    model = contents.blob_of(doc, "a" * 32)
    assert (model.part, model.filename, model.media_type) == ("model", "clf.skops", "application/octet-stream")
    figure = contents.blob_of(doc, "f" * 32)
    assert (figure.filename, figure.media_type) == ("fig_1.png", "image/png")
    assert contents.blob_of(doc, "2" * 32).filename == "x.csv"
    for digest in ("e" * 32, "3" * 32, "4" * 32, "b" * 32, "../" + "a" * 29, "A" * 32):
        assert contents.blob_of(doc, digest) is None, digest  # skipped, only hashed, the store's, a hash, junk
    odd = {"artifacts": {"\r\n..": {"blob": "5" * 32, "media_type": "text/html; x=<y>"}}}
    ref = contents.blob_of(odd, "5" * 32)
    assert ref.filename == "artifact" and ref.media_type == "application/octet-stream"


def test_downstream_runs_are_those_whose_upstream_names_this_one():
    docs = {
        "01a": {"id": "01a"},
        "01b": {"id": "01b", "upstream": {"p.csv": "01a", "q.csv": "01x"}},
        "01c": {"id": "01c", "upstream": {"p.csv": "01a"}},
        "01d": {"id": "01d", "upstream": "junk"},
    }
    assert contents.downstream(docs, "01a") == {"p.csv": ["01b", "01c"]}
    assert contents.downstream(docs, "01b") == {}
    assert contents.short_hash("abcdef0123456789") == "abcdef012345" and contents.short_hash("") is None
