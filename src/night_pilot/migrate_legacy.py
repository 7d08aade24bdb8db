"""Importing the Rust tool's database (`cnp migrate legacy`): find it, read it, map every row,
write the result in one transaction, and reconcile both sides in a report that is printed and
kept in the audit log.

A service: it decides and maps; the store reads the legacy file (read-only) and writes ours. It
never reads the clock (`now` is passed in). The mapping tables below are the whole contract for
legacy statuses: a status not listed is imported in the safe state and reported, never guessed.

Every legacy row ends up in exactly one of: imported now, imported before (found by its legacy
id, so a re-run adds nothing), or skipped with a reason. Rows imported with a change the user
should know about (paused for an invalid cron, a run without its schedule, …) carry a note.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .config import DB_FILENAME, LEGACY_DB_FILENAME
from .cron import normalize_cron, parse_cron
from .errors import Conflict, InvalidCron, InvalidInput, NotFound
from .models import Job, RunStatus
from .store import Store
from .store.legacy import (
    ImportedJob,
    LegacyData,
    LegacyImports,
    LegacyJobRow,
    LegacyPromptRow,
    LegacyQueries,
    LegacyRunRow,
)

# The file names the old tool wrote, wherever it was started. Ours is the second one too, so a
# candidate is only taken when it has the legacy schema and is not the database cnp uses.
CANDIDATE_NAMES = (LEGACY_DB_FILENAME, DB_FILENAME)
SAMPLE_SIZE = 20
# A legacy epoch at or above this many units is read as milliseconds (then µs, ns): 1e11 seconds
# is the year 5138, 1e11 milliseconds is March 1973.
_EPOCH_LIMIT = 1e11
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- the mapping tables -------------------------------------------------------------------------


class JobState(Enum):
    ENABLED = "enabled"  # fires on its schedule from now on
    PAUSED = "paused"  # stored disabled; `cnp job resume` starts it
    DONE = "done"  # a finished one-shot (or finished schedule): disabled, nothing to fire


# Legacy `schedules.status`, lower-cased and trimmed → what our job becomes.
SCHEDULE_STATUS: dict[str, JobState] = {
    "active": JobState.ENABLED,
    "enabled": JobState.ENABLED,
    "pending": JobState.ENABLED,
    "scheduled": JobState.ENABLED,
    "running": JobState.ENABLED,  # it was firing when the old tool stopped
    "paused": JobState.PAUSED,
    "inactive": JobState.PAUSED,
    "disabled": JobState.PAUSED,
    "stopped": JobState.PAUSED,
    "suspended": JobState.PAUSED,
    "failed": JobState.PAUSED,  # the old tool gave up on it: resume by hand
    "error": JobState.PAUSED,
    "cancelled": JobState.PAUSED,
    "canceled": JobState.PAUSED,
    "completed": JobState.DONE,
    "complete": JobState.DONE,
    "done": JobState.DONE,
    "finished": JobState.DONE,
}
# Shown in the report when a status is not in the table above.
UNKNOWN_SCHEDULE_STATE = JobState.PAUSED


@dataclass(frozen=True)
class RunMapping:
    status: RunStatus
    started: bool  # did the process run (started_at is set)?
    note: str = ""


_STILL_RUNNING = "still running when the old tool stopped; its outcome was never recorded"
_NEVER_RAN = "still pending in the old tool; it never ran"

# Legacy `execution_results.status`, lower-cased and trimmed → our run status. Every imported
# run is terminal: nothing the import writes can ever be claimed or executed by a daemon.
RESULT_STATUS: dict[str, RunMapping] = {
    "completed": RunMapping(RunStatus.COMPLETED, True),
    "complete": RunMapping(RunStatus.COMPLETED, True),
    "success": RunMapping(RunStatus.COMPLETED, True),
    "succeeded": RunMapping(RunStatus.COMPLETED, True),
    "successful": RunMapping(RunStatus.COMPLETED, True),
    "done": RunMapping(RunStatus.COMPLETED, True),
    "ok": RunMapping(RunStatus.COMPLETED, True),
    "failed": RunMapping(RunStatus.FAILED, True),
    "failure": RunMapping(RunStatus.FAILED, True),
    "error": RunMapping(RunStatus.FAILED, True),
    "errored": RunMapping(RunStatus.FAILED, True),
    "timeout": RunMapping(RunStatus.FAILED, True, "timed out"),
    "timed_out": RunMapping(RunStatus.FAILED, True, "timed out"),
    "timedout": RunMapping(RunStatus.FAILED, True, "timed out"),
    "cancelled": RunMapping(RunStatus.CANCELLED, False),
    "canceled": RunMapping(RunStatus.CANCELLED, False),
    "aborted": RunMapping(RunStatus.CANCELLED, False),
    "killed": RunMapping(RunStatus.CANCELLED, True),
    "skipped": RunMapping(RunStatus.SKIPPED, False),
    "missed": RunMapping(RunStatus.MISSED, False),
    "running": RunMapping(RunStatus.INTERRUPTED, True, _STILL_RUNNING),
    "in_progress": RunMapping(RunStatus.INTERRUPTED, True, _STILL_RUNNING),
    "started": RunMapping(RunStatus.INTERRUPTED, True, _STILL_RUNNING),
    "pending": RunMapping(RunStatus.MISSED, False, _NEVER_RAN),
    "queued": RunMapping(RunStatus.MISSED, False, _NEVER_RAN),
    "scheduled": RunMapping(RunStatus.MISSED, False, _NEVER_RAN),
}
UNKNOWN_RESULT = RunMapping(RunStatus.INTERRUPTED, False, "unknown legacy status: outcome unknown")


def schedule_state(raw: Any) -> JobState | None:
    """The job state for a legacy schedule status, or None when the status is not known."""
    return SCHEDULE_STATUS.get(str(raw).strip().lower()) if raw is not None else None


def result_mapping(raw: Any) -> RunMapping | None:
    """The run status for a legacy result status, or None when the status is not known."""
    return RESULT_STATUS.get(str(raw).strip().lower()) if raw is not None else None


# -- reading legacy values ----------------------------------------------------------------------


def parse_legacy_time(value: Any, zone: ZoneInfo) -> datetime | None:
    """An instant from what the old tool stored: RFC 3339 text (with an offset or Z), naive
    text (read in `zone`), or epoch seconds (milliseconds and finer when implausibly large).
    None or blank → None; anything else raises ValueError naming the value."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, (int, float)):
        return _from_epoch(float(value), value)
    text = str(value).strip()
    if not text:
        return None
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return _from_epoch(float(text), value)
    if text.upper().endswith(" UTC"):
        text = text[:-4] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def _from_epoch(number: float, original: Any) -> datetime:
    if not math.isfinite(number):
        raise ValueError(f"{original!r} is not a time")
    while abs(number) >= _EPOCH_LIMIT:
        number /= 1000
    try:
        return _EPOCH + timedelta(seconds=number)
    except OverflowError:
        raise ValueError(f"{original!r} is not a time") from None


def parse_legacy_tags(value: Any) -> list[str]:
    """Tags stored as a JSON array or as comma-separated text; trimmed, deduplicated.
    A comma inside one JSON tag splits it (ours are stored comma-separated)."""
    if value is None:
        return []
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    items: list[Any] = [text]
    if text.strip().startswith("["):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError:
            loaded = None
        if isinstance(loaded, list):
            items = loaded
    tags: list[str] = []
    for item in items:
        if item is None:
            continue
        for part in str(item).split(","):
            tag = part.strip()
            if tag and tag not in tags:
                tags.append(tag)
    return tags


@dataclass(frozen=True)
class Tokens:
    input: int | None = None
    output: int | None = None
    cache_creation: int | None = None
    cache_read: int | None = None
    note: str = ""


_TOKEN_KEYS = {
    "input": ("input_tokens", "input", "prompt_tokens"),
    "output": ("output_tokens", "output", "completion_tokens"),
    "cache_creation": ("cache_creation_input_tokens", "cache_creation_tokens", "cache_creation"),
    "cache_read": ("cache_read_input_tokens", "cache_read_tokens", "cache_read"),
}
_TOTAL_NOTE = "token_usage {} is a total with no split; stored as input tokens"


def parse_token_usage(value: Any) -> Tokens:
    """`token_usage`: a total (an int, or a number in text) or a JSON object of counts.
    A total has no input/output split; it is kept as input tokens, so totals add up."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return Tokens()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return Tokens(note=f"token_usage {value!r} not understood; not imported")
    if isinstance(value, dict) and isinstance(value.get("usage"), dict):
        value = value["usage"]
    total = _count(value)
    if total is not None:
        return Tokens(input=total, note=_TOTAL_NOTE.format(total))
    if isinstance(value, dict):
        counts = {name: _first_count(value, keys) for name, keys in _TOKEN_KEYS.items()}
        if any(v is not None for v in counts.values()):
            return Tokens(input=counts["input"], output=counts["output"],
                          cache_creation=counts["cache_creation"],
                          cache_read=counts["cache_read"])
        for key in ("total_tokens", "total"):
            total = _count(value.get(key))
            if total is not None:
                return Tokens(input=total, note=_TOTAL_NOTE.format(total))
    return Tokens(note=f"token_usage {json.dumps(value)[:80]} not understood; not imported")


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _first_count(data: Mapping[str, Any], keys: Iterable[str]) -> int | None:
    for key in keys:
        count = _count(data.get(key))
        if count is not None:
            return count
    return None


def prepare_cron(text: str) -> tuple[str, list[str]]:
    """The legacy cron in our dialect, with what was changed: a 7th (year) field of `*` is
    dropped and Quartz's `?` (no specific value) becomes `*`. Everything else is kept as is
    and left to our cron module to validate (6 fields are seconds first in both tools)."""
    parts = text.split()
    notes = []
    if len(parts) == 7 and parts[6] in ("*", "?"):
        parts = parts[:6]
        notes.append("the year field '*' was dropped")
    if len(parts) in (5, 6) and "?" in parts:
        parts = ["*" if p == "?" else p for p in parts]
        notes.append("'?' was read as '*'")
    return " ".join(parts), notes


# -- finding the legacy database ----------------------------------------------------------------


@dataclass
class Discovery:
    found: list[Path] = field(default_factory=list)
    passed_over: list[dict[str, str]] = field(default_factory=list)


def find_legacy_databases(cwd: Path, home: Path, ours: Path | None) -> Discovery:
    """Legacy databases under the names the old tool used, in the working directory and the
    data directory. Our own database is never a candidate: not by path (resolved), and not by
    content (it has a schema_migrations table)."""
    result = Discovery()
    seen: set[Path] = set()
    ours_resolved = ours.resolve() if ours is not None else None
    for folder in (cwd, home):
        for name in CANDIDATE_NAMES:
            path = folder / name
            if not path.is_file():
                continue
            resolved = path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            if resolved == ours_resolved:
                result.passed_over.append({"path": str(path),
                                           "reason": "the database cnp itself uses"})
                continue
            probe = LegacyQueries.probe_database(path)
            if probe.kind == "legacy":
                result.found.append(path)
            else:
                result.passed_over.append({"path": str(path), "reason": probe.detail})
    return result


def choose_legacy_database(cwd: Path, home: Path, ours: Path | None) -> Path:
    """The one legacy database to import when no PATH was given, or a clear error."""
    found = find_legacy_databases(cwd, home, ours)
    names = " or ".join(CANDIDATE_NAMES)
    if not found.found:
        passed = "".join(f"; passed over {p['path']}: {p['reason']}" for p in found.passed_over)
        raise NotFound(
            f"no legacy database found: looked for {names} in {cwd} and {home}{passed}",
            hint="give its path: cnp migrate legacy PATH",
        )
    if len(found.found) > 1:
        listed = ", ".join(str(p) for p in found.found)
        raise Conflict(
            f"found {len(found.found)} legacy databases: {listed}; import them one at a time",
            hint="name one: cnp migrate legacy PATH (legacy ids are per file, so two different "
            "legacy databases should not be merged into one cnp database)",
        )
    return found.found[0]


def check_legacy_path(path: Path, ours: Path | None) -> Path:
    """A PATH given on the command line: an existing file that is not our own database."""
    if not path.exists():
        raise InvalidInput(f"{path} does not exist")
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file")
    if ours is not None and path.resolve() == ours.resolve():
        raise InvalidInput(
            f"{path} is the database cnp itself uses, not a legacy one",
            hint="give the old tool's database file",
        )
    return path


# -- mapping ------------------------------------------------------------------------------------


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


def _legacy_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _ranges(ids: Iterable[int]) -> list[list[int]]:
    """Sorted ids as [first, last] runs: legacy ids are mostly consecutive."""
    out: list[list[int]] = []
    for i in sorted(set(ids)):
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


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
        lid = _legacy_id(row.get("id"))
        if lid is None:
            plan.skip("prompts", row.get("id"), "its id is not an integer")
            continue
        title, content = _text(row.get("title")).strip(), _text(row.get("content"))
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
        lid = _legacy_id(row.get("id"))
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

        prompt_lid = _legacy_id(row.get("prompt_id"))
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
    cron_text = _text(row.get("cron_expr")).strip()
    reasons: list[str] = []
    if not cron_text:
        raw_time = row.get("schedule_time")
        try:
            at = parse_legacy_time(raw_time, zone)
        except ValueError:
            at = None
            cron_text = _text(raw_time).strip()
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
    legacy_cron = _text(row.get("cron_expr")).strip() or None
    if legacy_cron is not None and not _cron_matches(legacy_cron, ours.cron_expr):
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
        lid = _legacy_id(row.get("id"))
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

        schedule_lid = _legacy_id(row.get("schedule_id"))
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
            result_text=_text(content) if content is not None else None,
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


# -- reconciliation -----------------------------------------------------------------------------


def _cron_matches(legacy: str | None, ours: str | None) -> bool:
    if legacy is None or ours is None:
        return legacy is None and ours is None
    if " ".join(legacy.split()) == ours:
        return True
    try:
        return normalize_cron(prepare_cron(legacy)[0]) == ours
    except InvalidCron:
        return False


def compare_sample(data: LegacyData, ours: dict[int, ImportedJob], plan: Plan,
                   ) -> dict[str, Any]:
    """Field by field, for a seeded random sample of legacy schedules: the prompt (through the
    legacy id map) and the cron expression (and the one-shot time, for one-shots)."""
    options = plan.options
    zone = ZoneInfo(options.timezone)
    rows = {lid: r for r in data.rows("schedules")
            if (lid := _legacy_id(r.get("id"))) is not None}
    ids = sorted(rows)
    picked = sorted(random.Random(options.seed).sample(ids, min(options.sample_size, len(ids))))
    skipped = {s["legacy_id"]: s["reason"] for s in plan.skipped if s["table"] == "schedules"}
    entries = []
    for lid in picked:
        row, job = rows[lid], ours.get(lid)
        legacy_prompt = _legacy_id(row.get("prompt_id"))
        legacy_cron = _text(row.get("cron_expr")).strip() or None
        entry: dict[str, Any] = {"schedule": lid, "job": job.id if job else None}
        if job is None:
            entry["note"] = f"not imported: {skipped.get(lid, 'unknown reason')}"
        elif job.deleted:
            entry["note"] = "retired: imported as a deleted job"
        prompt_ok = job is not None and job.prompt_legacy_id == legacy_prompt
        entry["prompt_id"] = {
            "legacy": row.get("prompt_id"),
            "ours": job.prompt_id if job else None,
            "ours_legacy": job.prompt_legacy_id if job else None,
            "match": prompt_ok,
        }
        ours_cron = job.cron_expr if job else None
        if legacy_cron is None and ours_cron is not None:
            legacy_cron_view = _text(row.get("schedule_time")).strip() or None
        else:
            legacy_cron_view = legacy_cron
        cron_ok = job is not None and _cron_matches(legacy_cron_view, ours_cron)
        entry["cron_expr"] = {"legacy": legacy_cron, "ours": ours_cron, "match": cron_ok}
        fields_ok = [prompt_ok, cron_ok]
        if job is not None and job.run_at is not None:
            try:
                legacy_at = parse_legacy_time(row.get("schedule_time"), zone)
            except ValueError:
                legacy_at = None
            at_ok = legacy_at == job.run_at
            entry["run_at"] = {"legacy": _text(row.get("schedule_time")),
                               "ours": job.run_at.isoformat(), "match": at_ok}
            fields_ok.append(at_ok)
        entry["match"] = all(fields_ok)
        entries.append(entry)
    return {
        "seed": options.seed,
        "size": len(entries),
        "of": len(ids),
        "matched": sum(1 for e in entries if e["match"]),
        "mismatched": sum(1 for e in entries if not e["match"]),
        # A mismatch with no note (skipped, retired) would mean the import wrote something
        # other than what it planned.
        "unexplained": sum(1 for e in entries if not e["match"] and "note" not in e),
        "schedules": entries,
    }


def _planned_jobs(plan: Plan, existing: LegacyImports) -> dict[int, ImportedJob]:
    """What our jobs would be after the import (for a dry run's sample)."""
    jobs = dict(existing.jobs)
    for row in plan.jobs:
        jobs[row.legacy_id] = ImportedJob(
            id=None, prompt_id=None, prompt_legacy_id=row.prompt_legacy_id,
            cron_expr=row.job.cron_expr, run_at=row.job.run_at, deleted=row.retired)
    return jobs


def build_report(plan: Plan, data: LegacyData, ours_before: dict[str, int],
                 ours_after: dict[str, int], sample: dict[str, Any], *, dry_run: bool,
                 now: datetime) -> dict[str, Any]:
    tables = {}
    for legacy_name, our_name in (("prompts", "prompts"), ("schedules", "jobs"),
                                  ("execution_results", "job_executions")):
        t = plan.tallies[legacy_name]
        added = ours_after[our_name] - ours_before[our_name]
        tables[legacy_name] = {
            "ours": our_name,
            "legacy_rows": t.legacy,
            "imported": t.imported,
            "already_imported": t.already,
            "skipped": t.skipped,
            "ours_before": ours_before[our_name],
            "ours_after": ours_after[our_name],
            "reconciled": t.legacy == t.imported + t.already + t.skipped
            and added == t.imported,
        }
    tables["schedules"]["job_states"] = {k: plan.job_states.get(k, 0)
                                         for k in ("enabled", "paused", "done", "retired")}
    tables["execution_results"]["without_job"] = plan.runs_without_job
    tables["execution_results"]["numbered_as_later_attempts"] = plan.shared_timestamps
    return {
        "source": str(plan.source),
        "dry_run": dry_run,
        "at": now.isoformat(),
        "timezone": plan.options.timezone,
        "work_dir": plan.options.work_dir,
        "tables": tables,
        "token_usage_stats": plan.token_usage_stats,
        "other_tables": plan.other_tables,
        "status_mapping": plan.status_map,
        "skipped": plan.skipped,
        "notes": plan.notes,
        "sample": sample,
        "reconciled": all(t["reconciled"] for t in tables.values())
        and sample["unexplained"] == 0,
        "imported_ids": {
            "prompts": _ranges(r.legacy_id for r in plan.prompts),
            "schedules": _ranges(r.legacy_id for r in plan.jobs),
            "execution_results": _ranges(r.legacy_id for r in plan.runs),
        },
    }


# -- the whole import ---------------------------------------------------------------------------


def read_legacy(path: Path) -> LegacyData:
    """The whole legacy file, read-only; refuses a file that is not a legacy database."""
    return LegacyQueries.read_legacy(path)


def import_legacy(store: Store | None, data: LegacyData, options: ImportOptions,
                  now: datetime, *, dry_run: bool) -> dict[str, Any]:
    """Map and (unless `dry_run`) write in one transaction, with the audit entry.

    `store` may be None for a dry run when our database does not exist yet (nothing to compare
    against, and a dry run must not create it)."""
    if dry_run:
        existing = store.legacy_imports() if store is not None else LegacyImports.none()
        before = store.legacy_counts() if store is not None else _zero_counts()
        plan = plan_import(data, existing, options, now)
        after = {"prompts": before["prompts"] + len(plan.prompts),
                 "jobs": before["jobs"] + len(plan.jobs),
                 "job_executions": before["job_executions"] + len(plan.runs)}
        sample = compare_sample(data, _planned_jobs(plan, existing), plan)
        report = build_report(plan, data, before, after, sample, dry_run=True, now=now)
        report["audit_id"] = None
        return report
    assert store is not None
    with store.write():
        # Everything below reads and writes inside one transaction: what was imported before
        # cannot change under us, and any failure leaves our database exactly as it was.
        existing = store.legacy_imports()
        before = store.legacy_counts()
        plan = plan_import(data, existing, options, now)
        store.insert_legacy_prompts(plan.prompts, now)
        store.insert_legacy_jobs(plan.jobs, now)
        store.insert_legacy_runs(plan.runs)
        after = store.legacy_counts()
        sample = compare_sample(data, store.legacy_imports().jobs, plan)
        report = build_report(plan, data, before, after, sample, dry_run=False, now=now)
        report["audit_id"] = store.record_legacy_import(report, now)
    return report


def _zero_counts() -> dict[str, int]:
    return {"prompts": 0, "jobs": 0, "job_executions": 0}

