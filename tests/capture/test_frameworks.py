"""Models are found by duck typing, on real scikit-learn objects, without importing other frameworks."""

import subprocess
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nbtrack.capture import frameworks
from nbtrack.capture.params import parse


def test_sklearn_estimators_and_pipelines_are_sklearn_models():
    assert frameworks.framework_of(LogisticRegression()) == "sklearn"
    assert frameworks.framework_of(make_pipeline(StandardScaler(), LogisticRegression())) == "sklearn"
    assert frameworks.framework_of(LogisticRegression) is None  # a class is not a model
    assert frameworks.framework_of(np.zeros(3)) is None
    assert frameworks.framework_of({"C": 1}) is None


def test_an_estimator_api_from_another_package_counts_as_sklearn():
    class Custom:
        def get_params(self, deep=True):
            return {}

        def fit(self, X, y=None):
            return self

    assert frameworks.framework_of(Custom()) == "sklearn"


def test_fitted_means_learned_attributes():
    clf = LogisticRegression()
    assert not frameworks.is_fitted(clf)
    clf.fit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1]))
    assert frameworks.is_fitted(clf)


def test_models_in_cell_are_assigned_or_fitted_names():
    code = "clf = LogisticRegression(C=0.5)\nclf.fit(X, y)\nother.fit(X, y)\nn = 3\n"
    clf, other = LogisticRegression(), LogisticRegression()
    found = frameworks.models_in_cell(parse(code), {"clf": clf, "other": other, "n": 3, "X": None})
    assert found == {"clf": clf, "other": other}
    alias = frameworks.models_in_cell(parse("a = clf\nb = clf\n"), {"a": clf, "b": clf})
    assert list(alias) == ["a"]  # one object is one model, however many names it has


def test_looking_at_objects_imports_no_framework():
    code = (
        "import sys\nfrom nbtrack.capture import frameworks\n"
        "frameworks.framework_of(object()); frameworks.framework_version('torch')\n"
        "print(sorted(m for m in ('sklearn', 'torch', 'xgboost', 'lightgbm', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
