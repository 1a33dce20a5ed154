"""nbtrack.capture.models: log_model, the models %%track captures by itself, dedup by content, the size limit.

In-process %%track runs use IPython's test shell (the ``ip`` fixture); one test runs the issue's cell in a real
kernel (nbclient) and loads the model back in this process.
"""

from __future__ import annotations

import os
import textwrap
import threading

import numpy as np
import pytest
from kernel_helpers import code, new_session, summary_text
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import nbtrack
from nbtrack import NbtrackWarning
from nbtrack.capture import models as models_mod
from nbtrack.capture.summary import RunSummary

NO_DATA = {"state": "none", "changed": [], "added": [], "removed": []}


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=200, n_features=5, random_state=0)


@pytest.fixture(autouse=True)
def fresh_process_memory(monkeypatch):
    """Each test starts as a new process would: no remembered model hashes, no env overrides."""
    monkeypatch.setattr(models_mod, "_stored", {})
    monkeypatch.delenv("NBTRACK_MODELS", raising=False)
    monkeypatch.delenv("NBTRACK_MODEL_MAX_BYTES", raising=False)


def blob_files(store_dir):
    objects = store_dir / "objects"
    return {p: p.stat().st_mtime_ns for p in objects.rglob("*") if p.is_file() and p.name != "gc-stamp"}


def forest(data, seed=0):
    X, y = data
    return RandomForestClassifier(n_estimators=20, random_state=seed).fit(X, y)


# log_model ---------------------------------------------------------------------------------------


def test_log_model_names_the_model_after_the_variable_and_records_it(store_dir, data):
    X, y = data
    clf = LogisticRegression(C=0.5).fit(X, y)
    with nbtrack.track(environment=False) as run:
        record = nbtrack.log_model(clf)
        nbtrack.log_model(clf, name="again")
        nbtrack.log_metric("acc", clf.score(X, y))
    stored = nbtrack.get_run(run.id)
    assert set(stored.models) == {"clf", "again"}
    model = stored.models["clf"]
    assert model == record
    assert model["format"] == "skops" and model["pickle"] is False and model["auto"] is False
    assert model["class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert model["framework"] == "sklearn" and model["framework_version"] == __import__("sklearn").__version__
    assert model["size"] == (store_dir / "objects" / model["blob"][:2] / model["blob"][2:]).stat().st_size
    assert stored.models["again"]["blob"] == model["blob"]  # one model, one file
    assert np.array_equal(nbtrack.load_model(run.id, "clf").predict_proba(X), clf.predict_proba(X))


def test_log_model_without_a_variable_uses_the_class_name_and_needs_a_run(store_dir, data):
    X, y = data
    with nbtrack.track(environment=False) as run:
        run.log_model(LogisticRegression().fit(X, y))
    assert list(nbtrack.get_run(run.id).models) == ["LogisticRegression"]
    with pytest.raises(nbtrack.NoActiveRunError, match="log_model"):
        nbtrack.log_model(object())


def test_any_object_is_accepted_and_an_unpicklable_one_is_one_warning(store_dir):
    table = {"weights": [1.0, 2.0]}
    with nbtrack.track(environment=False) as run:
        assert nbtrack.log_model(table)["format"] == "pickle"
        lock = threading.Lock()
        with pytest.warns(NbtrackWarning, match=r"model 'lock' of run .* not saved: it cannot be pickled"):
            assert nbtrack.log_model(lock) is None
    assert list(nbtrack.get_run(run.id).models) == ["table"]


def test_an_unchanged_model_across_reruns_is_one_file_written_once(store_dir, data):
    with nbtrack.track(environment=False) as first:
        nbtrack.log_model(forest(data), "rf")
    before = blob_files(store_dir)
    models_mod._stored.clear()  # as a new kernel would: found again through the store's records
    with nbtrack.track(environment=False) as second:
        nbtrack.log_model(forest(data), "rf")  # refitted: another object, the same model
    after = blob_files(store_dir)
    a, b = nbtrack.get_run(first.id).models["rf"], nbtrack.get_run(second.id).models["rf"]
    assert a["hash"] == b["hash"] and a["blob"] == b["blob"]
    model_files = [p for p in after if p.name == a["blob"][2:]]
    assert len(model_files) == 1
    assert before[model_files[0]] == after[model_files[0]]  # not rewritten
    assert set(after) - set(before) == {p for p in after if p not in before and p.name != a["blob"][2:]}
    with nbtrack.track(environment=False) as third:
        nbtrack.log_model(forest(data, seed=1), "rf")  # another model: another file
    assert nbtrack.get_run(third.id).models["rf"]["hash"] != a["hash"]


def test_a_model_whose_file_was_collected_is_written_again(store_dir, data):
    from nbtrack.store.gc import collect

    with nbtrack.track(environment=False) as run:
        record = nbtrack.log_model(forest(data), "rf")
    path = store_dir / "objects" / record["blob"][:2] / record["blob"][2:]
    collect(nbtrack.get_store(), purge=[run.id], grace=0)
    assert not path.exists()
    with nbtrack.track(environment=False):
        again = nbtrack.log_model(forest(data), "rf")
    assert again["hash"] == record["hash"]  # the same model, saved anew: its record points at a file that exists
    assert (store_dir / "objects" / again["blob"][:2] / again["blob"][2:]).is_file()


def test_the_size_estimate_stops_at_the_limit():
    big = np.zeros(10_000_000)  # 80 MB, hashed in place
    digest, size = models_mod.content_hash(big)
    assert digest is not None and size > 80_000_000
    with pytest.raises(nbtrack.errors.ModelTooLargeError) as caught:
        models_mod.content_hash(big, limit=1000)
    assert caught.value.size > 1000


def test_summary_counts_models_and_names_the_skipped_ones():
    doc = {"id": "01hxyz", "status": "finished", "name": "fit", "duration": 1.0, "params": {}, "metrics": {}}
    assert "model" not in repr(RunSummary(doc, NO_DATA))
    two = {**doc, "models": {"a": {"blob": "x"}, "b": {"blob": "y"}}}
    assert repr(RunSummary(two, NO_DATA)).endswith("no data inputs · 2 models")
    skipped = {**doc, "models": {"a": {"blob": "x"}, "big": {"skipped": "larger than ...", "size": 9}}}
    assert "1 model (big not captured: larger than NBTRACK_MODEL_MAX_BYTES)" in repr(RunSummary(skipped, NO_DATA))


# %%track in IPython's test shell -----------------------------------------------------------------


def cell(ip, source):
    return ip.run_cell(textwrap.dedent(source), store_history=True)


def last_run():
    return nbtrack.get_run(nbtrack.runs().run_id.iloc[0])


@pytest.fixture
def shell(ip, data):
    X, y = data
    ip.user_ns.update(X=X, y=y)
    cell(ip, "from sklearn.linear_model import LogisticRegression\nfrom sklearn.pipeline import make_pipeline\n")
    cell(ip, "from sklearn.preprocessing import StandardScaler\nimport nbtrack\n")
    return ip


def test_track_captures_fitted_models_of_the_cell(shell, capsys, data):
    X, _ = data
    result = cell(
        shell,
        """\
        %%track --name fit
        clf = LogisticRegression(C=0.5, max_iter=200)
        clf.fit(X, y)
        pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
        unfitted = LogisticRegression()
        nbtrack.log_metric("acc", clf.score(X, y))
        """,
    )
    assert result.success
    run = last_run()
    assert set(run.models) == {"clf", "pipe"}  # unfitted is not a trained model
    assert all(record["auto"] for record in run.models.values())
    assert run.models["pipe"]["class"] == "sklearn.pipeline.Pipeline"
    assert np.array_equal(nbtrack.load_model(run.id, "clf").predict(X), shell.user_ns["clf"].predict(X))
    assert "2 models" in capsys.readouterr().out
    (info,) = [m for m in nbtrack.models(run.id) if m.name == "clf"]
    assert info.metrics == {"acc": shell.user_ns["clf"].score(*data)} and info.framework == "sklearn"


def test_a_model_the_cell_logged_itself_is_not_saved_twice(shell):
    cell(shell, "%%track\nclf = LogisticRegression().fit(X, y)\nnbtrack.log_model(clf, 'best')\n")
    models = last_run().models
    assert list(models) == ["best"] and models["best"]["auto"] is False


def test_no_models_per_cell_and_everywhere(shell, monkeypatch):
    cell(shell, "%%track --no-models\nclf = LogisticRegression().fit(X, y)\n")
    assert last_run().models == {}
    monkeypatch.setenv("NBTRACK_MODELS", "off")
    cell(shell, "%%track\nclf = LogisticRegression().fit(X, y)\n")
    assert last_run().models == {}
    cell(shell, "%%track\nclf = LogisticRegression().fit(X, y)\nnbtrack.log_model(clf)\n")
    assert list(last_run().models) == ["clf"]  # asking still works


def test_a_cell_that_raises_keeps_the_model_it_fitted(shell):
    result = cell(shell, "%%track\nclf = LogisticRegression().fit(X, y)\nraise ValueError('after the fit')\n")
    assert not result.success
    run = last_run()
    assert run.status == "failed" and list(run.models) == ["clf"]


def test_models_over_the_limit_are_not_captured_and_the_summary_says_so(shell, monkeypatch, capsys, store_dir):
    monkeypatch.setenv("NBTRACK_MODEL_MAX_BYTES", "2000")
    before = blob_files(store_dir)
    cell(shell, "%%track\nbig = LogisticRegression().fit(X, y)\n")
    record = last_run().models["big"]
    assert record["skipped"].startswith("larger than the 2,000-byte limit") and record["size"] > 2000
    assert "blob" not in record and record["class"].endswith("LogisticRegression") and record["auto"]
    assert "0 models (big not captured: larger than NBTRACK_MODEL_MAX_BYTES)" in capsys.readouterr().out
    with pytest.raises(nbtrack.errors.ModelNotFoundError, match="was not saved: larger than"):
        nbtrack.load_model(last_run().id)
    assert not any(p.read_bytes().startswith(b"PK") for p in set(blob_files(store_dir)) - set(before))  # no skops
    cell(shell, "%%track\nbig = LogisticRegression().fit(X, y)\nnbtrack.log_model(big)\n")
    assert "blob" in last_run().models["big"]  # the limit is for the automatic capture only


# a real kernel ------------------------------------------------------------------------------------


@pytest.mark.kernel
def test_issue_cell_in_a_kernel_captures_clf_and_load_model_predicts_the_same(tmp_path):
    cells = [
        code(
            "%load_ext nbtrack\nimport nbtrack, numpy as np\nfrom sklearn.datasets import make_classification\n"
            "X, y = make_classification(n_samples=200, n_features=5, random_state=0)"
        ),
        code(
            "%%track --name inline\nfrom sklearn.linear_model import LogisticRegression\n"
            "clf = LogisticRegression(C=0.5, max_iter=200)\nclf.fit(X, y)\nacc = clf.score(X, y)\n"
            "nbtrack.log_metric('acc', acc)"
        ),
        code("np.save('proba.npy', clf.predict_proba(X)); np.save('X.npy', X)"),
        code("%%track --name off --no-models\nother = LogisticRegression().fit(X, y)"),
    ]
    session = new_session(tmp_path, cells)
    try:
        nb = session.execute_all()
        assert "1 model" in summary_text(nb.cells[1])
        (inline,) = session.run_named("inline")
        (off,) = session.run_named("off")
        assert list(inline.models) == ["clf"] and inline.models["clf"]["auto"] is True and off.models == {}
        model = nbtrack.load_model(inline.id, store=session.store_dir)
        assert type(model) is LogisticRegression
        X = np.load(tmp_path / "X.npy")
        assert np.array_equal(model.predict_proba(X), np.load(tmp_path / "proba.npy"))
        assert os.stat(session.store_dir).st_uid == os.getuid()
    finally:
        session.close()
