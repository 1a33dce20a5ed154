"""What format a data file is in, from its first bytes (magic numbers) or else its name, and whether it is
compressed: fingerprints record it and profiles read the schema of the formats they know."""

from __future__ import annotations

import os
from pathlib import Path

_MAGIC = (
    (b"PAR1", "parquet"),
    (b"\x93NUMPY", "npy"),
    (b"ARROW1", "feather"),
    (b"ORC", "orc"),
    (b"Obj\x01", "avro"),
    (b"\x89HDF\r\n\x1a\n", "hdf5"),
    (b"SQLite format 3\x00", "sqlite"),
)
_EXTENSIONS = {
    "csv": "csv",
    "tsv": "tsv",
    "tab": "tsv",
    "psv": "csv",
    "json": "json",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "parquet": "parquet",
    "pq": "parquet",
    "npy": "npy",
    "npz": "npz",
    "feather": "feather",
    "arrow": "feather",
    "ipc": "feather",
    "orc": "orc",
    "avro": "avro",
    "h5": "hdf5",
    "hdf5": "hdf5",
    "hdf": "hdf5",
    "pkl": "pickle",
    "pickle": "pickle",
    "xlsx": "excel",
    "xls": "excel",
    "txt": "text",
    "zip": "zip",
    "sqlite": "sqlite",
    "db": "sqlite",
    "xml": "xml",
    "yaml": "yaml",
    "yml": "yaml",
}
_COMPRESSION = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
_COMPRESSION_EXT = {"gz": "gzip", "bz2": "bz2", "xz": "xz", "zst": "zstd"}


def detect_format(path: str | os.PathLike[str]) -> tuple[str, str | None]:
    """(format, compression) of a file, from its first bytes and its name: ("csv", None), ("csv", "gzip")..."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        head = b""
    suffixes = [s.lstrip(".").lower() for s in path.suffixes]
    compression = next((name for magic, name in _COMPRESSION.items() if head.startswith(magic)), None)
    if compression is not None:
        inner = [s for s in suffixes if s not in _COMPRESSION_EXT]
        fmt = _EXTENSIONS.get(inner[-1]) if inner else None
        return fmt or compression, compression if fmt else None
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name, None
    if head.startswith(b"PK\x03\x04"):
        ext = suffixes[-1] if suffixes else ""
        return {"npz": "npz", "xlsx": "excel"}.get(ext, "zip"), None
    if head[:2] == b"\x80\x04" or head[:2] == b"\x80\x05" or head[:2] == b"\x80\x03":
        return "pickle", None
    ext = suffixes[-1] if suffixes else ""
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext], None
    if not head:
        return "empty", None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # a multi-byte character cut at the end of the sample is still text
        try:
            text = head[:-4].decode("utf-8")
        except UnicodeDecodeError:
            return "binary", None
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        lines = [line for line in stripped.splitlines() if line.strip()]
        if len(lines) > 1 and all(line.lstrip().startswith("{") for line in lines[:-1]):
            return "jsonl", None
        return "json", None
    lines = text.splitlines()[:20]
    if len(lines) > 1:
        for sep, name in ((",", "csv"), ("\t", "tsv"), (";", "csv")):
            counts = {line.count(sep) for line in lines[:-1] if line}
            if len(counts) == 1 and counts.pop() > 0:
                return name, None
    return "text", None
