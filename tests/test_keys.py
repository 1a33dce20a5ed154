"""nbtrack.analysis.keys: typed param values as group keys and labels."""

from __future__ import annotations

import math

from nbtrack.analysis.keys import MISSING, format_value, group_label, param_value, parse_value, value_identity


def test_labels_tell_types_apart():
    assert group_label(["depth"], (3,)) == "depth=3" and group_label(["depth"], ("3",)) == "depth='3'"
    assert format_value(3.0) == "3.0" and format_value("adam") == "adam" and format_value(None) == "None"
    assert format_value(MISSING) == "<missing>" and format_value("None") == "'None'" and format_value("") == "''"
    assert value_identity(3) == value_identity(3.0) and value_identity(True) != value_identity(1)
    assert value_identity("3") != value_identity(3) and value_identity(None) != value_identity(MISSING)
    assert param_value(math.nan) is MISSING and param_value(None) is None


def test_labels_parse_back():
    for value in (3, 0.1, "3", "adam", None, MISSING, True):
        assert value_identity(parse_value(format_value(value))) == value_identity(value)


def test_default_group_key_leaves_out_framework_defaults_and_repeats_of_inline_params():
    from nbtrack.analysis.keys import key_params, short_name

    assert short_name("clf.C") == "C" and short_name("pipe.logisticregression__C") == "C" and short_name("C") == "C"
    names = ["C", "LogisticRegression.C", "clf", "clf.C", "clf.tol", "small.max_depth", "config.lr", "batch"]
    run = {
        "C": "call",
        "LogisticRegression.C": "call",
        "clf": "framework",
        "clf.C": "framework",
        "clf.tol": "framework-default",
        "small.max_depth": "call",
        "config.lr": "config",
        "batch": "explicit",
    }
    assert key_params(names, [run, run]) == ["C", "clf", "small.max_depth", "config.lr", "batch"]
    tuned = {**run, "clf.tol": "framework"}  # one run changed it: the key keeps it
    assert "clf.tol" in key_params(names, [run, tuned])
    assert key_params(names, [None, {}]) == names  # runs recorded without sources keep every param


def test_runs_of_a_0_1_0_store_keep_every_param_in_the_group_key(tmp_path):
    import shutil
    from pathlib import Path

    from nbtrack.analysis.grouping import configure
    from nbtrack.analysis.loading import SOURCES_COLUMN, load_frame
    from nbtrack.store.local import Store

    shutil.copytree(Path(__file__).parent / "fixtures" / "store-0.1.0" / "store", tmp_path / "store")
    store = Store(tmp_path / "store")
    frame, _ = load_frame(list(store.run_docs()), store, None)
    assert all(sources == {} for sources in frame[SOURCES_COLUMN])  # 0.1.0 recorded no sources
    config = configure(frame, None, (), None, "the fixture", status=None)
    assert config.label_params == ["epochs", "flag", "layers", "lr", "obj", "opt", "pair", "when"]  # as in 0.1
