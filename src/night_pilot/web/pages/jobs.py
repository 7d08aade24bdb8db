"""The job pages: the list, a job's page, the forms that create and edit jobs, the buttons
that pause, resume, trigger and delete one, and the schedule preview the forms poll.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from ... import catalog
from ...errors import CnpError, Conflict, InvalidCron, InvalidInput
from ...models import PERMISSION_MODES, RunStatus
from ...store import Store
from .. import views
from ..deps import Db, cwd_of, now, status_of, zone_of
from ..schemas import (
    MAX_ID,
    JobCreate,
    JobFields,
    JobUpdate,
    edited_job,
    spec_of_create,
)
from ..serialize import mask_mcp_config
from .rendering import form_fields, page, problems, redirect

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@router.get("/jobs")
def jobs_page(request: Request, db: Db, include_deleted: bool = False) -> Response:
    return page(request, db, "jobs.html", lambda store: views.jobs(store, include_deleted),
                json_url="/api/jobs" + ("?include_deleted=true" if include_deleted else ""),
                include_deleted=include_deleted)


def _job_form_context(store: Store, request: Request) -> dict[str, Any]:
    import zoneinfo

    return {
        "prompts": [{"id": p.id, "title": p.title} for p in store.prompts.all()],
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
    if kind == "spare":
        out.pop("cron", None)
        out.pop("at", None)
        out["when"] = "spare"
    else:
        out.pop("at" if kind == "cron" else "cron", None)
        out.pop("spare_window", None)
        if not create:
            out["when"] = None
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
    from ...daemons import daemon_alive

    return page(request, db, "job.html", lambda store: views.job(store, job_id, now()),
                json_url=f"/api/jobs/{job_id}",
                more=lambda store, _: {"daemon_running": daemon_alive(store, now()) is not None})


def _job_edit_form(job: Any) -> dict[str, str]:
    spec = catalog.spec_of_job(job)
    form = {k: ("" if v is None else str(v)) for k, v in vars(spec).items()
            if not isinstance(v, list)}
    form["add_dirs"] = "\n".join(spec.add_dirs)
    form["mcp_config"] = mask_mcp_config(spec.mcp_config) or ""
    form["schedule_kind"] = "at" if job.run_at is not None else (
        "spare" if job.spare_window_s is not None else "cron")
    form["at"] = job.run_at.astimezone(_zone(job.timezone)).strftime("%Y-%m-%dT%H:%M:%S") \
        if job.run_at else ""
    for key in ("timeout", "idle_timeout", "misfire_grace"):
        form[key] = _duration_text(int(form[key]))
    if form.get("spare_window"):
        form["spare_window"] = _duration_text(int(form["spare_window"]))
    form.pop("when", None)
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
                "form": _job_edit_form(store.jobs.get(job_id))}

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
            current = store.jobs.get(job_id)
            # A one-shot time typed into the form is read in the job's zone, as shown.
            job, rescheduled = edited_job(current, _same_at(body, current), store.prompts.get,
                                          at, cwd_of(request))
            store.jobs.update(job_id, job, at, reschedule=rescheduled)
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
    from ...runs import trigger_job as trigger

    with db() as store:
        run = trigger(store, job_id, now())
    flash = "skipped" if run.status == RunStatus.SKIPPED else "triggered"
    return redirect(f"/runs/{run.id}?flash={flash}")


@router.post("/jobs/{job_id}/delete")
def delete_job(db: Db, job_id: int) -> Response:
    with db() as store:
        store.jobs.delete(job_id, now())
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
