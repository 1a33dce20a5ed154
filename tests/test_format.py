"""nbtrack.format: one way to write numbers, sizes, durations, times and statuses."""

import datetime as dt
import math
import time

import pytest

from nbtrack import format as fmt


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3, "3"),
        (123456789, "123456789"),  # integers exactly
        (0.123456, "0.1235"),
        (1234567.0, "1.235e+06"),
        (float("inf"), "inf"),
        (-math.inf, "-inf"),
        (None, "–"),
        (float("nan"), "–"),
        (True, "True"),
        ("text", "text"),
    ],
)
def test_number(value, text):
    assert fmt.number(value) == text


def test_number_digits_and_missing_text():
    assert fmt.number(0.123456, 3) == "0.123"
    assert fmt.number(None, missing="") == ""


def test_number_of_numpy_scalars():
    np = pytest.importorskip("numpy")
    assert fmt.number(np.int64(7)) == "7"
    assert fmt.number(np.float32(0.5)) == "0.5"


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [(0, "0 B"), (999, "999 B"), (1500, "1.5 KB"), (3_200_000, "3.2 MB"), (1_204_000_000_000, "1,204.0 GB")],
)
def test_size(nbytes, text):
    assert fmt.size(nbytes) == text


def test_size_unknown():
    assert fmt.size(None) == "?"
    assert fmt.size("12") == "?"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.523, "0.52 s"), (59.994, "59.99 s"), (184.1, "3m 04.1s"), (7500, "2h 05m")]
)
def test_duration(seconds, text):
    assert fmt.duration(seconds) == text


def test_duration_of_non_numbers():
    assert fmt.duration("soon") == "soon"
    assert fmt.duration(float("nan")) == "–"


def test_timestamp_is_local_time_whatever_the_input():
    seconds = 1_700_000_000
    local = time.strftime(fmt.TIME_FORMAT, time.localtime(seconds))
    aware = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    assert fmt.timestamp(seconds) == fmt.timestamp(aware) == local
    pd = pytest.importorskip("pandas")
    assert fmt.timestamp(pd.Timestamp(seconds, unit="s", tz="UTC")) == local
    assert fmt.timestamp("yesterday") == "yesterday"


def test_status_labels_and_colors():
    assert fmt.status_label("finished") == "✓ finished"
    assert fmt.status_label("failed") == "✗ failed"
    assert fmt.status_label("weird") == "weird"
    assert fmt.status_color("failed") == "#cf222e"
    assert fmt.status_color("weird") == fmt.NEUTRAL_COLOR
    assert set(fmt.STATUS_COLORS) == set(fmt.STATUS_ICONS)


def test_shorten():
    assert fmt.shorten("abc", 5) == "abc"
    assert fmt.shorten("abcdef", 4) == "abc…"
