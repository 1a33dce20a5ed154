"""Data checks: schema errors, drift warnings at their thresholds, distances against scipy, expectations,
and the example notebook in a real kernel."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

import nbtrack
from nbtrack.data import fingerprint as fpmod
from nbtrack.data.findings import DataCheckReport

stats = pytest.importorskip("scipy.stats")
distance = pytest.importorskip("scipy.spatial.distance")

NOTEBOOK = Path(__file__).resolve().parents[1] / "example_notebooks" / "data_checks.ipynb"


@pytest.fixture(autouse=True)
def _fresh_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_CACHE_DIR", str(tmp_path / "cache"))
    fpmod._profile_cache.clear()


def found(report: DataCheckReport, statistic: str, column: str | None = None):
    return [f for f in report.findings if f.statistic == statistic and (column is None or f.column == column)]


def normal(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


# errors -------------------------------------------------------------------------------------------


def test_schema_changes_are_errors():
    ref = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.1, 0.2, 0.3]})
    cur = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"], "d": [1, 1, 1]})
    report = nbtrack.check_data(cur, ref)
    assert {(f.statistic, f.column) for f in report.errors} == {
        ("column_removed", "c"),
        ("column_added", "d"),
        ("type_changed", "a"),
    }
    changed = found(report, "type_changed", "a")[0]
    assert changed.value == "int64 -> float64" and changed.threshold is None and "int64" in changed.message
    assert not report.ok


def test_file_format_change_is_an_error(tmp_path):
    pytest.importorskip("pyarrow.parquet")
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    df.to_csv(tmp_path / "data.csv", index=False)
    df.to_parquet(tmp_path / "data.parquet")
    report = nbtrack.check_data(tmp_path / "data.parquet", tmp_path / "data.csv")
    assert [(f.statistic, f.value) for f in report.errors] == [("format_changed", "csv -> parquet")]
    df.assign(c=1).to_csv(tmp_path / "wider.csv", index=False)
    report = nbtrack.check_data(tmp_path / "wider.csv", tmp_path / "data.csv")
    assert [(f.statistic, f.column) for f in report.errors] == [("column_added", "c")]


# warnings at their thresholds ----------------------------------------------------------------------


def test_null_share_threshold():
    ref = pd.DataFrame({"x": normal(1000)})
    for missing, fires in ((51, True), (49, False)):
        cur = ref.copy()
        cur.loc[: missing - 1, "x"] = np.nan
        report = nbtrack.check_data(cur, ref)
        hits = found(report, "null_share", "x")
        assert bool(hits) is fires
        if fires:
            assert hits[0].value == pytest.approx(0.051) and hits[0].threshold == 0.05


def test_mean_shift_threshold():
    ref = pd.DataFrame({"x": np.tile([-1.0, 1.0], 1000)})
    std = ref["x"].std()
    for shift, fires in ((0.51, True), (0.49, False)):
        report = nbtrack.check_data(ref + shift * std, ref)
        hits = found(report, "mean_shift", "x")
        assert bool(hits) is fires
        if fires:
            assert hits[0].value == pytest.approx(0.51) and hits[0].threshold == 0.5
    assert found(nbtrack.check_data(ref + 0.49 * std, ref, mean_shift=0.4), "mean_shift")  # a parameter


def test_std_ratio_thresholds():
    ref = pd.DataFrame({"x": normal(2000)})
    for factor, fires, bound in ((2.05, True, 2.0), (1.95, False, None), (0.49, True, 0.5), (0.51, False, None)):
        hits = found(nbtrack.check_data(ref * factor, ref), "std_ratio", "x")
        assert bool(hits) is fires, factor
        if fires:
            assert hits[0].value == pytest.approx(factor) and hits[0].threshold == bound


def test_normalized_wasserstein_threshold_from_profiles():
    ref = pd.DataFrame({"x": normal(5000)})
    std = ref["x"].std()
    for shift, fires in ((0.105, True), (0.095, False)):
        report = nbtrack.check_data(ref + shift * std, ref)
        hits = found(report, "wasserstein_norm", "x")
        assert bool(hits) is fires
        if fires:
            assert hits[0].value == pytest.approx(0.105, rel=1e-4) and hits[0].threshold == 0.1
        assert not found(report, "mean_shift") and not found(report, "ks_p_value")


def test_jensen_shannon_threshold_from_profiles():
    ref = pd.DataFrame({"g": ["a"] * 1000 + ["b"] * 1000})
    for count, fires in ((1284, True), (1276, False)):
        cur = pd.DataFrame({"g": ["a"] * count + ["b"] * (2000 - count)})
        hits = found(nbtrack.check_data(cur, ref), "jensen_shannon", "g")
        assert bool(hits) is fires
        if fires:
            assert hits[0].value == pytest.approx(distance.jensenshannon([1000, 1000], [count, 2000 - count]))


def test_small_samples_are_tested_with_scipy():
    ref = pd.DataFrame({"x": normal(200, 1), "g": ["a"] * 100 + ["b"] * 100})
    cur = pd.DataFrame({"x": normal(200, 2) + 0.5, "g": ["a"] * 130 + ["b"] * 70})
    report = nbtrack.check_data(cur, ref)
    ks = found(report, "ks_p_value", "x")[0]
    assert ks.value == pytest.approx(stats.ks_2samp(ref["x"], cur["x"]).pvalue) and ks.threshold == 0.05
    chi2 = found(report, "chi2_p_value", "g")[0]
    assert chi2.value == pytest.approx(stats.chi2_contingency([[100, 100], [130, 70]]).pvalue)
    assert not found(report, "wasserstein_norm") and not found(report, "jensen_shannon")
    assert found(report, "dataset_drift")
    same = nbtrack.check_data(ref.iloc[::-1].reset_index(drop=True), ref)  # other order, same values
    assert same.ok and same.compared == ["x", "g"]


def test_dataset_drift_when_half_the_columns_drift():
    ref = pd.DataFrame({f"c{i}": normal(2000, i) for i in range(4)})
    two = ref.assign(c0=ref["c0"] + 0.3, c1=ref["c1"] + 0.3)
    report = nbtrack.check_data(two, ref)
    assert sorted(report.drifted) == ["c0", "c1"] and report.dataset_drift
    hit = found(report, "dataset_drift")[0]
    assert hit.column is None and hit.value == 0.5 and hit.threshold == 0.5
    one = nbtrack.check_data(ref.assign(c0=ref["c0"] + 0.3), ref)
    assert one.drifted == ["c0"] and not one.dataset_drift


def test_identical_data_is_silent():
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"x": rng.normal(size=3000), "k": rng.integers(0, 5, 3000), "g": rng.choice(list("abc"), 3000)})
    assert nbtrack.check_data(ref.copy(), ref).ok
    shuffled = ref.sample(frac=1, random_state=1).reset_index(drop=True)
    report = nbtrack.check_data(shuffled, ref)
    assert report.ok and sorted(report.compared) == ["g", "k", "x"]
    small = ref.head(500)
    assert nbtrack.check_data(small.iloc[::-1].reset_index(drop=True), small).ok


def test_profile_only_comparison_and_records():
    ref = pd.DataFrame({"x": normal(3000)})
    cur = ref + 1.0
    with_profiles = nbtrack.check_data(
        nbtrack.fingerprint(cur, profile=True), nbtrack.fingerprint(ref, profile=True).to_dict()
    )
    assert found(with_profiles, "mean_shift", "x") and found(with_profiles, "wasserstein_norm", "x")
    bare = nbtrack.check_data(nbtrack.fingerprint(cur), nbtrack.fingerprint(ref))
    assert bare.ok and any("no profile" in note for note in bare.notes)


# the example notebook, in a real kernel ---------------------------------------------------------------


@pytest.mark.kernel
def test_data_checks_notebook(tmp_path):
    pytest.importorskip("ipykernel")
    from kernel_helpers import new_session, outputs, summary_text

    shutil.copyfile(NOTEBOOK, tmp_path / "data_checks.ipynb")
    cells = nbformat.read(tmp_path / "data_checks.ipynb", as_version=4).cells
    session = new_session(tmp_path, cells, name="data_checks.ipynb")
    try:
        nb = session.execute_all()
        first, second = session.run_named("credit_model")
        assert first.status == second.status == "finished" and second.parent == first.id
        assert second.doc["data_change"]["changed"] == ["train_df"]
        note = second.doc["data_notes"]["train_df"]
        assert "-n_loans" in note and "debt_ratio mean +0.8 sd" in note
        summaries = [summary_text(c) for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%track")]
        assert "data: first run of this cell" in summaries[0]
        assert "data changed train_df (-n_loans, debt_ratio mean +0.8 sd" in summaries[1]
        html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", []))
        assert "nbtrack-datacheck" in html and "column_removed" in html and "mean_shift" in html
        report_cell = next(c for c in nb.cells if "check_data(" in c.source)
        text = "".join(o.get("data", {}).get("text/plain", "") for o in report_cell.outputs)
        assert "column 'n_loans' (int64) is missing" in text
        assert "column 'debt_ratio': mean" in text and "Wasserstein" in text
        for quiet in ("'age'", "'income'", "'region'"):
            assert f"column {quiet}" not in text
        errors = [o for c in nb.cells for o in outputs(c, "error")]
        assert [e.ename for e in errors] == ["DataExpectationError"]
        assert "column 'n_loans' is missing (expected int64)" in "\n".join(errors[0].traceback)
    finally:
        session.close()
