"""store/files.py: the file operations that never write through a name someone else could have prepared."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

from nbtrack.store import files
from nbtrack.store.files import UnsafeFileError

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and O_NOFOLLOW are POSIX")


def test_create_new_writes_the_file_and_refuses_any_existing_name(tmp_path):
    path = tmp_path / "a"
    files.create_new(path, b"first")
    assert path.read_bytes() == b"first"
    with pytest.raises(FileExistsError):
        files.create_new(path, b"second")
    assert path.read_bytes() == b"first"


@posix_only
def test_create_new_does_not_follow_a_planted_symlink(tmp_path):
    target = tmp_path / "target"
    target.write_bytes(b"theirs")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(FileExistsError):
        files.create_new(tmp_path / "link", b"mine")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        files.create_new(dangling, b"mine")
    assert target.read_bytes() == b"theirs" and not (tmp_path / "nowhere").exists()


def test_create_new_in_a_directory_fd(tmp_path):
    dir_fd = os.open(tmp_path, os.O_RDONLY)
    try:
        files.create_new(Path("b"), b"x", dir_fd=dir_fd, durable=False)
    finally:
        os.close(dir_fd)
    assert (tmp_path / "b").read_bytes() == b"x"


def test_create_unique_takes_another_name_when_the_name_is_taken(tmp_path):
    path = tmp_path / "report"
    assert files.create_unique(path, b"1") == path
    other = files.create_unique(path, b"2")
    assert other != path and re.fullmatch(r"report-[0-9a-f]{8}", other.name)
    assert path.read_bytes() == b"1" and other.read_bytes() == b"2"


def test_open_regular_reads_a_regular_file(tmp_path):
    (tmp_path / "f").write_bytes(b"data")
    fd, st = files.open_regular_stat(tmp_path / "f", own=True)
    try:
        assert os.read(fd, 10) == b"data" and st.st_size == 4
    finally:
        os.close(fd)


@posix_only
def test_open_regular_refuses_a_symlink_a_fifo_and_a_directory(tmp_path):
    (tmp_path / "real").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OSError):  # ELOOP: not followed
        files.open_regular(tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    done = threading.Event()

    def open_fifo() -> None:
        with pytest.raises(UnsafeFileError, match="not a regular file"):
            files.open_regular(tmp_path / "fifo")
        done.set()

    thread = threading.Thread(target=open_fifo, daemon=True)  # a blocking open would hang here, not the suite
    thread.start()
    thread.join(10)
    assert done.is_set(), "open_regular waited on a FIFO"
    (tmp_path / "dir").mkdir()
    with pytest.raises(UnsafeFileError, match="not a regular file") as info:
        files.open_regular(tmp_path / "dir")
    assert isinstance(info.value, OSError) and info.value.filename == str(tmp_path / "dir")


def test_replace_durably_replaces_the_whole_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "state.json"
    path.write_bytes(b"old contents that are longer")
    files.replace_durably(path, b"new")
    assert path.read_bytes() == b"new"
    files.replace_durably(tmp_path / "fresh", b"made")  # nothing there yet
    assert (tmp_path / "fresh").read_bytes() == b"made"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "state.json"]


@posix_only
def test_replace_durably_replaces_a_symlink_not_what_it_points_at(tmp_path):
    target = tmp_path / "target"
    target.write_bytes(b"theirs")
    (tmp_path / "link").symlink_to(target)
    files.replace_durably(tmp_path / "link", b"mine")
    assert not (tmp_path / "link").is_symlink() and (tmp_path / "link").read_bytes() == b"mine"
    assert target.read_bytes() == b"theirs"


def test_replace_at_in_an_open_directory(tmp_path):
    (tmp_path / "n").write_bytes(b"1")
    dir_fd = os.open(tmp_path, os.O_RDONLY)
    try:
        files.replace_at(dir_fd, "n", b"2")
    finally:
        os.close(dir_fd)
    assert (tmp_path / "n").read_bytes() == b"2" and [p.name for p in tmp_path.iterdir()] == ["n"]


def test_a_failed_replace_removes_its_temporary_and_keeps_the_old_file(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "inside").write_bytes(b"")
    with pytest.raises(OSError):  # a non-empty directory cannot be renamed over
        files.replace_durably(tmp_path / "dir", b"data")
    assert (tmp_path / "dir" / "inside").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["dir"]


def test_write_all_writes_every_byte_through_a_pipe(tmp_path):
    data = os.urandom(1 << 20)  # more than a pipe holds: os.write writes part of it at a time
    read_fd, write_fd = os.pipe()
    got = bytearray()

    def drain() -> None:
        while chunk := os.read(read_fd, 65536):
            got.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        files.write_all(write_fd, data)
    finally:
        os.close(write_fd)
    reader.join(10)
    os.close(read_fd)
    assert bytes(got) == data


def test_write_temp_and_temp_names(tmp_path):
    tmp = files.write_temp(tmp_path / "runs.jsonl", b"x")
    assert tmp.parent == tmp_path and tmp.read_bytes() == b"x"
    assert re.fullmatch(r"\.runs\.jsonl\.[0-9a-f]{16}\.tmp", tmp.name)
    assert files.temp_name("a") != files.temp_name("a")
    assert files.is_temp_name(tmp.name) and files.is_temp_name(".runs.jsonl.1234.tmp")  # older versions' names
    assert not files.is_temp_name("runs.jsonl") and not files.is_temp_name(".hidden")


def test_fsync_dir_of_a_missing_directory_is_a_no_op(tmp_path):
    files.fsync_dir(tmp_path)
    files.fsync_dir(tmp_path / "missing")
