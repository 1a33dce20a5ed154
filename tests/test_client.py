"""The MLflow client wrapper: bounded HTTP retries, telling "unreachable" from "refused"."""

from __future__ import annotations

import os
import threading

import pytest

from nbtrack.remote.client import PUSH_HTTP_ENV, http_limits, is_connection_error, short_error


def test_http_limits_are_set_for_the_duration_and_keep_the_users(monkeypatch):
    for key in PUSH_HTTP_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "99")
    with http_limits():
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "3"
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "99"
        with http_limits():  # nested (direct logging during a push): restored only by the outer one
            pass
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "3"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "99"


def test_http_limits_from_threads_overlap_safely(monkeypatch):
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    inside = threading.Barrier(3)

    def work() -> None:
        with http_limits():
            inside.wait(5)
            assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "3"

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait(5)
    for t in threads:
        t.join(5)
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ


def test_errors_are_told_apart_and_shortened():
    assert is_connection_error(ConnectionRefusedError(111, "Connection refused"))
    assert is_connection_error(RuntimeError("HTTPConnectionPool: Max retries exceeded with url"))
    assert not is_connection_error(ValueError("INVALID_PARAMETER_VALUE: bad key"))
    assert short_error(OSError("[Errno 111] Connection refused by host")) == "Connection refused"
    assert short_error(ValueError("x" * 400)) == "x" * 300 + "..."
    assert short_error(KeyError()) == "KeyError"


def test_mlflow_refusals_are_not_connection_errors():
    exceptions = pytest.importorskip("mlflow.exceptions")
    assert not is_connection_error(exceptions.RestException({"error_code": "BAD", "message": "Connection refused"}))
