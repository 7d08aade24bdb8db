"""The data behind every page, as JSON-ready dicts: the API returns them as they are and the
templates render them, so each page and its JSON twin always show the same facts.

Each function takes an open store and `now`; none reads the clock or renders anything.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .. import catalog
from ..config import DbLocation
from ..models import RunStatus
from ..store import Store
from .events import summarize
from .serialize import cooldown_dict, iso, job_dict, prompt_dict, run_dict, run_row_dict

PER_PAGE = 50


def cooldown_state(store: Store, now: datetime) -> dict[str, Any]:
    """The usage limit in force, shaped as `cnp cooldown --format json`."""
    return cooldown_dict(store.cooldowns.active(now), now)


def quota_state(store: Store, now: datetime) -> dict[str, Any]:
    """The subscription windows, shaped as `cnp quota --format json`."""
    import os

    from .. import quota

    return quota.report(store, now, quota.shown_account(store, os.environ))


def daemon_state(store: Store, now: datetime) -> dict[str, Any]:
    from ..daemons import DAEMON_STALE_AFTER

    rows = []
    alive = None
    for d in store.daemons.live():
        age = (now - datetime.fromisoformat(str(d["heartbeat_at"]))).total_seconds()
        row = {"instance": d["instance_id"], "host": d["host"], "pid": d["pid"],
               "version": d["version"], "role": d["role"], "started_at": d["started_at"],
               "heartbeat_at": d["heartbeat_at"], "heartbeat_age_s": round(age, 1),
               "fresh": age < DAEMON_STALE_AFTER.total_seconds()}
        rows.append(row)
        if alive is None and row["fresh"] and d["role"] == "active":
            alive = row
    return {"running": alive is not None, "active": alive, "daemons": rows}


def local_midnight(now: datetime, zone: ZoneInfo) -> datetime:
    return now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)


def overview(store: Store, now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    today = store.usage.runs_since(local_midnight(now, zone).astimezone(UTC))
    next_runs = []
    for j in store.jobs.upcoming(10):
        next_runs.append({"job_id": j["id"], "name": j["name"],
                          "schedule": j["cron_expr"] or f"@at {iso(j['run_at'])}",
                          "timezone": j["timezone"], "next_run_at": iso(j["next_run_at"])})
    return {
        "now": iso(now),
        "daemon": daemon_state(store, now),
        "cooldown": cooldown_state(store, now),
        "quota": quota_state(store, now),
        "counts": store.dashboard_counts(),
        "next_runs": next_runs,
        "open_runs": _with_api_retries(store, [run_row_dict(r) for r in store.runs.open(20)]),
        "recent_failures": _with_api_retries(
            store, [run_row_dict(r) for r in store.runs.recent_failures(5)]),
        "today": {"since": iso(local_midnight(now, zone)), **today},
    }


def status(store: Store, now: datetime, location: DbLocation, zone: ZoneInfo) -> dict[str, Any]:
    """`cnp status --format json`, field for field."""
    from ..daemons import daemon_alive
    from ..health import status_report

    return status_report(store, now, database=location.display(),
                         daemon=daemon_alive(store, now),
                         since=local_midnight(now, zone).astimezone(UTC))


# -- prompts ------------------------------------------------------------------------------------


def prompts(store: Store, tag: str | None) -> dict[str, Any]:
    all_prompts = store.prompts.all()
    tags = sorted({t for p in all_prompts for t in p.tags}, key=str.lower)
    shown = [p for p in all_prompts if tag in p.tags] if tag else all_prompts
    return {"tag": tag, "tags": tags, "prompts": [prompt_dict(p) for p in shown]}


def prompt(store: Store, prompt_id: int) -> dict[str, Any]:
    data = prompt_dict(store.prompts.get(prompt_id))
    data["used_by_jobs"] = store.jobs.using_prompt(prompt_id)
    return data


# -- jobs ---------------------------------------------------------------------------------------


def jobs(store: Store, include_deleted: bool = False) -> dict[str, Any]:
    return {"jobs": [job_dict(j, catalog.describe_job(j))
                     for j in store.jobs.all(include_deleted=include_deleted)]}


def fire_times(job: Any, now: datetime, count: int = 5) -> list[str]:
    try:
        return [t.isoformat() for t in catalog.schedule_of(job).next_times(now, count)]
    except Exception:  # a job imported with an unreadable schedule: described as such
        return []


def job(store: Store, job_id: int, now: datetime) -> dict[str, Any]:
    j = store.jobs.get(job_id, include_deleted=True)
    data = job_dict(j, catalog.describe_job(j))
    data["next_fire_times"] = fire_times(j, now) if j.deleted_at is None else []
    data["prompt_title"] = None
    if j.prompt_id is not None:
        data["prompt_title"] = store.prompts.get(j.prompt_id).title
    data["recent_runs"] = [run_row_dict(r) for r in store.runs.page(job_id=job_id,
                                                                          limit=10)]
    return data


def schedule_check(cron: str | None, at: str | None, timezone: str | None, now: datetime,
                   count: int = 5) -> dict[str, Any]:
    """Validate a schedule as `job create` would; raises InvalidCron/InvalidInput."""
    from ..cron import parse_at, parse_cron

    if cron and at:
        from ..errors import InvalidInput

        raise InvalidInput("give either a cron expression or an 'at' time, not both")
    schedule: Any
    if at:
        schedule = parse_at(at, timezone or None, now=now)
    else:
        from ..errors import InvalidCron

        if not cron or not cron.strip():
            raise InvalidCron("the cron expression is empty", field="expression")
        schedule = parse_cron(cron, timezone or None)
    return {
        "valid": True,
        "expr": None if at else schedule.expr,
        "run_at": iso(schedule.at) if at else None,
        "timezone": schedule.timezone,
        "description": schedule.describe(),
        "next_fire_times": [t.isoformat() for t in schedule.next_times(now, count)],
    }


# -- runs -----------------------------------------------------------------------------------------


def run_list(store: Store, *, job_id: int | None, status: str | None, page: int,
               per_page: int = PER_PAGE) -> dict[str, Any]:
    total = store.runs.count(job_id=job_id, status=status)
    pages = max(1, math.ceil(total / per_page))
    rows = store.runs.page(job_id=job_id, status=status, limit=per_page,
                          offset=(page - 1) * per_page)
    return {"filters": {"job_id": job_id, "status": status}, "page": page,
            "per_page": per_page, "pages": pages, "total": total,
            "runs": _with_api_retries(store, [run_row_dict(r) for r in rows])}


def _with_api_retries(store: Store, shown: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each run's own API retries beside it: how many, and in words."""
    from ..runs import api_retry_notes

    notes = api_retry_notes(store, {row["id"]: row["status"] for row in shown})
    for row in shown:
        row["api_retries"], row["api_retry"] = notes.get(row["id"], (0, None))
    return shown


EVENT_PAGE = 2000


def events(store: Store, run_id: int, after_seq: int = -1,
           limit: int = EVENT_PAGE) -> dict[str, Any]:
    run = store.runs.get(run_id)
    rows = store.events.page(run_id, after_seq, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    for row in rows:
        row["kind"], row["summary"] = summarize(row)
    last = rows[-1]["seq"] if rows else after_seq
    return {"run_id": run_id, "status": str(run.status),
            "done": run.status.is_terminal and not more, "after_seq": after_seq,
            "last_seq": last, "more": more, "events": rows}


def run_detail(store: Store, run_id: int, *, with_events: bool) -> dict[str, Any]:
    run = store.runs.get(run_id)
    [data] = _with_api_retries(store, [run_dict(run)])
    data["prompt_text"] = store.runs.prompt_text(run_id)
    follow = store.runs.next_attempt_of(run_id)
    data["next_attempt_id"] = follow.id if follow else None
    data["active"] = not run.status.is_terminal
    data["cancellable"] = run.status in (RunStatus.PENDING, RunStatus.QUEUED, RunStatus.RUNNING,
                                         RunStatus.RETRY_WAIT, RunStatus.DEFERRED)
    if with_events:
        data["events"] = events(store, run_id)
    return data


# -- usage --------------------------------------------------------------------------------------


def usage(store: Store, now: datetime, zone: ZoneInfo, days: int) -> dict[str, Any]:
    """Tokens and cost of the runs started in the last `days` local days, by day and by job
    (from each run's result event)."""
    first_day = (local_midnight(now, zone) - timedelta(days=days - 1)).date()
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=zone)
    by_day: dict[str, dict[str, Any]] = {}
    for i in range(days):
        day = first_day + timedelta(days=i)
        by_day[day.isoformat()] = _zero(date=day.isoformat())
    for q in store.usage.runs_by_quarter(start.astimezone(UTC), now + timedelta(seconds=1)):
        quarter = datetime.fromisoformat(q["quarter"]).replace(tzinfo=UTC)
        key = quarter.astimezone(zone).date().isoformat()
        if key in by_day:
            _add(by_day[key], q)
    by_job = []
    for r in store.usage.runs_by_job(start.astimezone(UTC), now + timedelta(seconds=1)):
        item = _zero(job_id=r["job_id"], job_name=r["job_name"] or (
            "ad-hoc (cnp execute)" if r["job_id"] is None else f"job {r['job_id']}"))
        _add(item, r)
        by_job.append(item)
    totals = _zero()
    for d in by_day.values():
        _add(totals, d)
    return {"days": days, "timezone": str(zone), "since": start.isoformat(),
            "by_day": list(by_day.values()), "by_job": by_job, "totals": totals}


_SUMS = ("runs", "input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")


def _zero(**extra: Any) -> dict[str, Any]:
    return {**extra, **dict.fromkeys(_SUMS, 0), "cost_usd": 0.0}


def _add(into: dict[str, Any], row: Any) -> None:
    for key in _SUMS:
        into[key] += int(row[key] or 0)
    into["cost_usd"] = round(into["cost_usd"] + float(row["cost_usd"] or 0.0), 6)
