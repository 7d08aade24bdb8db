"""The HTML pages (Jinja2, htmx) and their forms.

Each page's data comes from `views`, the same function its JSON twin under /api returns;
`?format=json` on any page URL returns that data instead of the HTML. Forms post back to the
page (form-encoded, with the CSRF field the guard checks) and redirect on success; on bad
input the form is shown again with the message, nothing stored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from .. import catalog
from ..errors import CnpError, Conflict, InvalidCron, InvalidInput
from ..models import PERMISSION_MODES, RunStatus
from ..store import Store
from . import views
from .charts import horizontal_bars, money, short_number, stacked_bars
from .deps import Db, cwd_of, now, status_of, zone_of
from .schemas import (
    MAX_ID,
    JobCreate,
    JobFields,
    JobUpdate,
    PromptCreate,
    PromptUpdate,
    edited_job,
    spec_of_create,
    spec_of_job,
    tags_of,
)
from .security import COOKIE, SESSION_TTL_S
from .serialize import mask_mcp_config

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

FLASH = {
    "created": "Created.", "updated": "Saved.", "deleted": "Deleted.", "paused": "Paused.",
    "resumed": "Resumed.", "triggered": "Triggered: the run is queued for the daemon.",
    "skipped": "Not started: the job's previous run is still active (overlap: skip).",
    "cancelled": "Cancel requested.", "cleared": "Usage limit cleared; deferred runs are due now.",
    "loggedin": "Logged in: changes are allowed from this browser.",
    "loggedout": "Logged out.",
}
PageId = Annotated[int, Query(ge=1, le=MAX_ID)]


# -- rendering ----------------------------------------------------------------------------------


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


# -- overview -----------------------------------------------------------------------------------


@router.get("/")
def overview_page(request: Request, db: Db) -> Response:
    return page(request, db, "overview.html",
                lambda store: views.overview(store, now(), zone_of(request)),
                json_url="/api/overview")


@router.get("/fragments/cooldown")
def cooldown_fragment(request: Request, db: Db) -> Response:
    with db() as store:
        cooldown = views.cooldown_state(store, now())
    if request.query_params.get("format") == "json":
        return JSONResponse(cooldown)
    # The overview's card polls this too (`part=card`), so card and banner never disagree.
    part = "_cooldown_card.html" if request.query_params.get("part") == "card" else \
        "_cooldown.html"
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, part, {"cooldown": cooldown, "csrf": request.state.cnp_csrf,
                        "authed": request.state.cnp_auth})


@router.post("/cooldown/clear")
def clear_cooldown(db: Db) -> Response:
    with db() as store:
        store.clear_cooldowns(now())
    return redirect("/?flash=cleared")


# -- prompts ------------------------------------------------------------------------------------


@router.get("/prompts")
def prompts_page(request: Request, db: Db, tag: Annotated[str | None, Query()] = None
                 ) -> Response:
    return page(request, db, "prompts.html", lambda store: views.prompts(store, tag or None),
                json_url="/api/prompts" + (f"?tag={tag}" if tag else ""))


@router.get("/prompts/new")
def new_prompt_page(request: Request, db: Db) -> Response:
    return page(request, db, "prompt_form.html", lambda store: None, form={}, errors=[],
                prompt=None)


@router.post("/prompts")
async def create_prompt(request: Request, db: Db) -> Response:
    fields = await form_fields(request)
    return await run_in_threadpool(_create_prompt, request, db, fields)


def _create_prompt(request: Request, db: Db, fields: dict[str, str]) -> Response:
    try:
        body = PromptCreate.model_validate(fields)
        p = catalog.make_prompt(body.title, body.content, tags_of(body.tags) or [])
        with db() as store:
            [prompt_id] = store.insert_prompts([p], now(), actor="web")
    except (ValidationError, InvalidInput) as exc:
        return page(request, db, "prompt_form.html", lambda store: None, status=422,
                    form=fields, errors=problems(exc), prompt=None)
    return redirect(f"/prompts/{prompt_id}?flash=created")


@router.get("/prompts/{prompt_id}")
def prompt_page(request: Request, db: Db, prompt_id: int) -> Response:
    return page(request, db, "prompt_form.html", lambda store: views.prompt(store, prompt_id),
                json_url=f"/api/prompts/{prompt_id}", errors=[],
                more=lambda store, data: {"prompt": data, "form": _prompt_form(data)})


def _prompt_form(data: dict[str, Any]) -> dict[str, str]:
    return {"title": data["title"], "content": data["content"], "tags": ",".join(data["tags"])}


@router.post("/prompts/{prompt_id}")
async def update_prompt(request: Request, db: Db, prompt_id: int) -> Response:
    fields = await form_fields(request)
    return await run_in_threadpool(_update_prompt, request, db, prompt_id, fields)


def _update_prompt(request: Request, db: Db, prompt_id: int, fields: dict[str, str]
                   ) -> Response:
    try:
        body = PromptUpdate.model_validate(fields)
        with db() as store:
            catalog.edit_prompt(store, prompt_id, now(), title=body.title, content=body.content,
                                tags=tags_of(body.tags) if body.tags is not None else None)
    except (ValidationError, InvalidInput) as exc:
        return page(request, db, "prompt_form.html", lambda store: views.prompt(store, prompt_id),
                    status=422, errors=problems(exc),
                    more=lambda store, data: {"prompt": data, "form": fields})
    return redirect(f"/prompts/{prompt_id}?flash=updated")


@router.post("/prompts/{prompt_id}/delete")
def delete_prompt(request: Request, db: Db, prompt_id: int) -> Response:
    try:
        with db() as store:
            store.delete_prompt(prompt_id, now())
    except Conflict as exc:
        return page(request, db, "prompt_form.html", lambda store: views.prompt(store, prompt_id),
                    status=409, errors=problems(exc),
                    more=lambda store, data: {"prompt": data, "form": _prompt_form(data)})
    return redirect("/prompts?flash=deleted")


# -- jobs ---------------------------------------------------------------------------------------


@router.get("/jobs")
def jobs_page(request: Request, db: Db, include_deleted: bool = False) -> Response:
    return page(request, db, "jobs.html", lambda store: views.jobs(store, include_deleted),
                json_url="/api/jobs" + ("?include_deleted=true" if include_deleted else ""),
                include_deleted=include_deleted)


def _job_form_context(store: Store, request: Request) -> dict[str, Any]:
    import zoneinfo

    return {
        "prompts": [{"id": p.id, "title": p.title} for p in store.list_prompts()],
        "zones": sorted(zoneinfo.available_timezones()),
        "permission_modes": PERMISSION_MODES,
        "server_cwd": str(cwd_of(request)),
        "default_zone": str(zone_of(request)),
    }


@router.get("/jobs/new")
def new_job_page(request: Request, db: Db,
                 prompt_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Response:
    form = {"prompt_id": str(prompt_id or ""), "schedule_kind": "cron", "cron": "0 3 * * *",
            "timezone": str(zone_of(request)), "work_dir": str(cwd_of(request)),
            "executor": "claude", "retries": "2", "timeout": "1h", "idle_timeout": "10m",
            "misfire": "latest", "misfire_grace": "6h", "overlap": "skip",
            "on_interrupt": "retry-unstarted", "on_limit": "rerun", "enabled": "on"}
    return page(request, db, "job_form.html", lambda store: None, job=None, form=form,
                errors=[], more=lambda store, _: _job_form_context(store, request))


def job_payload(fields: dict[str, str], *, create: bool) -> dict[str, Any]:
    """Form fields as an API body: empty means unset, one of cron/at by the chosen kind."""
    out: dict[str, Any] = {}
    for name in JobFields.model_fields:
        if name in fields:
            value = fields[name] if name in ("description", "append_system_prompt") \
                else fields[name].strip()
            out[name] = value or None
    kind = fields.get("schedule_kind", "cron")
    out.pop("at" if kind == "cron" else "cron", None)
    if out.get("add_dirs"):
        out["add_dirs"] = [d.strip() for d in str(out["add_dirs"]).replace(",", "\n")
                           .splitlines() if d.strip()]
    elif "add_dirs" in fields:
        out["add_dirs"] = []
    if create:
        out["prompt_id"] = fields.get("prompt_id") or None
        out["enabled"] = "enabled" in fields
    elif fields.get("prompt_id"):
        out["prompt_id"] = fields["prompt_id"]
    return out


@router.post("/jobs")
async def create_job(request: Request, db: Db) -> Response:
    fields = await form_fields(request)
    return await run_in_threadpool(_create_job, request, db, fields)


def _create_job(request: Request, db: Db, fields: dict[str, str]) -> Response:
    try:
        body = JobCreate.model_validate(job_payload(fields, create=True))
        with db() as store:
            created = catalog.create_job(store, spec_of_create(body), now(), cwd_of(request))
    except (ValidationError, CnpError) as exc:
        status = status_of(exc) if isinstance(exc, CnpError) else 422
        return page(request, db, "job_form.html", lambda store: None, status=status, job=None,
                    form=fields, errors=problems(exc),
                    more=lambda store, _: _job_form_context(store, request))
    return redirect(f"/jobs/{created.id}?flash=created")


@router.get("/jobs/{job_id}")
def job_page(request: Request, db: Db, job_id: int) -> Response:
    from ..daemons import daemon_alive

    return page(request, db, "job.html", lambda store: views.job(store, job_id, now()),
                json_url=f"/api/jobs/{job_id}",
                more=lambda store, _: {"daemon_running": daemon_alive(store, now()) is not None})


def _job_edit_form(job: Any) -> dict[str, str]:
    spec = spec_of_job(job)
    form = {k: ("" if v is None else str(v)) for k, v in vars(spec).items()
            if not isinstance(v, list)}
    form["add_dirs"] = "\n".join(spec.add_dirs)
    form["mcp_config"] = mask_mcp_config(spec.mcp_config) or ""
    form["schedule_kind"] = "at" if job.run_at is not None else "cron"
    form["at"] = job.run_at.astimezone(_zone(job.timezone)).strftime("%Y-%m-%dT%H:%M:%S") \
        if job.run_at else ""
    for key in ("timeout", "idle_timeout", "misfire_grace"):
        form[key] = _duration_text(int(form[key]))
    if form.get("max_output"):
        form["max_output"] = catalog.format_size(int(form["max_output"]))
    return form


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _duration_text(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@router.get("/jobs/{job_id}/edit")
def edit_job_page(request: Request, db: Db, job_id: int) -> Response:
    def build(store: Store) -> Any:
        return views.job(store, job_id, now())

    def more(store: Store, data: Any) -> dict[str, Any]:
        return {**_job_form_context(store, request), "job": data,
                "form": _job_edit_form(store.get_job(job_id))}

    return page(request, db, "job_form.html", build, json_url=f"/api/jobs/{job_id}",
                errors=[], more=more)


@router.post("/jobs/{job_id}")
async def update_job(request: Request, db: Db, job_id: int) -> Response:
    fields = await form_fields(request)
    return await run_in_threadpool(_update_job, request, db, job_id, fields)


def _update_job(request: Request, db: Db, job_id: int, fields: dict[str, str]) -> Response:
    try:
        body = JobUpdate.model_validate(job_payload(fields, create=False))
        at = now()
        with db() as store:
            current = store.get_job(job_id)
            # A one-shot time typed into the form is read in the job's zone, as shown.
            job, rescheduled = edited_job(current, _same_at(body, current), store.get_prompt,
                                          at, cwd_of(request))
            store.update_job(job_id, job, at, reschedule=rescheduled)
    except (ValidationError, InvalidInput, Conflict) as exc:
        status = status_of(exc) if isinstance(exc, CnpError) else 422

        def more(store: Store, data: Any) -> dict[str, Any]:
            return {**_job_form_context(store, request), "job": data, "form": fields}

        return page(request, db, "job_form.html", lambda store: views.job(store, job_id, now()),
                    status=status, errors=problems(exc), more=more)
    return redirect(f"/jobs/{job_id}?flash=updated")


def _same_at(body: JobUpdate, current: Any) -> JobUpdate:
    """The form shows a one-shot time in the job's zone without an offset; sent back
    unchanged it means the stored instant."""
    if body.at and current.run_at is not None:
        shown = current.run_at.astimezone(_zone(current.timezone)).strftime("%Y-%m-%dT%H:%M:%S")
        if body.at.strip() in (shown, shown[:16]) and (body.timezone or current.timezone) == \
                current.timezone:
            body.at = current.run_at.isoformat()
    return body


@router.post("/jobs/{job_id}/pause")
def pause_job(db: Db, job_id: int) -> Response:
    with db() as store:
        catalog.pause_job(store, job_id, now())
    return redirect(f"/jobs/{job_id}?flash=paused")


@router.post("/jobs/{job_id}/resume")
def resume_job(db: Db, job_id: int) -> Response:
    with db() as store:
        catalog.resume_job(store, job_id, now())
    return redirect(f"/jobs/{job_id}?flash=resumed")


@router.post("/jobs/{job_id}/trigger")
def trigger_job(db: Db, job_id: int) -> Response:
    from ..runs import trigger_job as trigger

    with db() as store:
        run = trigger(store, job_id, now())
    flash = "skipped" if run.status == RunStatus.SKIPPED else "triggered"
    return redirect(f"/executions/{run.id}?flash={flash}")


@router.post("/jobs/{job_id}/delete")
def delete_job(db: Db, job_id: int) -> Response:
    with db() as store:
        store.delete_job(job_id, now())
    return redirect("/jobs?flash=deleted")


@router.get("/fragments/schedule")
def schedule_fragment(request: Request,
                      cron: Annotated[str | None, Query(max_length=1000)] = None,
                      at: Annotated[str | None, Query(max_length=1000)] = None,
                      timezone: Annotated[str | None, Query(max_length=1000)] = None,
                      schedule_kind: Annotated[str | None, Query(max_length=10)] = None
                      ) -> Response:
    """Live validation for the job form: the plain-English schedule and the next five fire
    times, or the error naming the field. Always 200, so htmx swaps it in."""
    if schedule_kind == "at":
        cron = None
    elif schedule_kind == "cron":
        at = None
    try:
        result: dict[str, Any] = views.schedule_check(cron, at, timezone, now())
        error = None
    except InvalidCron as exc:
        result, error = {"valid": False}, {"message": exc.message, "field": exc.field,
                                            "hint": exc.hint}
    except InvalidInput as exc:
        result, error = {"valid": False}, {"message": exc.message, "field": None,
                                            "hint": exc.hint}
    return request.app.state.templates.TemplateResponse(  # type: ignore[no-any-return]
        request, "_schedule.html", {"result": result, "error": error})


# -- executions ---------------------------------------------------------------------------------


@router.get("/executions")
def executions_page(
    request: Request, db: Db,
    job_id: Annotated[str | None, Query(max_length=30)] = None,
    status: Annotated[str | None, Query(max_length=30)] = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=10_000_000)] = 1,
) -> Response:
    # Empty filter fields come from the filter form: they mean "any".
    job = int(job_id) if job_id and job_id.isdigit() and 0 < int(job_id) <= MAX_ID else None
    state = status if status in RunStatus.values() else None
    query = "&".join(f"{k}={v}" for k, v in (("job_id", job), ("status", state)) if v)

    def more(store: Store, data: Any) -> dict[str, Any]:
        jobs = [{"id": i, "name": name} for i, name in store.job_names()]
        return {"jobs": jobs, "statuses": RunStatus.values(), "query": query}

    return page(request, db, "executions.html",
                lambda store: views.executions(store, job_id=job, status=state, page=page_no),
                json_url="/api/executions" + (f"?{query}&page={page_no}" if query
                                              else f"?page={page_no}"),
                more=more)


@router.get("/executions/{execution_id}")
def execution_page(request: Request, db: Db, execution_id: int) -> Response:
    from ..daemons import daemon_alive

    return page(request, db, "execution.html",
                lambda store: views.execution(store, execution_id, with_events=True),
                json_url=f"/api/executions/{execution_id}?events=true",
                more=lambda store, _: {"daemon_running": daemon_alive(store, now()) is not None})


@router.get("/executions/{execution_id}/events")
def events_fragment(request: Request, db: Db, execution_id: int,
                    after: Annotated[int, Query(ge=-1, le=MAX_ID)] = -1,
                    live: bool = False) -> Response:
    """New output lines since `after` for the live view; stops polling when the run ends and
    asks the page to reload once so the final numbers show."""
    with db() as store:
        data = views.events(store, execution_id, after)
    if request.query_params.get("format") == "json":
        return JSONResponse(data)
    response: Response = request.app.state.templates.TemplateResponse(
        request, "_events.html",
        {"ev": data, "execution_id": execution_id, "oob": True, "live": live})
    if data["done"] and live:
        response.headers["HX-Refresh"] = "true"
    return response


@router.post("/executions/{execution_id}/cancel")
def cancel_execution(db: Db, execution_id: int) -> Response:
    from .api import cancel

    with db() as store:
        cancel(store, execution_id)
    return redirect(f"/executions/{execution_id}?flash=cancelled")


# -- usage, health ------------------------------------------------------------------------------


@router.get("/usage")
def usage_page(request: Request, db: Db,
               days: Annotated[int, Query(ge=1, le=366)] = 30) -> Response:
    def charts(store: Store, data: dict[str, Any]) -> dict[str, Any]:
        labels = [d["date"][5:] for d in data["by_day"]]
        tokens = stacked_bars(labels, [
            ("input", "s1", [d["input_tokens"] for d in data["by_day"]]),
            ("output", "s2", [d["output_tokens"] for d in data["by_day"]]),
            ("cache write", "s3", [d["cache_creation_tokens"] for d in data["by_day"]]),
            ("cache read", "s4", [d["cache_read_tokens"] for d in data["by_day"]]),
        ], title=f"Tokens per day, last {days} days", fmt=short_number)
        cost = stacked_bars(labels, [("cost", "s2", [d["cost_usd"] for d in data["by_day"]])],
                            title=f"Cost per day, last {days} days", fmt=money)
        top = data["by_job"][:15]
        job_cost = horizontal_bars([(j["job_name"], j["cost_usd"]) for j in top],
                                   title="Cost by job", css="s2", fmt=money)
        job_tokens = horizontal_bars(
            [(j["job_name"], j["input_tokens"] + j["output_tokens"]
              + j["cache_creation_tokens"] + j["cache_read_tokens"]) for j in top],
            title="Tokens by job", css="s1", fmt=short_number)
        return {"charts": {"tokens": tokens, "cost": cost, "job_cost": job_cost,
                           "job_tokens": job_tokens}}

    return page(request, db, "usage.html",
                lambda store: views.usage(store, now(), zone_of(request), days),
                json_url=f"/api/usage?days={days}", more=charts)


@router.get("/health")
def health_page(request: Request, db: Db, fast: bool = False) -> Response:
    from .. import health

    def build(store: Store) -> Any:
        return health.check(db.location, now(), fast=fast).to_dict()

    return page(request, db, "health.html", build,
                json_url="/api/health" + ("?fast=true" if fast else ""), fast=fast)


# -- login --------------------------------------------------------------------------------------


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
                       "restart `cnp serve` for a new link.")


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


@router.get("/docs")
def api_docs(request: Request) -> Response:
    """The API reference, rendered from the OpenAPI document (no scripts, works offline)."""
    spec = request.app.openapi()
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            tag = (op.get("tags") or ["other"])[0]
            params = [{"name": p["name"], "in": p["in"], "required": p.get("required", False)}
                      for p in op.get("parameters", [])]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "")
            groups.setdefault(tag, []).append({
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "params": params, "body": ref.rsplit("/", 1)[-1] if ref else None})
    schemas = spec.get("components", {}).get("schemas", {})
    return render(request, "docs.html", {"groups": groups}, cooldown=None,
                  json_url="/openapi.json", schemas=schemas, info=spec.get("info", {}))
