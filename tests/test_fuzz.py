"""Bad input, fuzzed: whatever values and names users pass, their code completes and nothing breaks.

About 10,000 generated inputs per run (see the max_examples below); size limits: values.MAX_VALUE_BYTES.
"""

import datetime as dt
import json
import math
import shlex
import warnings

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import nbtrack
from nbtrack import NbtrackWarning, redact, values
from nbtrack.capture.hyperparams import flatten
from nbtrack.capture.lifecycle import ActiveRun
from nbtrack.store.local import Store


def fuzz(examples):
    return settings(
        max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
    )


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) | st.sampled_from("a\\_"), max_size=8),
    st.binary(max_size=64),
    st.datetimes(),
    st.dates(),
    st.complex_numbers(allow_nan=False),
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
    st.floats(width=32).map(np.float32),
    st.booleans().map(np.bool_),
)
hashables = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=20),
    st.binary(max_size=8),
    st.sampled_from(["__nbtrack__", "__nbtrack__:x", "caf\udce9"]),
    st.frozensets(st.integers(), max_size=3),
    st.tuples(st.integers(), st.text(max_size=3)),
)
arrays = st.lists(st.floats(allow_nan=True), max_size=20).map(lambda v: np.array(v, dtype=float))
anything = st.recursive(
    st.one_of(scalars, arrays),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=10), inner, max_size=5),
        st.dictionaries(hashables, inner, max_size=5),
        st.frozensets(hashables, max_size=5),
    ),
    max_leaves=20,
)
tricky_names = ["../../x", "a/b", "..", "\x00", "<img src=x onerror=alert(1)>", "ünï😀", " ", ""]
names = st.one_of(st.text(max_size=300), st.sampled_from(tricky_names))


class BadRepr:
    def __repr__(self):
        raise RuntimeError("repr exploded")


def same(a, b):
    """Equality that treats NaN as equal to NaN and compares arrays by value, dtype and shape."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and all(same(x, y) for x, y in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True))
        )
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, complex) and isinstance(b, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, (list, tuple)) and type(a) is type(b):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return len(a) == len(b) and all(k in b and same(v, b[k]) for k, v in a.items())
    return type(a) is type(b) and a == b


def plain(value):
    """What a value should decode to: numpy scalars come back as the Python numbers they hold."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, frozenset):
        return frozenset(plain(v) for v in value)
    return value


@fuzz(5000)
@given(anything)
@example(float("-0.0"))
@example("x" * 10_000_000)
@example({"__nbtrack__": "float", "v": "nan"})
@example({frozenset({1}): "x", "caf\udce9": ["\udc80"]})
def test_values_are_stored_losslessly_or_reported(value):
    encoded, notes = values.encode(value)
    text = json.dumps(encoded, allow_nan=False)  # always strict JSON
    decoded = values.decode(json.loads(text))
    if notes:
        assert isinstance(decoded, (values.StoredRepr, str, dict, list, tuple))
        assert len(text) <= values.MAX_VALUE_BYTES + 10_000
    else:
        expected = plain(value)
        assert same(decoded, expected), (value, decoded)


@fuzz(4000)
@given(name=names, value=st.one_of(anything, st.just(BadRepr()), st.just(object())), metric=st.one_of(anything, names))
@example(name="api_key", value="hunter2", metric="password")  # a secret-looking name: redacted with the store's key
def test_logging_anything_never_raises_and_always_saves(tmp_path_factory, name, value, metric):
    store = Store(tmp_path_factory.mktemp("fuzz", numbered=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NbtrackWarning)
        run = ActiveRun(store, name=name, experiment=name, params={name: value}, tags={name: value})
        run.log_param(value if isinstance(value, str) else name, value)
        run.log_metric(name, metric)
        run.log_metric(name, metric, step=value if isinstance(value, int) else None)
        run.log_metrics({name: value, "ok": 1.0})
        run.set_tag(name, metric)
        run.start()
        run.finish()
    assert run.saved
    doc = Store(store.root).get_doc(run.id)
    json.dumps(doc, allow_nan=False)
    assert doc["status"] == "finished" and doc["metrics"]["ok"] == 1.0
    assert list(store.root.rglob("*"))  # and nothing was written outside it (names never become paths)
    allowed = {"runs.jsonl", "lock", "objects", redact.KEY_FILE}  # the key file: a secret-looking name was logged
    assert {p.name for p in store.root.iterdir()} <= allowed


literals = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=10,
)


def _verbatim_in_a_magic_line(name: str) -> bool:
    """IPython expands `{...}` and `$name` in a magic's line (test_magic.py checks it); other names arrive as typed."""
    return len(("x" + name + "x").splitlines()) == 1 and not set(name) & set("{}$")


@fuzz(1000)
@given(value=literals, label=names.filter(_verbatim_in_a_magic_line))
@example(value={"ApiKey": []}, label="")  # a secret-looking key inside a param is redacted, the rest kept
def test_tracked_cells_complete_with_any_literal_and_name(store_dir_for_fuzz, value, label):
    ip = store_dir_for_fuzz
    ip.user_ns.pop("x", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NbtrackWarning)
        result = ip.run_cell(f"%%track -q --name={shlex.quote(label)}\nx = {value!r}\ny = 1\n", store_history=True)
    assert result.success
    assert same(ip.user_ns["x"], value)
    run = nbtrack.get_run(max(nbtrack.get_store().run_docs()))  # ids sort by time: the newest run
    redactor = redact.for_store(nbtrack.get_store().root)
    expected = {k: redactor.param(k, v) for k, v in flatten("x", value)}  # a dict of names is flattened (issue 12)
    got = {k: v for k, v in run.params.items() if k == "x" or k.startswith("x.")}
    assert same(got, expected)  # secrets redacted
    assert run.name == label  # stored as plain text, losslessly


def test_self_references_are_cut_and_logged(store_dir):
    a: list = []
    a.append(a)
    a.append({"again": a})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NbtrackWarning)
        with nbtrack.track(params={"a": a}) as run:
            nbtrack.log_param("b", a)
    assert nbtrack.get_run(run.id).params["a"] == ["[...]", {"again": "[...]"}]


def test_ten_megabyte_values_are_truncated_with_a_warning(store_dir):
    with nbtrack.track() as run, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nbtrack.log_param("huge", "x" * 10_000_000)
        nbtrack.set_tags({"t" * 10_000: "tag with a very long name"})
    assert any("limit" in str(w.message) for w in caught)
    got = nbtrack.get_run(run.id)
    assert len(got.params["huge"]) < 5_000
    assert (store_dir / "runs.jsonl").stat().st_size < 200_000


def test_dates_survive(store_dir):
    when = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)
    with nbtrack.track(params={"when": when}) as run:
        pass
    assert nbtrack.get_run(run.id).params["when"] == when
