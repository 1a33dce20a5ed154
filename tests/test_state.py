"""The local push state (nbtrack.remote.state): one JSON-lines file per server, replayed, resumable, locked."""

from __future__ import annotations

import json
import threading

import pytest

from nbtrack.errors import NbtrackError, PushBusyError
from nbtrack.remote import state as state_mod
from nbtrack.remote.state import PushState, normalize_uri, redact_uri, uri_key


def test_push_state_replays_patches_and_ignores_torn_lines(tmp_path):
    state = PushState(tmp_path, "http://user:secret@Host:5000/")
    state.record("a", run="r1", exp="1", parts={"x": 1})
    state.record("a", parts={"y": 2})
    state.record("b", run="r2", exp="1")
    state.record("b", reset=True, run="r3", exp="1")
    state.close()
    with open(state.path, "ab") as f:
        f.write(b'{"id": "a", "done": "tor')  # a crash mid-line
    again = PushState(tmp_path, "http://Host:5000")
    assert again.path == state.path  # same server, same file: credentials and case do not matter
    assert again.get("a") == {"run": "r1", "exp": "1", "parts": {"x": 1, "y": 2}, "t": again.get("a")["t"]}
    assert again.get("b")["run"] == "r3" and "done" not in again.get("a")
    assert "secret" not in state.path.read_text() and "secret" not in state.path.name
    assert state.path.name == f"{uri_key('http://host:5000')}.jsonl"
    assert normalize_uri("HTTP://Host:5000/") == "http://host:5000"
    assert redact_uri("http://u:p@h:1/x") == "http://h:1/x"


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("HTTP://Host:5000/", "http://host:5000"),
        ("  https://user:pw@Example.COM/mlflow/  ", "https://example.com/mlflow"),
        ("http://[::1]:5000", "http://[::1]:5000"),
        ("http://h:5000/x?a=1#frag", "http://h:5000/x?a=1"),
        ("sqlite:///tmp/mlruns.db", "sqlite:///tmp/mlruns.db"),  # no host: left as written
        ("databricks/", "databricks"),
    ],
)
def test_normalize_uri(uri, key):
    assert normalize_uri(uri) == key
    assert uri_key(uri) == uri_key(key)


def test_redact_uri_removes_credentials_query_and_fragment():
    # a query string can carry a token (?token=...), so none of it is kept (issue 18, secrets)
    assert redact_uri("https://ana:s3cret@mlflow.example.com:443/p?q=1#f") == "https://mlflow.example.com:443/p"
    assert redact_uri("https://h/x?token=abc") == "https://h/x"
    assert redact_uri("https://token@h/x") == "https://h/x"
    assert redact_uri(" http://h:1/x ") == "http://h:1/x"
    assert redact_uri("sqlite:///a.db") == "sqlite:///a.db"


def test_uri_keys_are_short_hashes_distinct_per_server():
    a, b = uri_key("http://h:5000"), uri_key("http://h:5001")
    assert a != b and len(a) == 24 and all(c in "0123456789abcdef" for c in a)
    assert uri_key("http://u:p@H:5000/") == a


def test_the_file_starts_with_a_redacted_header_and_is_read_from_another_instance(tmp_path):
    writer = PushState(tmp_path, "http://ana:pw@h:1")
    reader = PushState(tmp_path, "http://h:1")
    assert reader.get("r") == {"parts": {}}  # nothing pushed yet, no file
    writer.record("r", run="m1", parts={"params": "d1"})
    header, line = writer.path.read_text().splitlines()
    assert json.loads(header) == {"id": "", "server": "http://h:1", "format": 1}
    assert json.loads(line)["run"] == "m1"
    reader.refresh()  # picks up what the other writer appended
    assert reader.get("r")["parts"] == {"params": "d1"}
    writer.record("r", done="sig")
    reader.refresh()
    assert reader.get("r")["done"] == "sig"
    entry = reader.get("r")
    entry["parts"]["x"] = 1  # a copy: the state is not changed through it
    assert "x" not in reader.get("r")["parts"]
    writer.close()
    writer.close()  # twice is fine


def test_compaction_keeps_one_line_per_run(tmp_path, monkeypatch):
    monkeypatch.setattr(state_mod, "_COMPACT_MIN_LINES", 10)
    state = PushState(tmp_path, "http://h:1")
    for i in range(20):
        state.record("a", parts={f"p{i}": i})
    state.record("b", run="m2")
    state.maybe_compact()
    lines = state.path.read_text().splitlines()
    assert len(lines) == 3  # header, a, b
    again = PushState(tmp_path, "http://h:1")
    assert again.get("a")["parts"] == {f"p{i}": i for i in range(20)} and again.get("b")["run"] == "m2"
    state.record("b", done="x")  # appending after a compaction reopens the new file
    again.refresh()  # the file was replaced: read all of it again
    assert again.get("b")["done"] == "x" and len(again.get("a")["parts"]) == 20
    state.close()


def test_only_one_push_per_server_holds_the_lock(tmp_path):
    first = PushState(tmp_path, "http://h:1")
    second = PushState(tmp_path, "http://h:1")
    other_server = PushState(tmp_path, "http://h:2")
    first.acquire()
    try:
        with pytest.raises(PushBusyError, match="another push to http://h:1") as caught:
            second.acquire(timeout=0.3)
        assert isinstance(caught.value, NbtrackError)
        other_server.acquire()  # a different server is a different lock
        other_server.release()
    finally:
        first.release()
    second.acquire()  # free again
    second.release()


def test_concurrent_writers_never_interleave_lines(tmp_path):
    states = [PushState(tmp_path, "http://h:1") for _ in range(4)]

    def write(n, state):
        for i in range(200):
            state.record(f"run{n}", parts={f"p{i}": "x" * 200})

    threads = [threading.Thread(target=write, args=(n, s)) for n, s in enumerate(states)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in states:
        s.close()
    lines = states[0].path.read_text().splitlines()
    assert len(lines) == 1 + 4 * 200 and all(json.loads(line) for line in lines)
    replayed = PushState(tmp_path, "http://h:1")
    assert all(len(replayed.get(f"run{n}")["parts"]) == 200 for n in range(4))
