"""Tornado handlers for /nbtrack/api/: thin wrappers over :mod:`nbtrack.server.api`.

Every verb is ``@web.authenticated`` and ``@authorized`` (jupyter_server's own auth: the token or login
cookie, then the authorizer, on resource ``nbtrack``). No handler works on the server's IO loop: reads run on
a small thread pool, compare, diff and export in a killable child process (see :mod:`nbtrack.server.offload`),
each with a concurrency limit (503 ``busy``) and a time limit (504 ``time_limit``). Responses are JSON with
``<``, ``>`` and ``&`` escaped, so a run named ``<script>`` is inert even if something renders the body as
HTML; errors are ``{code, message}``, one sentence without absolute paths.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from http.client import responses
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from nbtrack.errors import NbtrackError
from nbtrack.server import api, export_api, grid_api, run_more
from nbtrack.server.offload import Offload, ServerLimits, WorkerCrash
from nbtrack.server.paths import scrub

CHUNK = 1 << 20  # bytes of a download read and sent at a time
_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_UNSAFE_RE = re.compile("[<>&\u2028\u2029]")
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    501: "unavailable",
    503: "busy",
    504: "time_limit",
}


def dumps(obj: Any) -> str:
    """JSON safe to embed anywhere: the same data once parsed, but no raw ``<``, ``>`` or ``&``."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return _UNSAFE_RE.sub(lambda m: _UNSAFE[m.group()], text)


class NbtrackHandler(APIHandler):
    """Base: JSON errors ``{code, message}``, store lookup, work on the API thread."""

    auth_resource = "nbtrack"

    @property
    def root_dir(self) -> str:
        return self.settings["nbtrack_root_dir"]

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")

    def write_json(self, obj: Any) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(dumps(obj))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, api.ApiError):
            code, message = exc.code, exc.message
        elif isinstance(exc, web.HTTPError):
            code = _CODES.get(status_code, "error")
            text = exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
            message = text or responses.get(status_code, "error")
        elif isinstance(exc, WorkerCrash):
            code, message = "internal_error", exc.message
        elif isinstance(exc, (NbtrackError, OSError)):  # a damaged or unreadable store: say so, without paths
            code, message = "store_error", scrub(f"nbtrack could not read the store: {exc}", self.root_dir)
        else:
            code, message = "internal_error", "nbtrack's server extension failed; the server log has the details"
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(dumps({"code": code, "message": message}))

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, api.ApiError):
            status_code = exc.status
        super().send_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, api.ApiError):
            self.log.debug("nbtrack API %s: %s", value.code, value.message)
            return
        if isinstance(value, WorkerCrash):
            self.log.error("nbtrack API worker failed: %s\n%s", value.message, value.details)
            return
        super().log_exception(typ, value, tb)

    @property
    def offload(self) -> Offload:
        return self.settings["nbtrack_offload"]

    def store(self) -> api.ConfinedStore:
        return api.open_store(self.root_dir, self.get_query_argument("dir", ""))

    def arguments(self, name: str) -> list[str]:
        """A repeatable query argument; each value may also hold a comma-separated list."""
        return [part.strip() for value in self.get_query_arguments(name) for part in value.split(",") if part.strip()]

    async def work(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``func(*args, **kwargs)`` on the read lane (threads)."""
        return await self.offload.read(func, *args, **kwargs)

    async def heavy(self, job: str, *args: Any, **kwargs: Any) -> Any:
        """A compare, diff or export of the request's store in a child process."""
        return await self.offload.run_heavy(job, self.store(), *args, **kwargs)


class VersionHandler(NbtrackHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        self.write_json(api.version())


class StampHandler(NbtrackHandler):
    @web.authenticated
    @authorized
    def get(self) -> None:
        self.write_json({"stamp": api.stamp(self.store())})


class RunsHandler(NbtrackHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        store = self.store()
        self.write_json(
            await self.work(
                api.list_runs,
                store,
                experiments=self.arguments("experiment"),
                statuses=self.arguments("status"),
                search=self.get_query_argument("q", ""),
                where=self.get_query_argument("where", ""),
                offset=self.get_query_argument("offset", None),
                limit=self.get_query_argument("limit", None),
                notebook=self.get_query_argument("notebook", "") or None,
                notebook_name=self.get_query_argument("notebook_name", "") or None,
                metric=self.get_query_argument("metric", "") or None,
            )
        )


class RunHandler(NbtrackHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        self.write_json(await self.work(api.get_record, self.store(), run_id))


class RunDetailsHandler(NbtrackHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        self.write_json(await self.work(api.run_details, self.store(), run_id))


class ExportHandler(NbtrackHandler):
    """The exported run as a download (a plain link works: the browser sends the login cookie)."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        verify = self.get_query_argument("verify", "1") not in ("0", "false", "no")
        name, content, verdict = await self.heavy("export", run_id, self.get_query_argument("format", None), verify)
        self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(Path(name).name)}")
        # what the verification found, for the views (the file's header says it too): true, false or none
        self.set_header("X-Nbtrack-Verified", {True: "true", False: "false", None: "none"}[verdict["verified"]])
        if verdict["cause"]:
            self.set_header("X-Nbtrack-Verify-Cause", quote(str(verdict["cause"])[:300]))
        self.finish(content, set_content_type=api.content_type(name))  # APIHandler would say application/json


class ExportToWorkspaceHandler(NbtrackHandler):
    """POST ``{format, name, overwrite}``: export the run (verified) and write the file next to its notebook,
    inside the server root (:mod:`nbtrack.server.export_api`); answers the path written and the verdict."""

    @web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise api.ApiError(400, "bad_request", "send a JSON object: {format, name, overwrite}")
        fmt, name, overwrite = body.get("format"), body.get("name"), body.get("overwrite") is True
        folder = self.get_query_argument("dir", "")
        where = await self.work(export_api.prepare, self.store(), self.root_dir, folder, run_id, fmt, name, overwrite)
        _, content, verdict = await self.heavy("export", where["run"], where["format"], body.get("verify") is not False)
        self.write_json(await self.work(export_api.finish, where, content, verdict, overwrite))


class BlobHandler(NbtrackHandler):
    """A model, artifact or kept output of a run, as a download: only a blob that run's record references, with
    the media type the record gives and a file name made safe; never rendered by the browser as a page. Sent in
    chunks read on the read lane, so a large model neither fills the server's memory nor blocks its loop."""

    @web.authenticated
    @authorized
    async def get(self, run_id: str, digest: str) -> None:
        download = await self.work(api.open_download, self.store(), run_id, digest)
        try:
            self.set_header("Content-Type", download.media_type)
            self.set_header("Content-Length", str(download.size))
            self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(download.filename)}")
            self.set_header("Content-Security-Policy", "sandbox; default-src 'none'")
            while chunk := await self.work(download.file.read, CHUNK):
                self.write(chunk)
                await self.flush()
        finally:
            download.file.close()
        self.finish(set_content_type=download.media_type)


class CompareHandler(NbtrackHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(
            await self.heavy(
                "compare",
                self.arguments("runs"),
                metric=self.get_query_argument("metric", None),
                plots=self.arguments("plots"),
                charts=self.arguments("charts"),
                by=self.arguments("by"),
            )
        )


class ChartsHandler(NbtrackHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(
            await self.heavy(
                "charts",
                self.arguments("runs"),
                self.get_query_argument("kind", "curves"),
                metric=self.get_query_argument("metric", None),
                grouped=self.get_query_argument("grouped", "1") not in ("0", "false", "no"),
            )
        )


class DiffHandler(NbtrackHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(
            await self.heavy(
                "diff",
                self.get_query_argument("a", ""),
                self.get_query_argument("b", ""),
                code=self.get_query_argument("code", "history"),
            )
        )


class RunMorePreviewHandler(NbtrackHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        ids, metric = self.arguments("runs"), self.get_query_argument("metric", None)
        self.write_json(await self.work(run_more.preview_runs, self.store(), ids, metric))


class RunMoreHandler(NbtrackHandler):
    """POST starts a job in this process (APIHandler checks the XSRF token of a cookie-authenticated POST)."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = json.loads(self.request.body or b"{}")
        ids = [str(r) for r in body.get("runs", [])] if isinstance(body, dict) else []
        metric = body.get("metric") if isinstance(body, dict) else None
        self.write_json(await self.work(run_more.start, self.store(), ids, metric))


class JobHandler(NbtrackHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.write_json(await self.work(run_more.job_state, self.store(), job_id))


class GridHandler(NbtrackHandler):
    """The runs table's rows as columns (grid_api.grid_rows)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        where = self.get_query_argument("where", "")
        self.write_json(
            await self.work(grid_api.grid_rows, self.store(), experiments=self.arguments("experiment"), where=where)
        )


class GridGroupsHandler(NbtrackHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(
            await self.work(
                grid_api.grid_groups,
                self.store(),
                by=self.arguments("by"),
                metric=self.get_query_argument("metric", ""),
                experiments=self.arguments("experiment"),
                where=self.get_query_argument("where", ""),
            )
        )


def _body(handler: NbtrackHandler) -> dict[str, Any]:
    try:
        body = json.loads(handler.request.body or b"{}")
    except ValueError:
        raise api.ApiError(400, "bad_request", "the request body must be JSON") from None
    if not isinstance(body, dict):
        raise api.ApiError(400, "bad_request", "the request body must be a JSON object")
    return body


class BulkTagHandler(NbtrackHandler):
    """POST {runs, key, value}: tag every run (APIHandler checks the XSRF token of a cookie-authenticated POST)."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = _body(self)
        self.write_json(
            await self.work(grid_api.tag_runs, self.store(), body.get("runs"), body.get("key"), body.get("value"))
        )


class BulkDeleteHandler(NbtrackHandler):
    """POST {runs}: delete every run, as ``nbtrack rm`` (``nbtrack gc`` erases the bytes later)."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.write_json(await self.work(grid_api.delete_runs, self.store(), _body(self).get("runs")))


class NotFoundHandler(NbtrackHandler):
    """Anything else under /nbtrack/api/: a JSON 404 (still only for authenticated users)."""

    @web.authenticated
    @authorized
    def get(self, path: str) -> None:
        raise api.ApiError(404, "not_found", f"no nbtrack endpoint {path[:80]!r}")


_RUN = r"/runs/([^/]+)"
ROUTES: list[tuple[str, type[NbtrackHandler]]] = [
    (r"/version", VersionHandler),
    (r"/stamp", StampHandler),
    (r"/runs", RunsHandler),
    (_RUN, RunHandler),
    (_RUN + r"/details", RunDetailsHandler),
    (_RUN + r"/export", ExportHandler),
    (_RUN + r"/export-to-workspace", ExportToWorkspaceHandler),
    (_RUN + r"/blobs/([^/]+)", BlobHandler),
    (r"/compare", CompareHandler),
    (r"/charts", ChartsHandler),
    (r"/diff", DiffHandler),
    (r"/run-more/preview", RunMorePreviewHandler),
    (r"/run-more", RunMoreHandler),
    (r"/jobs/([^/]+)", JobHandler),
    (r"/grid", GridHandler),
    (r"/grid/groups", GridGroupsHandler),
    (r"/grid/tag", BulkTagHandler),
    (r"/grid/delete", BulkDeleteHandler),
    (r"/(.*)", NotFoundHandler),
]


def setup_handlers(web_app: Any, root_dir: str, limits: ServerLimits | None = None) -> None:
    base = url_path_join(web_app.settings["base_url"], "nbtrack", "api")
    offload = Offload(limits)
    web_app.settings["nbtrack_root_dir"] = root_dir
    web_app.settings["nbtrack_offload"] = offload
    web_app.add_handlers(".*$", [(base + pattern, handler) for pattern, handler in ROUTES])
    offload.submit_read(_warm, root_dir)
    offload.submit_read(offload.warm_heavy)


def _warm(root_dir: str) -> None:
    """Import pandas and build the root store's runs table once at startup, so the sidebar's first page does
    not wait for them."""
    try:
        import pandas  # noqa: F401  (the runs table of any store needs it)

        store = api.open_store(root_dir, "")
        if store.journal.path.exists():
            api.runs_table(store)
    except Exception:  # a damaged store reports itself on the first real request
        pass
