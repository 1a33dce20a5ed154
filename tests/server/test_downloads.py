"""``runs/<id>/blobs/<digest>`` through a real jupyter_server: a run's models, artifacts and kept outputs as
downloads, only the blobs that run's record references, authenticated; and what the details list beside them."""

from __future__ import annotations

import json
import pickle

import pytest
from tornado.httpclient import HTTPClientError

from nbtrack.store import local as store_mod
from tests.contents_helpers import fitted_model, record_run

pytestmark = pytest.mark.filterwarnings("ignore::jupyter_server.utils.JupyterServerAuthWarning")


@pytest.fixture
def model_runs(jp_root_dir):
    path = jp_root_dir / ".nbtrack"
    store = store_mod.get_store(path)
    first = record_run(store, name="prepare")
    second = record_run(store, name="train", c=1.0, keep_output=False, upstream={"results/preds.csv": first.id})
    yield store, first, second
    store_mod._stores.pop(path.absolute(), None)


def body(response):
    return json.loads(response.body.decode("utf-8"))


async def test_details_list_models_artifacts_outputs_and_links(jp_fetch, model_runs):
    _, first, second = model_runs
    found = body(await jp_fetch("nbtrack", "api", "runs", first.id, "details"))["contents"]
    assert found["params_by_source"] == {"explicit": ["lr"], "inline": ["C", "max_iter"], "framework": ["tol"]}
    models = {m["name"]: m for m in found["models"]}
    assert models["clf"]["kept"] and models["clf"]["blob"] == first.models["clf"]["blob"]
    assert models["clf"]["class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert models["huge"] == {**models["huge"], "kept": False, "skipped": "over the 500 MB limit", "blob": None}
    figure, notes = found["artifacts"]
    assert (figure["name"], figure["figure"], notes["figure"]) == ("figure-1.png", True, False)
    assert found["outputs"] == [{"path": "results/preds.csv", "size": 12, "hash": found["outputs"][0]["hash"],
                                 "kept": first.outputs["results/preds.csv"]["kept"]}]  # fmt: skip
    assert found["upstream"] == {} and found["downstream"] == {"results/preds.csv": [second.id]}
    later = body(await jp_fetch("nbtrack", "api", "runs", second.id, "details"))["contents"]
    assert later["upstream"] == {"results/preds.csv": first.id} and later["outputs"][0]["kept"] is None
    page = body(await jp_fetch("nbtrack", "api", "runs", params={"limit": 10}))
    assert page["columns"]["models"] == ["clf"] and page["columns"]["outputs"] == []  # same output hash in both


async def test_each_referenced_blob_downloads_with_its_type_and_a_safe_name(jp_fetch, model_runs):
    _, first, _ = model_runs
    model = await jp_fetch("nbtrack", "api", "runs", first.id, "blobs", first.models["clf"]["blob"])
    assert model.headers["Content-Disposition"] == "attachment; filename*=UTF-8''clf.pkl"
    assert model.headers["Content-Type"] == "application/octet-stream"
    assert model.headers["X-Content-Type-Options"] == "nosniff"
    x = [[0.0, 1.0], [1.0, 0.0], [0.3, 0.3]]
    assert (pickle.loads(model.body).predict_proba(x) == fitted_model(0.5).predict_proba(x)).all()
    figure = await jp_fetch("nbtrack", "api", "runs", first.id, "blobs", first.artifacts["figure-1.png"]["blob"])
    assert figure.headers["Content-Type"] == "image/png" and figure.body.startswith(b"\x89PNG")
    assert figure.headers["Content-Disposition"] == "attachment; filename*=UTF-8''figure-1.png"
    output = await jp_fetch("nbtrack", "api", "runs", first.id, "blobs", first.outputs["results/preds.csv"]["kept"])
    assert output.body == b"id,pred\n1,0\n" and output.headers["Content-Disposition"].endswith("''preds.csv")


async def test_a_record_cannot_make_the_server_send_a_page_or_a_path(jp_fetch, model_runs):
    store, first, _ = model_runs
    doc = first.to_doc()
    page = store.put_blob(b"<script>alert(1)</script>")
    doc["artifacts"]["../../evil name\r\n.html"] = {"blob": page, "size": 25, "media_type": "text/html\r\nX: y"}
    store.put_run(doc)
    response = await jp_fetch("nbtrack", "api", "runs", first.id, "blobs", page)
    assert response.headers["Content-Type"] == "application/octet-stream"  # not a media type: octets
    assert response.headers["Content-Disposition"] == "attachment; filename*=UTF-8''evil_name_.html"
    assert "sandbox" in response.headers["Content-Security-Policy"]


async def api_error(fetch, *parts):
    with pytest.raises(HTTPClientError) as info:
        await fetch(*parts)
    return info.value.code, json.loads(info.value.response.body)


async def test_only_blobs_the_run_references_are_served(jp_fetch, model_runs):
    store, first, second = model_runs
    # the blob exists in the store, but belongs to the other run: not through this one
    others = second.models["clf"]["blob"]
    assert store.blobs.exists(others)
    assert await api_error(jp_fetch, "nbtrack", "api", "runs", first.id, "blobs", others) == (
        404,
        {"code": "not_found", "message": f"run {first.id} has no model, artifact or kept output {others[:12]}"},
    )
    # the journal's and the snapshot's blobs are the store's, not downloads
    series = store.put_json({"acc": [1]})
    assert (await api_error(jp_fetch, "nbtrack", "api", "runs", first.id, "blobs", series))[0] == 404
    # an output only hashed has no blob to serve, even under its hash
    hashed = second.outputs["results/preds.csv"]["hash"]
    assert (await api_error(jp_fetch, "nbtrack", "api", "runs", second.id, "blobs", hashed))[0] == 404
    # a referenced blob whose file is gone
    doc = first.to_doc()
    doc["artifacts"]["gone.png"] = {"blob": "f" * 32, "size": 1, "media_type": "image/png", "kind": "figure"}
    store.put_run(doc)
    code, error = await api_error(jp_fetch, "nbtrack", "api", "runs", first.id, "blobs", "f" * 32)
    assert (code, error["code"]) == (404, "not_found") and "/" not in error["message"]


@pytest.mark.parametrize(
    "raw", ["..%2F..%2Fruns.jsonl", "..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "A" * 32, "a" * 31, "0%00"]
)
async def test_traversal_and_malformed_digests_are_refused(
    http_server_client, jp_auth_header, jp_base_url, model_runs, raw
):
    _, first, _ = model_runs
    with pytest.raises(HTTPClientError) as info:
        await http_server_client.fetch(f"{jp_base_url}nbtrack/api/runs/{first.id}/blobs/{raw}", headers=jp_auth_header)
    assert info.value.code in (400, 404)
    text = info.value.response.body.decode()
    assert json.loads(text)["code"] in ("invalid_digest", "not_found") and "root:" not in text and "runs" not in text


async def test_downloads_need_the_token(http_server_client, jp_base_url, model_runs):
    _, first, _ = model_runs
    url = f"{jp_base_url}nbtrack/api/runs/{first.id}/blobs/{first.models['clf']['blob']}"
    for headers in ({}, {"Authorization": "token wrong-token"}):
        with pytest.raises(HTTPClientError) as info:
            await http_server_client.fetch(url, headers=headers)
        assert info.value.code in (401, 403) and b"sklearn" not in (info.value.response.body or b"")


async def test_a_large_blob_streams_whole_and_a_planted_symlink_is_not_followed(jp_fetch, model_runs, tmp_path):
    import os

    store, first, _ = model_runs
    big = os.urandom(3 * (1 << 20) + 123)  # several chunks
    digest = store.put_blob(big)
    doc = first.to_doc()
    doc["outputs"]["big.bin"] = {"hash": digest, "size": len(big), "kept": digest}
    # a blob file replaced by a link to a file outside the server root
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"root:x:0:0")
    linked = "0" * 32
    (store.objects / "00").mkdir(exist_ok=True)
    os.symlink(secret, store.objects / "00" / linked[2:])
    doc["artifacts"]["linked.txt"] = {"blob": linked, "size": 10, "media_type": "text/plain", "kind": "file"}
    store.put_run(doc)
    response = await jp_fetch("nbtrack", "api", "runs", first.id, "blobs", digest)
    assert response.body == big and response.headers["Content-Length"] == str(len(big))
    code, error = await api_error(jp_fetch, "nbtrack", "api", "runs", first.id, "blobs", linked)
    assert (code, error["code"]) == (404, "not_found") and "root:" not in error["message"]
