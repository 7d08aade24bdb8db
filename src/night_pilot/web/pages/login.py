"""Logging in to the dashboard (with a one-time link or the web token) and out: a session
cookie allows changes from this browser.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ..security import COOKIE, SESSION_TTL_S
from .rendering import form_fields, redirect

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def _logged_in(request: Request) -> Response:
    auth = request.app.state.auth
    response = redirect("/?flash=loggedin")
    response.set_cookie(COOKIE, auth.new_session(), max_age=SESSION_TTL_S, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https", path="/")
    return response


def _login_page(request: Request, status: int, error: str | None) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(
        request, "login.html", {"error": error, "csrf": request.state.cnp_csrf,
                                "authed": request.state.cnp_auth, "cooldown": None,
                                "flash": None, "json_url": None, "path": "/login"},
        status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


@router.get("/login")
def login(request: Request, code: Annotated[str | None, Query(max_length=200)] = None
          ) -> Response:
    if code is None:
        return _login_page(request, 200, None)
    if request.app.state.auth.codes.consume(code):
        return _logged_in(request)
    return _login_page(request, 403, "This login link is not valid: it was used already, it "
                       "expired, or it belongs to another server. Paste the token instead, or "
                       "run `cnp web link` for a new link.")


@router.post("/login")
async def login_with_token(request: Request) -> Response:
    fields = await form_fields(request)
    if request.app.state.auth.token_ok(fields.get("token", "").strip()):
        return _logged_in(request)
    return _login_page(request, 403, "That is not the web token.")


@router.post("/logout")
def logout() -> Response:
    response = redirect("/?flash=loggedout")
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
