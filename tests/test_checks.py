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
from nbtrack.data.checks import (
    DataCheckReport,
    category_distributions,
    jensen_shannon,
    wasserstein_distance,
    wasserstein_from_quantiles,
)

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


# distances against scipy -----------------------------------------------------------------------------


def test_wasserstein_matches_scipy():
    rng = np.random.default_rng(11)
    cases = [
        (rng.normal(size=50), rng.normal(0.3, 2, size=80)),
        (rng.integers(0, 5, 40), rng.integers(1, 7, 33)),
        (np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 2.0])),
        (rng.exponential(size=200), rng.exponential(size=200)),
    ]
    for u, v in cases:
        assert wasserstein_distance(u, v) == pytest.approx(stats.wasserstein_distance(u, v), rel=1e-12, abs=1e-15)
    assert wasserstein_distance([1.0, 2.0], [1.0, 2.0]) == 0.0


def test_wasserstein_from_stored_quantiles_approximates_scipy():
    rng = np.random.default_rng(12)
    pairs = [
        (rng.normal(size=20_000), rng.normal(0.3, 1.0, size=20_000)),
        (rng.normal(size=20_000), rng.normal(0.0, 1.5, size=20_000)),
        (rng.exponential(size=20_000), rng.lognormal(0, 0.5, size=20_000)),
    ]
    for u, v in pairs:
        qu = nbtrack.fingerprint(u, profile=True).profile["columns"][0]["q"]
        qv = nbtrack.fingerprint(v, profile=True).profile["columns"][0]["q"]
        assert wasserstein_from_quantiles(qu, qv) == pytest.approx(stats.wasserstein_distance(u, v), rel=0.03)
    q = np.quantile(rng.normal(size=1000), np.linspace(0, 1, 101))
    assert wasserstein_from_quantiles(q, q + 0.25) == pytest.approx(0.25)
    assert wasserstein_from_quantiles(q, q) == 0.0
    assert wasserstein_from_quantiles(q, q[::5]) == pytest.approx(0.0, abs=1e-12)  # 101 vs 21 points


def test_jensen_shannon_matches_scipy():
    rng = np.random.default_rng(13)
    for _ in range(5):
        p, q = rng.random(6), rng.random(6)
        p[2] = 0.0
        assert jensen_shannon(p, q) == pytest.approx(distance.jensenshannon(p, q), rel=1e-12)
        assert jensen_shannon(p, q, base=2) == pytest.approx(distance.jensenshannon(p, q, base=2), rel=1e-12)
    assert jensen_shannon([1, 0], [0, 1], base=2) == pytest.approx(1.0)


def test_category_distributions_from_top_values():
    complete = {"top": [["a", 60], ["b", 40]], "_nonnull": 100}
    other_complete = {"top": [["a", 50], ["c", 50]], "_nonnull": 100}
    keys, p, q = category_distributions(complete, other_complete)
    assert keys == ["a", "b", "c"] and p.tolist() == [60, 40, 0] and q.tolist() == [50, 0, 50]
    partial = {"top": [["a", 50], ["b", 30]], "_nonnull": 100}  # 20 rows in values not listed
    keys, p, q = category_distributions(partial, {"top": [["a", 50], ["d", 25]], "_nonnull": 100})
    assert keys == ["a", "\x00other"] and p.tolist() == [50, 50] and q.tolist() == [50, 50]


# the report -------------------------------------------------------------------------------------------


def test_report_frame_text_and_escaped_html():
    ref = pd.DataFrame({"<b>x</b>": normal(2000), "gone": 1})
    cur = pd.DataFrame({"<b>x</b>": normal(2000) + 2})
    report = nbtrack.check_data(cur, ref)
    frame = report.frame
    assert list(frame.columns) == ["severity", "column", "statistic", "value", "threshold"]
    assert set(frame["severity"]) == {"error", "warning"} and len(frame) == len(report.findings)
    assert frame.loc[frame["statistic"] == "mean_shift", "threshold"].item() == 0.5
    text = str(report)
    assert "1 error" in text and "column 'gone' (int64) is missing" in text and "mean_shift" not in text
    html = report._repr_html_()
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html


def test_run_references(store_dir):
    ref = pd.DataFrame({"x": normal(3000), "k": 1})
    with nbtrack.track(name="base", environment=False) as run:
        nbtrack.log_data("train", ref)
    with nbtrack.track(name="two", environment=False) as two:
        nbtrack.log_data("a", ref)
        nbtrack.log_data("b", ref)
    cur = ref.assign(x=ref["x"] + 1).drop(columns="k")
    for target in (f"{run.id}:train", run.id, f"{run.id[:10]}:train"):
        report = nbtrack.check_data(cur, target)
        assert found(report, "column_removed", "k") and found(report, "mean_shift", "x")
        assert report.reference == target
    assert nbtrack.check_data(f"{two.id}:a", f"{run.id}:train").ok
    with pytest.raises(KeyError, match="has no data input 'nope'; it has: train"):
        nbtrack.check_data(cur, f"{run.id}:nope")
    with pytest.raises(KeyError, match="2 data inputs"):
        nbtrack.check_data(cur, two.id)


def test_change_notes_for_the_summary_line(tmp_path):
    from nbtrack.data.checks import change_notes, describe_change

    ref = pd.DataFrame({"x": normal(1000), "y": normal(1000, 1), "k": np.arange(1000)})
    fp = nbtrack.fingerprint
    before = fp(ref, profile=True).to_dict()
    assert describe_change(fp(ref.assign(x=ref["x"] - 1.3), profile=True).to_dict(), before) == "x mean -1.3 sd"
    assert describe_change(fp(ref.drop(columns="k").assign(z=1.0), profile=True).to_dict(), before).startswith("-k, +z")
    assert describe_change(fp(ref.astype({"k": float}), profile=True).to_dict(), before) == "k int64 -> float64"
    assert describe_change(fp(ref.head(900), profile=True).to_dict(), before).startswith("rows 1000 -> 900")
    nulls = ref.copy()
    nulls.loc[:99, "y"] = np.nan
    assert "y nulls +10%" in describe_change(fp(nulls, profile=True).to_dict(), before)
    swapped = ref.copy()
    swapped.loc[[0, 1], "k"] = [1, 0]
    assert describe_change(fp(swapped, profile=True).to_dict(), before) == "values of k"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.csv").write_text("a\n1\n")
    (tmp_path / "d" / "b.csv").write_text("a\n2\n")
    old_dir, old_file = fp(tmp_path / "d").to_dict(), fp(tmp_path / "d" / "a.csv").to_dict()
    (tmp_path / "d" / "a.csv").write_text("a\n10\n")
    (tmp_path / "d" / "b.csv").unlink()
    (tmp_path / "d" / "c.csv").write_text("a\n3\n")
    assert describe_change(fp(tmp_path / "d").to_dict(), old_dir) == "+c.csv, -b.csv, ~a.csv"
    assert describe_change(fp(tmp_path / "d" / "a.csv").to_dict(), old_file) == "size 4 B -> 5 B"
    notes = change_notes(
        {"t": fp(ref.assign(x=ref["x"] + 1), profile=True).to_dict(), "same": before}, {"t": before, "same": before}
    )
    assert notes == {"t": "x mean +1.0 sd"}
    assert describe_change({"algorithm": "old", "hash": "1"}, before) == "fingerprint scheme changed"


# expectations -----------------------------------------------------------------------------------------


def test_expect_passes_and_returns_the_data():
    df = pd.DataFrame({"age": [30, 40], "score": [0.5, 0.7], "city": ["a", "b"], "ok": [True, False]})
    schema = {
        "age": {"type": "int", "min": 0, "max": 120, "nullable": False},
        "score": float,
        "city": str,
        "ok": "bool",
    }
    assert nbtrack.expect(df, schema) is df
    assert nbtrack.expect(df, {"age": "int64", "score": np.float64, "city": "string"}) is df
    assert nbtrack.expect(df, ["age", "city"]) is df
    assert nbtrack.expect(df, {"age": "number", "score": "number"}, allow_extra_columns=True) is df


def test_expect_lists_every_problem():
    df = pd.DataFrame({"age": [30.0, None, 150.0], "city": ["a", "b", "zz"], "extra": 1})
    schema = {
        "age": {"type": "number", "nullable": False, "max": 120},
        "city": {"type": str, "values": ["a", "b"]},
        "income": float,
        "score": "int",
    }
    with pytest.raises(nbtrack.DataExpectationError) as info:
        nbtrack.expect(df.assign(score=[0.5, 0.6, 0.7]), schema, name="train_df", allow_extra_columns=False)
    message = str(info.value)
    assert message.startswith("train_df does not meet its expectation (6 problems):")
    for part in (
        "column 'age' has 1 missing value, expected none",
        "column 'age' has 1 value above 120",
        "column 'city' has 1 value outside the allowed ones: 'zz'",
        "column 'income' is missing (expected float)",
        "column 'score' has type float64, expected int",
        "unexpected column: 'extra'",
    ):
        assert part in message
    assert len(info.value.problems) == 6


def test_expect_schema_from_a_reference_run(store_dir):
    ref = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    with nbtrack.track(environment=False) as run:
        nbtrack.log_data("train", ref)
    assert nbtrack.expect(ref.assign(c=1), reference=f"{run.id}:train") is not None
    with pytest.raises(nbtrack.DataExpectationError, match=r"column 'a' has type float64, expected int64"):
        nbtrack.expect(ref.astype({"a": float}), reference=f"{run.id}:train")
    with pytest.raises(nbtrack.DataExpectationError, match=r"column 'b' is missing \(expected string\)"):
        nbtrack.expect(ref.drop(columns="b"), reference=nbtrack.fingerprint(ref))


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
