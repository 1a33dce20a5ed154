"""Runs that hold models, figures, artifacts and output files, recorded the way the capture side records them:
a real fitted scikit-learn model and a real matplotlib PNG saved as blobs, the record built as a ``Run`` and
saved with ``store.put_run``. Shared by the tests of every view of them (show, diff, table, panel, server,
browser), so they do not wait for the capture side."""

from __future__ import annotations

import io
import pickle
import time

from nbtrack import ids
from nbtrack.run import Run, Status


def fitted_model(c: float = 0.5):
    from sklearn.linear_model import LogisticRegression

    x = [[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]]
    return LogisticRegression(C=c, max_iter=200).fit(x, [0, 1, 0, 1])


def figure_png(title: str = "loss") -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1.5), dpi=50)
    ax = fig.subplots()
    ax.plot([1, 2, 3], [3, 1, 2])
    ax.set_title(title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def model_record(store, model, *, auto: bool = True) -> dict:
    import sklearn

    data = pickle.dumps(model)
    digest = store.put_blob(data)
    return {
        "blob": digest,
        "format": "pickle",
        "pickle": True,
        "class": f"{type(model).__module__}.{type(model).__name__}",
        "framework": "sklearn",
        "framework_version": sklearn.__version__,
        "size": len(data),
        "hash": digest,
        "auto": auto,
    }


def record_run(store, *, name="fit", c=0.5, upstream=None, output=b"id,pred\n1,0\n", keep_output=True, **fields):
    """One finished run with a model ``clf`` (C=c), a skipped model ``huge``, a figure, a text artifact and an
    output file ``results/preds.csv`` (kept when ``keep_output``); returns the ``Run`` as saved."""
    png = figure_png(name)
    notes = b"notes of " + name.encode()
    out_digest = store.put_blob(output) if keep_output else None
    run = Run(
        id=ids.new_run_id(),
        experiment="models",
        name=name,
        status=Status.FINISHED,
        start_time=time.time(),
        end_time=time.time() + 1,
        duration=1.0,
        params={"C": c, "max_iter": 200, "tol": 0.0001, "lr": 0.1},
        param_sources={"C": "call", "max_iter": "call", "tol": "framework", "lr": "explicit"},
        metrics={"acc": 0.75 + c / 10},
        models={
            "clf": model_record(store, fitted_model(c)),
            "huge": {"skipped": "over the 500 MB limit", "size": 600_000_000, "class": "big.Model"},
        },
        artifacts={
            "figure-1.png": {
                "blob": store.put_blob(png),
                "size": len(png),
                "media_type": "image/png",
                "kind": "figure",
            },
            "notes.txt": {
                "blob": store.put_blob(notes),
                "size": len(notes),
                "media_type": "text/plain",
                "kind": "file",
            },
        },
        outputs={"results/preds.csv": {"hash": _digest(output), "size": len(output), "kept": out_digest}},
        upstream=upstream or {},
        source="api",
        **fields,
    )
    store.put_run(run.to_doc())
    return run


def _artifact(store, data: bytes, media_type: str, kind: str) -> dict:
    return {"blob": store.put_blob(data), "size": len(data), "media_type": media_type, "kind": kind}


def _digest(data: bytes) -> str:
    import hashlib

    return hashlib.blake2b(data, digest_size=16).hexdigest()
