"""The local store: TinyDB documents over a crash-safe journal, a file lock, content-addressed blobs, doctor."""
