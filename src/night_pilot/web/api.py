"""The JSON API under /api: what the CLI does, over HTTP. Shapes follow `cnp … --format json`.

Every endpoint is a plain `def` (FastAPI runs it on a worker thread) that opens its own store.
Errors are `{"error": kind, "message": …}` with the status from `deps.status_of`; request
bodies that do not fit their schema are 422 naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, Field

from .. import catalog, runs
from ..errors import InvalidInput
from ..models import RunStatus
from . import views
from .deps import Db, cwd_of, now, zone_of
from .schemas import (
    MAX_ID,
    Body as BodyModel,
    CronCheck,
    Duration,
    Executor,
    JobCreate,
    JobUpdate,
    LongText,
    PromptCreate,
    PromptUpdate,
    ShortText,
    ToolList,
    edited_job,
    spec_of_create,
    tags_of,
)
from .serialize import iso, job_dict, prompt_dict, run_dict


class Error(BaseModel):
    error: str
    message: str
    hint: str | None = None
    field: str | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Error, "description": "No token or session (or a read from elsewhere)"},
    403: {"model": Error, "description": "Wrong token, or a missing or wrong CSRF token"},
    404: {"model": Error, "description": "No such prompt, job or run"},
    409: {"model": Error, "description": "The current state refuses it"},
    422: {"description": "Invalid input; the message or `detail` names the field"},
    503: {"model": Error, "description": "The database cannot be used right now"},
}

router = APIRouter(prefix="/api", responses=ERRORS)

PromptId = Annotated[int, Path(ge=1, le=MAX_ID)]
JobId = Annotated[int, Path(ge=1, le=MAX_ID)]
RunId = Annotated[int, Path(ge=1, le=MAX_ID)]
Json = dict[str, Any]


# -- the whole picture ---------------------------------------------------------------------------


@router.get("/overview", tags=["status"], summary="The overview page's data")
def get_overview(request: Request, db: Db) -> Json:
    with db() as store:
        return views.overview(store, now(), zone_of(request))


@router.get("/status", tags=["status"], summary="`cnp status`")
def get_status(request: Request, db: Db) -> Json:
    with db() as store:
        return views.status(store, now(), db.location, zone_of(request))


@router.get("/health", tags=["status"], summary="`cnp health`")
def get_health(db: Db, fast: bool = False) -> Json:
    from .. import health

    report: Json = health.check(db.location, now(), fast=fast).to_dict()
    return report


@router.get("/cooldown", tags=["status"], summary="`cnp cooldown`: the usage limit in force")
def get_cooldown(db: Db) -> Json:
    with db() as store:
        return views.cooldown_state(store, now())


@router.get("/quota", tags=["status"],
            summary="`cnp quota`: the subscription windows and what the ceilings do")
def get_quota(db: Db) -> Json:
    with db() as store:
        return views.quota_state(store, now())


@router.get("/quota/plan", tags=["status"], summary="`cnp quota plan`: pacing across the week")
def get_quota_plan(db: Db) -> Json:
    import os

    from .. import quota

    with db() as store:
        return quota.plan(store, now(), quota.shown_account(store, os.environ))


@router.post("/cooldown/clear", tags=["status"], summary="`cnp cooldown clear`")
def clear_cooldown(db: Db) -> Json:
    with db() as store:
        return {"cleared": store.cooldowns.clear(now())}


@router.get("/usage", tags=["status"], summary="Tokens and cost of runs by day and by job")
def get_usage(request: Request, db: Db,
              days: Annotated[int, Query(ge=1, le=366)] = 30) -> Json:
    with db() as store:
        return views.usage(store, now(), zone_of(request), days)


# -- prompts -------------------------------------------------------------------------------------


@router.get("/prompts", tags=["prompts"], summary="`cnp prompt list [--tag]`")
def list_prompts(db: Db, tag: Annotated[str | None, Query(max_length=1000)] = None) -> Json:
    with db() as store:
        return views.prompts(store, tag or None)


@router.post("/prompts", tags=["prompts"], status_code=201, summary="`cnp prompt create`")
def create_prompt(db: Db, body: PromptCreate) -> Json:
    p = catalog.make_prompt(body.title, body.content, tags_of(body.tags) or [])
    with db() as store:
        [prompt_id] = store.prompts.insert_many([p], now(), actor="web")
        return prompt_dict(store.prompts.get(prompt_id))


@router.get("/prompts/export", tags=["prompts"], summary="`cnp prompt export`")
def export_prompts(db: Db) -> Json:
    with db() as store:
        return catalog.export_prompts(store)


@router.post("/prompts/import", tags=["prompts"], status_code=201,
             summary="`cnp prompt import`: all of them, or none if any is invalid")
def import_prompts(db: Db, body: Annotated[dict[str, Any] | list[Any], Body()]) -> Json:
    import json

    prompts = catalog.parse_prompt_export(json.dumps(body), "the request body")
    with db() as store:
        ids = store.prompts.insert_many(prompts, now(), actor="web")
    return {"imported": len(ids), "ids": ids}


@router.get("/prompts/{prompt_id}", tags=["prompts"], summary="`cnp prompt show`")
def get_prompt(db: Db, prompt_id: PromptId) -> Json:
    with db() as store:
        return views.prompt(store, prompt_id)


@router.patch("/prompts/{prompt_id}", tags=["prompts"], summary="`cnp prompt edit`")
def edit_prompt(db: Db, prompt_id: PromptId, body: PromptUpdate) -> Json:
    if body.title is None and body.content is None and body.tags is None:
        raise InvalidInput("nothing to change: give title, content or tags")
    with db() as store:
        p = catalog.edit_prompt(store, prompt_id, now(), title=body.title, content=body.content,
                                tags=tags_of(body.tags))
        return prompt_dict(p)


@router.delete("/prompts/{prompt_id}", tags=["prompts"],
               summary="`cnp prompt delete` (409 naming the jobs that still use it)")
def delete_prompt(db: Db, prompt_id: PromptId) -> Json:
    with db() as store:
        store.prompts.delete(prompt_id, now())
    return {"id": prompt_id, "deleted": True}


# -- jobs ----------------------------------------------------------------------------------------


@router.get("/jobs", tags=["jobs"], summary="`cnp job list [--all]`")
def list_jobs(db: Db, include_deleted: bool = False) -> Json:
    with db() as store:
        return views.jobs(store, include_deleted)


@router.post("/jobs", tags=["jobs"], status_code=201,
             summary="`cnp job create` (dry_run: validate and show, store nothing)")
def create_job(request: Request, response: Response, db: Db, body: JobCreate) -> Json:
    spec = spec_of_create(body)
    at = now()
    with db() as store:
        if body.dry_run:
            built = catalog.build_job(spec, store.prompts.get(body.prompt_id), at, cwd_of(request))
            schedule = catalog.schedule_of(built)
            response.status_code = 200
            return {"dry_run": True, "job": job_dict(built, schedule.describe()),
                    "next_fire_times": [iso(t) for t in schedule.next_times(at, 5)]}
        created = catalog.create_job(store, spec, at, cwd_of(request))
        return views.job(store, created.id or 0, at)


@router.get("/jobs/{job_id}", tags=["jobs"],
            summary="`cnp job show`, with the next five fire times and the recent runs")
def get_job(db: Db, job_id: JobId) -> Json:
    with db() as store:
        return views.job(store, job_id, now())


@router.patch("/jobs/{job_id}", tags=["jobs"],
              summary="Change a job (the fields given); validated as `job create` is")
def update_job(request: Request, db: Db, job_id: JobId, body: JobUpdate) -> Json:
    at = now()
    with db() as store:
        current = store.jobs.get(job_id)
        job, rescheduled = edited_job(current, body, store.prompts.get, at, cwd_of(request))
        store.jobs.update(job_id, job, at, reschedule=rescheduled)
        return views.job(store, job_id, at)


@router.delete("/jobs/{job_id}", tags=["jobs"], summary="`cnp job delete` (history is kept)")
def delete_job(db: Db, job_id: JobId) -> Json:
    with db() as store:
        store.jobs.delete(job_id, now())
    return {"id": job_id, "deleted": True}


@router.post("/jobs/{job_id}/pause", tags=["jobs"], summary="`cnp job pause`")
def pause_job(db: Db, job_id: JobId) -> Json:
    with db() as store:
        return job_dict(catalog.pause_job(store, job_id, now()))


@router.post("/jobs/{job_id}/resume", tags=["jobs"], summary="`cnp job resume`")
def resume_job(db: Db, job_id: JobId) -> Json:
    with db() as store:
        return job_dict(catalog.resume_job(store, job_id, now()))


@router.post("/jobs/{job_id}/trigger", tags=["jobs"], status_code=201,
             summary="`cnp job trigger`: a manual run, started by the daemon")
def trigger_job(db: Db, job_id: JobId) -> Json:
    from ..daemons import daemon_alive
    from ..runs import trigger_job as trigger

    with db() as store:
        at = now()
        run = trigger(store, job_id, at)
        data = run_dict(run)
        data["daemon_running"] = daemon_alive(store, at) is not None
    return data


@router.get("/jobs/{job_id}/next", tags=["jobs"], summary="`cnp job next`")
def next_fire_times(db: Db, job_id: JobId, count: Annotated[int, Query(ge=1, le=1000)] = 5,
                    after: Annotated[str | None, Query(max_length=100)] = None) -> Json:
    with db() as store:
        j = store.jobs.get(job_id, include_deleted=True)
    start = now()
    if after:
        try:
            start = datetime.fromisoformat(after)
        except ValueError as exc:
            raise InvalidInput(f"after={after!r} is not an ISO 8601 date-time") from exc
        if start.tzinfo is None:
            start = start.replace(tzinfo=ZoneInfo(j.timezone))
    schedule = catalog.schedule_of(j)
    return {"id": j.id, "timezone": j.timezone, "description": schedule.describe(),
            "after": iso(start),
            "next_fire_times": [iso(t) for t in schedule.next_times(start, count)]}


@router.get("/cron", tags=["jobs"],
            summary="Check a schedule: plain English and the next fire times, or 422 naming "
                    "the field")
def check_cron(params: Annotated[CronCheck, Query()]) -> Json:
    return views.schedule_check(params.cron, params.at, params.timezone, now(), params.count)


# -- runs -----------------------------------------------------------------------------------------

StatusFilter = Annotated[str | None, Query(pattern="^(" + "|".join(RunStatus.values()) + ")$")]


@router.get("/runs", tags=["runs"], summary="`cnp runs`, paginated")
def list_runs(
    db: Db,
    job_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: StatusFilter = None,
    page: Annotated[int, Query(ge=1, le=10_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = views.PER_PAGE,
) -> Json:
    with db() as store:
        return views.run_list(store, job_id=job_id, status=status, page=page,
                                per_page=per_page)


@router.get("/runs/{run_id}", tags=["runs"],
            summary="`cnp run show [--events]`")
def get_run(db: Db, run_id: RunId, events: bool = False) -> Json:
    with db() as store:
        return views.run_detail(store, run_id, with_events=events)


@router.get("/runs/{run_id}/events", tags=["runs"],
            summary="The lines a run printed after `after_seq` (poll this to follow a run)")
def get_events(db: Db, run_id: RunId,
               after_seq: Annotated[int, Query(ge=-1, le=MAX_ID)] = -1,
               limit: Annotated[int, Query(ge=1, le=10_000)] = views.EVENT_PAGE) -> Json:
    with db() as store:
        return views.events(store, run_id, after_seq, limit)


@router.post("/runs/{run_id}/cancel", tags=["runs"],
             summary="`cnp run cancel`")
def cancel_run(db: Db, run_id: RunId) -> Json:
    with db() as store:
        return cancel(store, run_id)


def cancel(store: Any, run_id: int) -> Json:
    status = runs.cancel(store, run_id, now())
    return {"id": run_id, "status": str(status),
            "cancel_requested": runs.stop_requested(status)}


class ExecuteBody(BodyModel):
    """`cnp execute --mode async`: queue a prompt for the daemon."""

    prompt: LongText
    work_dir: ShortText | None = None
    executor: Executor = "claude"
    model: ShortText | None = None
    allowed_tools: ToolList | None = None
    disallowed_tools: ToolList | None = None
    permission_mode: ShortText | None = None
    max_turns: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    timeout: Duration | None = None
    idle_timeout: Duration | None = None
    retries: Annotated[int, Field(ge=0, le=20)] = 2
    force: bool = False


@router.post("/execute", tags=["runs"], status_code=201,
             summary="`cnp execute --mode async`: run a prompt once, by the daemon")
def execute(request: Request, db: Db, body: ExecuteBody) -> Json:
    from ..models import ExecutorKind, RunSettings

    text = catalog.check_content(body.prompt)
    tools = {k: (v if v is None or isinstance(v, str) else ",".join(v))
             for k, v in (("allowed", body.allowed_tools), ("disallowed", body.disallowed_tools))}
    options = catalog.validate_claude_options(
        model=body.model, allowed_tools=tools["allowed"], disallowed_tools=tools["disallowed"],
        permission_mode=body.permission_mode, max_turns=body.max_turns)
    settings = RunSettings(
        executor=ExecutorKind(body.executor),
        work_dir=catalog.check_work_dir(body.work_dir, cwd_of(request)),
        options=options,
        timeout_s=catalog.parse_duration(str(body.timeout or "1h"), "timeout"),
        idle_timeout_s=catalog.parse_duration(str(body.idle_timeout or "10m"), "idle_timeout"),
        max_attempts=body.retries + 1,
        prompt_text=text,
    )
    at = now()
    with db() as store:
        if body.executor == "claude" and not body.force:
            runs.refuse_during_cooldown(
                store, at, hint="wait for the reset, or send force=true (it may spend quota)")
        run, _ = runs.create_adhoc(store, settings, at)
        return run_dict(run)
