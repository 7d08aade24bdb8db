"""What every page shares: rendering a template (or its data, for `?format=json`) with the
flash message and the usage-limit banner, opening the store for a page, reading a posted form,
and turning bad input into the messages a form shows.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from ...errors import CnpError, InvalidCron
from ...store import Store
from .. import views
from ..deps import Db, now
from ..schemas import MAX_ID

FLASH = {
    "created": "Created.", "updated": "Saved.", "deleted": "Deleted.", "paused": "Paused.",
    "resumed": "Resumed.", "triggered": "Triggered: the run is queued for the daemon.",
    "skipped": "Not started: the job's previous run is still active (overlap: skip).",
    "cancelled": "Cancel requested.", "cleared": "Usage limit cleared; deferred runs are due now.",
    "loggedin": "Logged in: changes are allowed from this browser.",
    "loggedout": "Logged out.",
}
PageId = Annotated[int, Query(ge=1, le=MAX_ID)]


def render(request: Request, template: str, data: Any, *, cooldown: dict[str, Any] | None,
           status: int = 200, json_url: str | None = None, **extra: Any) -> Response:
    if request.query_params.get("format") == "json":
        return JSONResponse(data, status_code=status)
    flash = FLASH.get(request.query_params.get("flash", ""))
    context = {
        "data": data, "cooldown": cooldown, "flash": flash, "json_url": json_url,
        "csrf": request.state.cnp_csrf, "authed": request.state.cnp_auth,
        "now": datetime.now(UTC), "path": request.url.path, **extra,
    }
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(request, template, context,
                                                    status_code=status)
    response.headers["cache-control"] = "no-store"
    return response


def page(request: Request, db: Db, template: str, build: Callable[[Store], Any], *,
         json_url: str | None = None, status: int = 200,
         more: Callable[[Store, Any], dict[str, Any]] | None = None,
         **extra: Any) -> Response:
    """Open a store, build the page's data (and the cooldown banner), render."""
    with db() as store:
        data = build(store)
        cooldown = views.cooldown_state(store, now())
        if more is not None:
            extra.update(more(store, data))
    return render(request, template, data, cooldown=cooldown, status=status,
                  json_url=json_url, **extra)


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


async def form_fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def problems(exc: ValidationError | CnpError) -> list[str]:
    if isinstance(exc, CnpError):
        text = exc.message + (f" ({exc.hint})" if exc.hint else "")
        if isinstance(exc, InvalidCron) and exc.field:
            text = f"{exc.field}: {text}"
        return [text]
    return [f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors()]
