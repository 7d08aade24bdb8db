"""The ASGI application: `create_app(location)` wires the guard, the JSON API, the pages, the
static files and the error handlers for one database."""

from __future__ import annotations

import errno
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..config import DbLocation, data_dir
from ..errors import CnpError
from . import api, pages
from .deps import StoreOpener, status_of
from .security import TOKEN_FILE, Auth, Guard, load_token
from .templating import install_filters

HERE = Path(__file__).parent


def create_app(location: DbLocation, *, token_path: Path | None = None,
               zone: str | None = None, cwd: Path | None = None) -> FastAPI:
    """The dashboard and API for the database at `location`.

    `token_path` defaults to `<data dir>/web-token`; `zone` (an IANA name, default the
    system's) is where days begin for "today" and the usage charts and how times are shown;
    `cwd` is the default working directory of jobs created here (default: this process's).
    """
    from ..cron import system_timezone

    token = load_token(token_path or data_dir() / TOKEN_FILE)
    auth = Auth(token)
    app = FastAPI(
        title="Claude Night Pilot",
        version=__version__,
        description="The local dashboard's JSON API: prompts, jobs, runs, usage limits, "
        "health. Reads from this machine need nothing; every change needs the web token "
        "(`Authorization: Bearer <token>` or `X-CNP-Token`; the token is in the data "
        "directory's `web-token` file).",
        docs_url=None,  # FastAPI's docs page loads its scripts from a CDN; ours is offline
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.location = location
    app.state.opener = StoreOpener(location)
    app.state.auth = auth
    app.state.zone = ZoneInfo(zone or system_timezone())
    app.state.cwd = (cwd or Path.cwd()).absolute()
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    install_filters(templates.env, app.state.zone)
    app.state.templates = templates

    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_middleware(Guard, auth=auth)
    _install_error_handlers(app)
    return app


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api") or "text/html" not in request.headers.get(
        "accept", "") or request.query_params.get("format") == "json"


def error_response(request: Request, status: int, body: dict[str, Any]) -> Response:
    if _wants_json(request):
        return JSONResponse(body, status_code=status, headers={"cache-control": "no-store"})
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, "error.html", {
        "status": status, "error": body, "now": datetime.now(),
        "csrf": getattr(request.state, "cnp_csrf", None),
        "authed": getattr(request.state, "cnp_auth", None), "cooldown": None,
        "json_url": None, "flash": None}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CnpError)
    async def on_domain_error(request: Request, exc: CnpError) -> Response:
        return error_response(request, status_of(exc), exc.to_dict())

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        detail = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()]
        message = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in detail[:5])
        field = ".".join(detail[0]["loc"][1:]) if detail and len(detail[0]["loc"]) > 1 else None
        return error_response(request, 422, {"error": "invalid_input",
                                             "message": message or "invalid request",
                                             "field": field, "detail": detail})

    @app.exception_handler(sqlite3.IntegrityError)
    async def on_integrity(request: Request, exc: sqlite3.IntegrityError) -> Response:
        return error_response(request, 409, {"error": "conflict", "message": str(exc)})

    @app.exception_handler(sqlite3.Error)
    async def on_storage(request: Request, exc: sqlite3.Error) -> Response:
        return error_response(request, 503, {"error": "storage",
                                             "message": f"database error: {exc}"})

    @app.exception_handler(UnicodeError)
    async def on_unicode(request: Request, exc: UnicodeError) -> Response:
        return error_response(request, 422, {"error": "invalid_input",
                                             "message": f"text that cannot be stored: {exc}"})

    @app.exception_handler(OverflowError)
    async def on_overflow(request: Request, exc: OverflowError) -> Response:
        return error_response(request, 422, {"error": "invalid_input",
                                             "message": f"a number out of range: {exc}"})

    @app.exception_handler(OSError)
    async def on_os_error(request: Request, exc: OSError) -> Response:
        # catalog checks paths with Path.is_dir(), which raises (rather than answering no)
        # for a name longer than the file system allows: that is bad input, not an outage.
        if exc.errno in (errno.ENAMETOOLONG, errno.ELOOP, errno.EINVAL):
            return error_response(request, 422, {"error": "invalid_input",
                                                 "message": f"unusable path: {exc.strerror}"})
        return error_response(request, 503, {"error": "storage",
                                             "message": f"{exc.strerror or exc}"})

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = error_response(request, exc.status_code,
                                  {"error": kind, "message": str(exc.detail)})
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response


__all__ = ["create_app"]
