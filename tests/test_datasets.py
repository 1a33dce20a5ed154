"""Data fingerprints as MLflow dataset inputs and back."""

from __future__ import annotations

import json
from types import SimpleNamespace

from nbtrack.remote.datasets import MAX_DATASET_DIGEST, data_from_dataset, data_tag_text, dataset_record


def test_a_dataframe_fingerprint_round_trips():
    record = {
        "kind": "dataframe",
        "hash": "ab" * 40,
        "algorithm": "nbtrack-frame-1",
        "shape": [10, 2],
        "columns": [{"name": "x", "dtype": "int64"}, {"name": "when", "dtype": "datetime64[ns]"}],
        "profile": {"x": {"mean": 4.5}},
    }
    fields = dataset_record("train", record)
    assert fields["name"] == "train" and len(fields["digest"]) == MAX_DATASET_DIGEST
    assert json.loads(fields["schema"])["mlflow_colspec"] == [
        {"type": "long", "name": "x", "required": True},
        {"type": "datetime", "name": "when", "required": True},
    ]
    assert json.loads(fields["profile"])["num_rows"] == 10
    back = data_from_dataset(SimpleNamespace(**fields))
    assert back["kind"] == "dataframe" and back["algorithm"] == "nbtrack-frame-1"
    assert back["hash"] == fields["digest"] and back["profile"] == {"x": {"mean": 4.5}}


def test_a_file_fingerprint_points_at_its_path():
    fields = dataset_record("data.csv", {"kind": "file", "hash": "cd" * 10, "path": "data/data.csv", "size": 12})
    assert fields["source_type"] == "local" and json.loads(fields["source"]) == {"uri": "data/data.csv"}
    assert json.loads(fields["profile"])["size"] == 12 and fields["schema"] is None
    assert data_tag_text({"kind": "ndarray", "shape": [3, 4], "hash": "ff"}) == "ndarray 3x4 ff"
