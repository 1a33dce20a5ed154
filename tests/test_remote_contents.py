"""remote/contents.py: where a run's models, artifacts and kept outputs go among an MLflow run's artifacts."""

from __future__ import annotations

import importlib.util

import pytest

from nbtrack.remote.contents import (
    artifact_path,
    contents_size,
    file_parts,
    flavor_for,
    model_parts,
    output_path,
    relative_path,
    segment,
)

D1, D2, D3 = "1" * 32, "2" * 32, "3" * 32


def test_segment_keeps_plain_names_and_makes_others_distinct_and_safe():
    assert segment("clf") == "clf"
    assert segment("figure-1.png") == "figure-1.png"
    odd, other = segment("my model/v2"), segment("my model?v2")
    assert odd.startswith("my_model_v2-") and other.startswith("my_model_v2-") and odd != other
    assert "/" not in odd and segment("..") != ".." and segment("").startswith("item-")


def test_output_paths_stay_inside_the_outputs_folder():
    assert output_path("out/preds.csv") == "outputs/out/preds.csv"
    assert output_path("../../etc/passwd") == "outputs/etc/passwd"
    assert output_path("/abs/x.bin") == "outputs/abs/x.bin"
    assert relative_path("a\\b.txt") == "a/b.txt"
    assert artifact_path("figure 1.png").startswith("artifacts/figure_1.png-")


def test_model_parts_skip_models_not_kept_and_name_their_files():
    models = {
        "clf": {"blob": D1, "format": "skops", "framework": "sklearn", "size": 10},
        "big": {"skipped": "over the 500 MB limit", "size": 600_000_000},
        "net": {"blob": D2, "format": "torch-state-dict", "framework": "torch", "size": 5},
        "odd": {"blob": D3, "format": "pickle", "framework": None, "size": 7},
        "broken": "not a record",
    }
    parts = {p.name: p for p in model_parts(models)}
    assert sorted(parts) == ["clf", "net", "odd"]
    assert parts["clf"].flavor == "sklearn" and parts["clf"].file == "models/clf/model.skops"
    assert parts["net"].flavor is None and parts["net"].file == "models/net/net.pt"
    assert parts["odd"].flavor is None and parts["odd"].file == "models/odd/odd.pkl"
    assert parts["clf"].manifest() == {"file": "models/clf/model.skops", "flavor": "sklearn", "mlflow": "models/clf"}
    assert parts["net"].manifest()["mlflow"] is None
    assert parts["clf"].key == "m:models/clf" and parts["clf"].content == [D1, "sklearn"]
    assert contents_size({"models": models}) == 22  # the skipped model is not sent


def test_a_flavor_is_used_only_when_its_package_is_importable():
    record = {"framework": "xgboost", "format": "xgboost-ubj"}
    expected = "xgboost" if importlib.util.find_spec("xgboost") else None
    assert flavor_for(record) == expected
    assert flavor_for({"framework": "keras", "format": "keras"}) is None
    assert flavor_for({"framework": "sklearn", "format": "pickle"}) == "sklearn"


def test_files_are_the_artifacts_and_the_kept_outputs_only():
    doc = {
        "artifacts": {"figure-1.png": {"blob": D1, "size": 3, "kind": "figure"}, "lost": {"blob": None}},
        "outputs": {"out/a.csv": {"hash": "h", "size": 4, "kept": D2}, "out/b.bin": {"hash": "h", "size": 9}},
    }
    assert file_parts(doc) == {"artifacts/figure-1.png": D1, "outputs/out/a.csv": D2}
    assert contents_size(doc) == 7


@pytest.mark.parametrize("doc", [{}, {"artifacts": None, "outputs": None, "models": None}])
def test_records_of_older_releases_have_no_contents(doc):
    assert file_parts(doc) == {} and model_parts(doc.get("models")) == [] and contents_size(doc) == 0
