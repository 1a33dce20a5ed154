"""nbtrack.server.handlers: every route it registers, and that each refuses a request without a valid token.

What each handler answers is tested through HTTP in test_server_api.py.
"""

from __future__ import annotations

import re

import pytest
from tornado.httpclient import HTTPClientError

from nbtrack.server import handlers

# jupyter_server_terminals' TermSocket warns about its own auth; nbtrack's handlers are checked below.
pytestmark = pytest.mark.filterwarnings("ignore::jupyter_server.utils.JupyterServerAuthWarning")


def nbtrack_routes(web_app):
    """Every (pattern, handler) registered by nbtrack, found by walking tornado's routers."""
    found = []

    def walk(router):
        for rule in getattr(router, "rules", []):
            target = rule.target
            if isinstance(target, type) and target.__module__.startswith("nbtrack."):
                found.append((rule.matcher.regex.pattern, target))
            elif hasattr(target, "rules"):
                walk(target)

    walk(web_app.default_router)
    walk(web_app.wildcard_router)
    return sorted(set(found), key=lambda r: r[0])


def sample_path(pattern: str) -> str:
    """A concrete URL path for a route pattern: each group filled with a well-formed run id."""
    path = re.sub(r"\([^)]*\)", "0" * 26, pattern.rstrip("$"))
    return path.replace("\\", "")


async def test_every_nbtrack_handler_refuses_unauthenticated_requests(jp_serverapp, http_server_client, runs_store):
    routes = nbtrack_routes(jp_serverapp.web_app)
    assert {h for _, h in routes} == {h for _, h in handlers.ROUTES}, "a handler is not registered"
    methods = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
    for pattern, handler in routes:
        assert not jp_serverapp.web_app._check_handler_auth(pattern, handler), f"{handler.__name__} lacks auth"
        path = sample_path(pattern)
        for method in methods:
            for headers in ({}, {"Authorization": "token wrong-token"}):
                with pytest.raises(HTTPClientError) as info:
                    await http_server_client.fetch(
                        path,
                        method=method,
                        headers=headers,
                        allow_nonstandard_methods=True,
                        body=b"{}" if method in ("POST", "PUT", "PATCH") else None,
                    )
                assert info.value.code in (401, 403, 405), (method, path, info.value.code)
                if method == "GET":
                    assert info.value.code in (401, 403), (path, info.value.code)
                    assert b"credit" not in (info.value.response.body or b"")
        # CORS preflight is answered for anyone (jupyter_server's APIHandler), with nothing in it
        preflight = await http_server_client.fetch(path, method="OPTIONS")
        assert preflight.body == b""
