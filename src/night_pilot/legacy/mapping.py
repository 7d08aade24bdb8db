"""Mapping legacy rows to ours: every prompt, schedule and run becomes the row it will be
stored as, is found imported before (by its legacy id), or is skipped with a reason, and rows
imported with a change the user should know about carry a note. Writes nothing.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..cron import normalize_cron, parse_cron
from ..errors import InvalidCron
from ..models import Job
from ..store.legacy import (
    ImportedJob,
    LegacyImports,
    LegacyJobRow,
    LegacyPromptRow,
    LegacyRunRow,
)
from ..store.legacy_file import LegacyData
from .tables import UNKNOWN_RESULT, UNKNOWN_SCHEDULE_STATE, JobState, result_mapping, schedule_state
from .values import (
    as_legacy_id,
    as_text,
    cron_matches,
    parse_legacy_tags,
    parse_legacy_time,
    parse_token_usage,
    prepare_cron,
)

SAMPLE_SIZE = 20


@dataclass(frozen=True)
class ImportOptions:
    timezone: str  # jobs are scheduled in it, and naive legacy times are read in it
    work_dir: str  # where imported jobs run
    sample_size: int = SAMPLE_SIZE
    seed: int = 0


@dataclass
class TableTally:
    legacy: int = 0
    imported: int = 0
    already: int = 0
    skipped: int = 0


@dataclass
class Plan:
    source: Path
    options: ImportOptions
    prompts: list[LegacyPromptRow] = field(default_factory=list)
    jobs: list[LegacyJobRow] = field(default_factory=list)
    runs: list[LegacyRunRow] = field(default_factory=list)
    tallies: dict[str, TableTally] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    status_map: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    job_states: Counter[str] = field(default_factory=Counter)
    runs_without_job: int = 0
    shared_timestamps: int = 0
    token_usage_stats: dict[str, Any] = field(default_factory=dict)
    other_tables: dict[str, int] = field(default_factory=dict)

    def skip(self, table: str, legacy_id: Any, reason: str) -> None:
        self.tallies[table].skipped += 1
        self.skipped.append({"table": table, "legacy_id": legacy_id, "reason": reason})

    def note(self, table: str, legacy_id: Any, text: str) -> None:
        self.notes.append({"table": table, "legacy_id": legacy_id, "note": text})


def _in_ranges(history: list[dict[str, Any]], table: str) -> set[int]:
    ids: set[int] = set()
    for entry in history:
        for first, last in entry.get("imported_ids", {}).get(table, []):
            ids.update(range(first, last + 1))
    return ids


def plan_import(data: LegacyData, existing: LegacyImports, options: ImportOptions,
                now: datetime) -> Plan:
    """Map every legacy row to what it becomes (or why it is skipped). Writes nothing."""
    plan = Plan(source=data.path, options=options, other_tables=dict(data.other_tables))
    for table in ("prompts", "schedules", "execution_results"):
        plan.tallies[table] = TableTally(legacy=len(data.rows(table)))
    zone = ZoneInfo(options.timezone)
    prompt_ids = _plan_prompts(plan, data, existing, zone, now)
    schedule_ids = _plan_jobs(plan, data, existing, prompt_ids, zone, now)
    _plan_runs(plan, data, existing, schedule_ids, zone)
    plan.token_usage_stats = _summarize(data, "token_usage_stats")
    return plan


def _plan_prompts(plan: Plan, data: LegacyData, existing: LegacyImports, zone: ZoneInfo,
                  now: datetime) -> dict[int, str | None]:
    """Returns legacy prompt id → None when it can be linked to, else why not."""
    tally = plan.tallies["prompts"]
    deleted_since = _in_ranges(existing.history, "prompts") - set(existing.prompts)
    usable: dict[int, str | None] = {lid: None for lid in existing.prompts}
    for row in data.rows("prompts"):
        lid = as_legacy_id(row.get("id"))
        if lid is None:
            plan.skip("prompts", row.get("id"), "its id is not an integer")
            continue
        title, content = as_text(row.get("title")).strip(), as_text(row.get("content"))
        if lid in existing.prompts:
            tally.already += 1
            ours = existing.prompts[lid]
            if (ours.title, ours.content) != (title or ours.title, content):
                plan.note("prompts", lid, f"imported before as prompt {ours.id}, which now "
                          "differs from the legacy row (edited since?); left as it is")
            continue
        if lid in deleted_since:
            tally.already += 1
            usable[lid] = "imported before and deleted since"
            plan.note("prompts", lid, "imported before and deleted since; not imported again")
            continue
        if not content.strip():
            usable[lid] = "its content is empty"
            plan.skip("prompts", lid, "its content is empty; a prompt needs some text")
            continue
        if not title:
            title = f"Legacy prompt {lid}"
            plan.note("prompts", lid, f"no title; titled {title!r}")
        created = _time_or_now(plan, "prompts", lid, "created_at", row.get("created_at"),
                               zone, now)
        plan.prompts.append(LegacyPromptRow(lid, title, content,
                                            parse_legacy_tags(row.get("tags")), created))
        usable[lid] = None
        tally.imported += 1
    return usable


def _time_or_now(plan: Plan, table: str, lid: int, column: str, value: Any, zone: ZoneInfo,
                 now: datetime) -> datetime:
    try:
        parsed = parse_legacy_time(value, zone)
    except ValueError as exc:
        plan.note(table, lid, f"{column} {exc}; the import time is used")
        return now
    return parsed if parsed is not None else now


def _plan_jobs(plan: Plan, data: LegacyData, existing: LegacyImports,
               prompts: dict[int, str | None], zone: ZoneInfo,
               now: datetime) -> dict[int, str | None]:
    """Returns legacy schedule id → None when runs can be linked to its job, else why not."""
    tally = plan.tallies["schedules"]
    statuses: dict[str, dict[str, Any]] = {}
    plan.status_map["schedules"] = statuses
    linkable: dict[int, str | None] = {lid: None for lid in existing.jobs}
    titles = {p.legacy_id: p.title for p in plan.prompts}
    for row in data.rows("schedules"):
        lid = as_legacy_id(row.get("id"))
        raw_status = row.get("status")
        if lid is None:
            plan.skip("schedules", row.get("id"), "its id is not an integer")
            continue
        if lid in existing.jobs:
            tally.already += 1
            _compare_existing_job(plan, lid, row, existing.jobs[lid])
            continue
        schedule = _schedule_of(plan, lid, row, zone)
        if schedule is None:
            linkable[lid] = f"schedule {lid} was skipped (it has no schedule)"
            continue
        cron_expr, run_at, reasons, valid = schedule

        state = schedule_state(raw_status)
        label = state.value if state is not None else f"{UNKNOWN_SCHEDULE_STATE.value} (unknown)"
        entry = statuses.setdefault(str(raw_status), {"to": label, "count": 0})
        entry["count"] += 1
        if state is None:
            state = UNKNOWN_SCHEDULE_STATE
            reasons.append(f"unknown legacy status {raw_status!r}: imported paused")
            plan.note("schedules", lid, f"unknown status {raw_status!r}; imported paused")
        elif state is JobState.PAUSED and str(raw_status).strip().lower() in (
                "failed", "error", "cancelled", "canceled"):
            reasons.append(f"legacy status {raw_status!r}: imported paused")

        prompt_lid = as_legacy_id(row.get("prompt_id"))
        retired_because = None
        if prompt_lid is None or prompt_lid not in prompts:
            retired_because = f"its prompt {row.get('prompt_id')!r} does not exist"
        elif prompts[prompt_lid] is not None:
            retired_because = f"its prompt {prompt_lid} was not imported ({prompts[prompt_lid]})"
        if retired_because:
            reasons.append(f"retired: {retired_because}")
            plan.note("schedules", lid, f"imported as a deleted job: {retired_because}")

        enabled = state is JobState.ENABLED and valid and retired_because is None
        next_run_at = None
        if enabled:
            if cron_expr is not None:
                next_run_at = parse_cron(cron_expr, plan.options.timezone).next_after(now)
                if next_run_at is None:
                    enabled = False
                    reasons.append("its cron never fires again: imported paused")
                    plan.note("schedules", lid, "its cron never fires again; imported paused")
            elif run_at is not None and run_at > now:
                next_run_at = run_at
            else:
                enabled = False
                reasons.append("its one-shot time has passed: imported paused")
                plan.note("schedules", lid, "a one-shot whose time has passed; imported paused")
        if state is JobState.DONE:
            reasons.append(f"legacy status {raw_status!r}: finished")

        if retired_because or prompt_lid is None:
            name, job_state = f"Legacy schedule {lid}", "retired"
        else:
            name = titles.get(prompt_lid) or existing.prompts[prompt_lid].title
            job_state = "enabled" if enabled else ("done" if state is JobState.DONE else "paused")
        description = (f"Imported from the legacy database (schedule {lid}, status "
                       f"{raw_status!r}).")
        for reason in reasons:
            description += f" {reason[0].upper()}{reason[1:]}."
        job = Job(
            prompt_id=None, name=name, description=description, timezone=plan.options.timezone,
            cron_expr=cron_expr, run_at=run_at, enabled=enabled, next_run_at=next_run_at,
            work_dir=plan.options.work_dir,
        )
        created = _time_or_now(plan, "schedules", lid, "created_at", row.get("created_at"),
                               zone, now)
        plan.jobs.append(LegacyJobRow(lid, None if retired_because else prompt_lid, job,
                                      created, retired=retired_because is not None))
        plan.job_states[job_state] += 1
        linkable[lid] = None
        tally.imported += 1
    return linkable


def _schedule_of(plan: Plan, lid: int, row: dict[str, Any], zone: ZoneInfo,
                 ) -> tuple[str | None, datetime | None, list[str], bool] | None:
    """(cron_expr, run_at, reasons, valid) for a schedule, or None if it is skipped.

    A valid cron is stored normalized; an invalid one verbatim (the job is paused and says
    why). Without a cron, `schedule_time` is the one-shot time (or, failing that, a cron)."""
    cron_text = as_text(row.get("cron_expr")).strip()
    reasons: list[str] = []
    if not cron_text:
        raw_time = row.get("schedule_time")
        try:
            at = parse_legacy_time(raw_time, zone)
        except ValueError:
            at = None
            cron_text = as_text(raw_time).strip()
            plan.note("schedules", lid, "no cron_expr; schedule_time read as a cron expression")
        if at is not None:
            return None, at, reasons, True
        if not cron_text:
            plan.skip("schedules", lid, "neither cron_expr nor schedule_time holds a schedule")
            return None
    prepared, changes = prepare_cron(cron_text)
    try:
        expr = normalize_cron(prepared)
    except InvalidCron as exc:
        plan.note("schedules", lid, f"invalid cron {cron_text!r}: {exc.message}; "
                  "imported paused")
        reasons.append(f"paused: invalid cron {cron_text!r}: {exc.message}")
        return cron_text, None, reasons, False
    if changes:
        plan.note("schedules", lid, f"cron {cron_text!r} stored as {expr!r}: "
                  + ", ".join(changes))
    return expr, None, reasons, True


def _compare_existing_job(plan: Plan, lid: int, row: dict[str, Any], ours: ImportedJob) -> None:
    legacy_cron = as_text(row.get("cron_expr")).strip() or None
    if legacy_cron is not None and not cron_matches(legacy_cron, ours.cron_expr):
        plan.note("schedules", lid, f"imported before as job {ours.id} with cron "
                  f"{ours.cron_expr!r}; the legacy row now says {legacy_cron!r}; left as it is")


def _plan_runs(plan: Plan, data: LegacyData, existing: LegacyImports,
               schedules: dict[int, str | None], zone: ZoneInfo) -> None:
    tally = plan.tallies["execution_results"]
    statuses: dict[str, dict[str, Any]] = {}
    plan.status_map["execution_results"] = statuses
    seen: Counter[tuple[int, datetime]] = Counter()
    defaults = Job(prompt_id=None, name="", timezone="UTC")
    for row in data.rows("execution_results"):
        lid = as_legacy_id(row.get("id"))
        if lid is None:
            plan.skip("execution_results", row.get("id"), "its id is not an integer")
            continue
        if lid in existing.runs:
            tally.already += 1
            continue
        try:
            created = parse_legacy_time(row.get("created_at"), zone)
        except ValueError as exc:
            plan.skip("execution_results", lid, f"created_at {exc}")
            continue
        if created is None:
            plan.skip("execution_results", lid, "it has no created_at")
            continue
        raw_status = row.get("status")
        mapping = result_mapping(raw_status)
        label = str(mapping.status) if mapping else f"{UNKNOWN_RESULT.status} (unknown)"
        entry = statuses.setdefault(str(raw_status), {"to": label, "count": 0})
        entry["count"] += 1
        reasons = [f"imported: legacy execution_results {lid}, status {raw_status!r}"]
        if mapping is None:
            mapping = UNKNOWN_RESULT
            plan.note("execution_results", lid,
                      f"unknown status {raw_status!r}; imported as {mapping.status}")
        if mapping.note:
            reasons.append(mapping.note)

        schedule_lid = as_legacy_id(row.get("schedule_id"))
        why_not = (f"schedule {row.get('schedule_id')!r} does not exist"
                   if schedule_lid is None or schedule_lid not in schedules
                   else schedules[schedule_lid])
        if why_not is not None:
            schedule_lid = None
            plan.runs_without_job += 1
            reasons.append(f"no job: {why_not}")
            plan.note("execution_results", lid, f"imported without a job: {why_not}")
        else:
            assert schedule_lid is not None
            seen[(schedule_lid, created)] += 1
            if seen[(schedule_lid, created)] > 1:
                plan.shared_timestamps += 1

        tokens = parse_token_usage(row.get("token_usage"))
        if tokens.note:
            reasons.append(tokens.note)
            if tokens.input is None:
                plan.note("execution_results", lid, tokens.note)
        duration = _number(row.get("execution_time_ms"))
        duration_ms = int(duration) if duration is not None and duration >= 0 else None
        started = None
        if mapping.started or (duration_ms or 0) > 0:
            started = created - timedelta(milliseconds=duration_ms or 0)
        cost = _number(row.get("cost_usd"))
        for column, raw, value in (("execution_time_ms", row.get("execution_time_ms"),
                                    duration_ms), ("cost_usd", row.get("cost_usd"), cost)):
            if raw is not None and value is None:
                plan.note("execution_results", lid, f"{column} {raw!r} is not a usable "
                          "number; not imported")
        content = row.get("content")
        plan.runs.append(LegacyRunRow(
            legacy_id=lid, schedule_legacy_id=schedule_lid, status=mapping.status,
            reason="; ".join(reasons), scheduled_for=created, started_at=started,
            finished_at=created, duration_ms=duration_ms, total_cost_usd=cost,
            input_tokens=tokens.input, output_tokens=tokens.output,
            cache_creation_tokens=tokens.cache_creation, cache_read_tokens=tokens.cache_read,
            result_text=as_text(content) if content is not None else None,
            timeout_s=defaults.timeout_s, idle_timeout_s=defaults.idle_timeout_s,
        ))
        tally.imported += 1


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _summarize(data: LegacyData, name: str) -> dict[str, Any]:
    """A table we do not import, read generically: its rows, columns and numeric totals."""
    table = data.tables.get(name)
    if table is None:
        return {"present": False, "rows": 0}
    totals: dict[str, float] = {}
    for column in table.columns:
        if column == "id":
            continue
        values = [r[column] for r in table.rows]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers and len(numbers) == len([v for v in values if v is not None]):
            total = sum(numbers)
            totals[column] = round(total, 6) if isinstance(total, float) else total
    return {
        "present": True,
        "rows": len(table.rows),
        "columns": table.columns,
        "totals": totals,
        "imported": False,
        "why": "aggregate totals with no per-run or per-response detail; cnp's usage ledger "
               "is built from Claude Code's own transcripts (`cnp usage import`)",
    }
