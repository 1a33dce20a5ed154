"""store/series.py: a run's metric series as a compact blob that reads back exactly (times to the millisecond)."""

from __future__ import annotations

import base64
import json
import math
import random
import struct
import time

import pytest

import nbtrack
from nbtrack.store import series
from nbtrack.store.local import Store


def points(values, steps=None, start=None, gap=0.0123):
    start = time.time() if start is None else start
    steps = list(range(len(values))) if steps is None else steps
    return {"step": steps, "value": list(values), "time": [start + i * gap for i in range(len(values))]}


def same_values(a, b):
    return json.dumps(a) == json.dumps(b)  # NaN equals NaN, as in the stored repr strings


def test_values_and_steps_come_back_exactly_and_times_to_the_millisecond():
    rng = random.Random(7)
    logged = {
        "random": points([rng.random() for _ in range(200)]),
        "rounded": points([round(rng.random(), 4) for _ in range(50)]),
        "float32": points([struct.unpack("f", struct.pack("f", rng.random()))[0] for _ in range(80)]),
        "sparse": points([1.5, 2.5, 3.5], steps=[0, 10, 5]),  # steps as logged: gaps, even out of order
        "ints": points([float(n) for n in range(30)], steps=list(range(100, 130))),
        "héllo wörld ✓": points([1e300, -1e-300, 0.0, -0.0]),
    }
    back = series.decode(series.encode(logged))
    assert list(back) == list(logged)
    for name, sent in logged.items():
        got = back[name]
        assert got["step"] == sent["step"], name
        assert same_values(got["value"], sent["value"]), name
        assert all(abs(a - b) <= 0.0005 for a, b in zip(got["time"], sent["time"], strict=True)), name
    assert back["random"]["time"][0] == logged["random"]["time"][0]  # the first point's time is exact
    assert math.copysign(1, back["héllo wörld ✓"]["value"][3]) == -1  # -0.0 stays negative


@pytest.mark.parametrize("form", ["random", "float32", "short"])
def test_non_finite_values_survive_every_form(form):
    rng = random.Random(1)
    base = {
        "random": [rng.random() for _ in range(40)],
        "float32": [float(n) / 8 for n in range(40)],
        "short": [round(n / 10, 1) for n in range(40)],
    }[form]
    values = [*base[:10], "nan", "inf", *base[10:20], "-inf", *base[20:]]  # as log_metric keeps them
    back = series.decode(series.encode({"m": points(values)}))
    assert back["m"]["value"] == values


def test_a_full_run_series_is_a_few_kilobytes_not_tens():
    rng = random.Random(3)
    start = time.time()
    full = {
        f"metric_{k}": points([struct.unpack("f", struct.pack("f", rng.random()))[0] for _ in range(100)], start=start)
        for k in range(10)
    }
    compact = series.encode(full)
    as_before = json.dumps(full, separators=(",", ":")).encode()  # what earlier versions stored
    assert len(compact) < len(as_before) / 8 and len(compact) < 5000
    rounded = {k: points([round(rng.random(), 4) for _ in range(100)], start=start) for k in "abcdefghij"}
    assert len(series.encode(rounded)) < 3500  # 1,000 values of 4 random digits: ~13 bits each at best


def test_earlier_json_series_blobs_read_unchanged(tmp_path):
    old = {"loss": {"step": [0, 1], "value": [0.5, "nan"], "time": [1700000000.123456, 1700000001.5]}}
    store = Store(tmp_path)
    digest = store.put_json(old)  # how 0.1.0 wrote a series
    assert series.load(store, digest) == old


T0 = 1764692345.125
LOGGED = {
    "loss": {"step": [0, 1, 2, 3], "value": [0.9137428561, 0.6027711834, "nan", 0.3011520442],
             "time": [T0, T0 + 0.012, T0 + 0.031, T0 + 0.5]},
    "acc": {"step": [0, 10, 5], "value": [0.5, 0.75, "inf"], "time": [T0 + 0.001, T0 + 0.002, T0 + 0.003]},
    "lr": {"step": [7, 8], "value": [0.25, 0.125], "time": [T0 + 1.0, T0 + 2.0]},
    "caf\u00e9": {"step": [0], "value": [1e-7], "time": [T0]},
}  # fmt: skip
# LOGGED as series.encode wrote it before its header went through orjson (commit 6819f35): json.dumps text
BLOB_6819F35 = base64.b64decode(
    "TkJTMgAAAKd4nG2PQQrCMBBF7/LX0zJJm8bmKpJFiRbEWsEWEUsP5Dm8mJOmCqLMct57zEwYGU7ZqqxqXZQmV9oQTnDbCT0cuvMwgBDgSsIAx4SdLJmU"
    "JlWTWJ5wFLDdCHYXTM2U1CaEZBaLGR2mzPhUUCSzuuNtFPIamdwQ51ZOOPQt/DvVXVJJLyW7FphjkvlPRceMvPIphKZ9PlJEfT3yI6t9xtbPfn4BpfxF"
    "ynicqzRiiH02mWFWzVcG2xWnGCwTnzEI23oyuL19/OOyvX29PQDVjQ1y"
)


def test_blobs_of_the_earlier_encoder_read_as_the_current_one_writes_them():
    old, new = series.decode(BLOB_6819F35), series.decode(series.encode(LOGGED))
    assert same_values(old, new)
    assert [p["step"] for p in old.values()] == [p["step"] for p in LOGGED.values()]
    assert same_values([p["value"] for p in old.values()], [p["value"] for p in LOGGED.values()])
    assert old["lr"]["time"] == [T0 + 1.0, T0 + 2.0]


def test_a_header_orjson_refuses_is_written_by_json():
    steps = [0, 2**70, 1]  # step gaps beyond 64 bits (log_metric keeps int64 steps; the codec takes any int)
    back = series.decode(series.encode({"m": points([1.0, 2.0, 3.0], steps=steps)}))
    assert back["m"]["step"] == steps


def test_an_empty_series_and_a_damaged_blob():
    assert series.decode(series.encode({})) == {}
    assert series.decode(series.encode({"m": points([])})) == {"m": {"step": [], "value": [], "time": []}}
    blob = series.encode({"m": points([1.0, 2.0])})
    with pytest.raises(ValueError):
        series.decode(blob[:-3] if blob.endswith(b"]") else blob[:12])


def test_a_tracked_run_reads_its_series_back(tmp_path):
    store = Store(tmp_path)
    with nbtrack.track(store=store, environment=False) as run:
        for step in range(5):
            run.log_metric("loss", 1 / (step + 1))
        run.log_metric("acc", float("nan"), step=9)
    frame = nbtrack.get_run(run.id, store=Store(tmp_path)).series
    assert list(frame.columns) == ["name", "step", "value", "time"]
    assert frame[frame.name == "loss"].value.tolist() == [1 / (s + 1) for s in range(5)]
    acc = frame[frame.name == "acc"]
    assert acc.step.tolist() == [9] and math.isnan(acc.value.iloc[0])
    assert store.get_blob(store.get_doc(run.id)["series"]).startswith(series.MAGIC)
