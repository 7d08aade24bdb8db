"""SQLite queries the web dashboard needs beyond the CLI's: light run listings with paging and
counts, upcoming jobs, usage by day and by job from the runs' own result events, and editing a
job in place.

List queries select only the columns a listing shows (never the prompt, result or argv
text), so a page of runs costs the same with 100,000 runs in the table as with ten.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from ..errors import NotFound
from ..models import Job
from .core import withdraw_ahead
from .dbapi import Connection
from .runs import run_filter
from .timefmt import from_db, to_db

# What a listing of runs shows; the detail page reads the whole row with get_run.
_RUN_LIST_COLUMNS = """
    e.id, e.job_id, j.name AS job_name, e.status, e.reason, e.trigger, e.attempt,
    e.executor, e.scheduled_for, e.created_at, e.started_at, e.finished_at, e.retry_at,
    e.duration_ms, e.model, e.input_tokens, e.output_tokens, e.cache_creation_tokens,
    e.cache_read_tokens, e.total_cost_usd, e.limit_kind
"""
_RUN_TIMES = ("scheduled_for", "created_at", "started_at", "finished_at", "retry_at")
_OPEN = "('pending', 'queued', 'running', 'retry_wait', 'deferred')"


def _run_row(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    for key in _RUN_TIMES:
        data[key] = from_db(data[key])
    return data


class WebQueries:
    # Provided by the concrete store (SqliteStore, PostgresStore), which mixes this in.
    db: Connection
    write: Callable[[], AbstractContextManager[Connection]]
    wake_daemons: Callable[[], None]
    _audit: Callable[..., int]

    # -- runs ---------------------------------------------------------------------------------

    def run_page(
        self, *, job_id: int | None = None, status: str | None = None, limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """One page of runs, newest first, as light dicts (see _RUN_LIST_COLUMNS)."""
        where, args = run_filter(job_id, status)
        rows = self.db.execute(
            f"SELECT {_RUN_LIST_COLUMNS} FROM job_executions e"
            f" LEFT JOIN jobs j ON j.id = e.job_id{where}"
            " ORDER BY e.id DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [_run_row(r) for r in rows]

    def run_count(self, *, job_id: int | None = None, status: str | None = None) -> int:
        where, args = run_filter(job_id, status)
        count: int = self.db.execute(
            f"SELECT count(*) FROM job_executions e{where}", args).fetchone()[0]
        return count

    def open_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """Runs not finished yet (pending, queued, running, waiting to retry, deferred)."""
        rows = self.db.execute(
            f"SELECT {_RUN_LIST_COLUMNS} FROM job_executions e"
            f" LEFT JOIN jobs j ON j.id = e.job_id WHERE e.status IN {_OPEN}"
            " ORDER BY e.id DESC LIMIT ?",
            (limit,),
        )
        return [_run_row(r) for r in rows]

    def recent_failures(self, limit: int = 5) -> list[dict[str, Any]]:
        rows = self.db.execute(
            f"SELECT {_RUN_LIST_COLUMNS} FROM job_executions e"
            " LEFT JOIN jobs j ON j.id = e.job_id WHERE e.status IN ('failed', 'interrupted')"
            " ORDER BY e.id DESC LIMIT ?",
            (limit,),
        )
        return [_run_row(r) for r in rows]

    def run_events_page(self, run_id: int, after_seq: int, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` of a run's output lines after `after_seq`, in order."""
        rows = self.db.execute(
            "SELECT seq, received_at, stream, type, subtype, line FROM execution_events"
            " WHERE execution_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (run_id, after_seq, limit),
        )
        return [dict(r) for r in rows]

    def dashboard_counts(self) -> dict[str, int]:
        """The counts the overview shows (no scan of the event or audit tables)."""
        row = self.db.execute(
            f"""
            SELECT (SELECT count(*) FROM prompts) AS prompts,
                   (SELECT count(*) FROM jobs WHERE deleted_at IS NULL) AS jobs,
                   (SELECT count(*) FROM jobs WHERE deleted_at IS NULL AND enabled = 1)
                       AS jobs_enabled,
                   (SELECT count(*) FROM job_executions) AS executions,
                   (SELECT count(*) FROM job_executions WHERE status IN {_OPEN}) AS open_runs
            """
        ).fetchone()
        return {k: int(row[k]) for k in row.keys()}  # noqa: SIM118 (sqlite3.Row)

    # -- jobs ---------------------------------------------------------------------------------

    def upcoming_jobs(self, limit: int = 10) -> list[dict[str, Any]]:
        """Enabled jobs by their next fire time, soonest first."""
        rows = self.db.execute(
            "SELECT id, name, cron_expr, run_at, timezone, next_run_at FROM jobs"
            " WHERE enabled = 1 AND deleted_at IS NULL AND next_run_at IS NOT NULL"
            " ORDER BY next_run_at LIMIT ?",
            (limit,),
        )
        out = []
        for r in rows:
            data = dict(r)
            data["next_run_at"] = from_db(data["next_run_at"])
            data["run_at"] = from_db(data["run_at"])
            out.append(data)
        return out

    def job_names(self) -> list[tuple[int, str]]:
        """(id, name) of every job, deleted ones too: for filter menus."""
        return [(r[0], r[1]) for r in self.db.execute("SELECT id, name FROM jobs ORDER BY id")]

    def jobs_using_prompt(self, prompt_id: int) -> list[int]:
        rows = self.db.execute(
            "SELECT id FROM jobs WHERE prompt_id = ? AND deleted_at IS NULL ORDER BY id",
            (prompt_id,))
        return [r[0] for r in rows]

    def update_job(self, job_id: int, job: Job, now: datetime, *, reschedule: bool,
                   actor: str = "web") -> None:
        """Replace a live job's definition with `job` (built and validated by the caller).

        With `reschedule` its `next_run_at` becomes `job.next_run_at` (the schedule or zone
        changed); otherwise the fire times to come stay as they were, so an edit never moves,
        drops or repeats one. Runs already materialized for them are taken back either way:
        they were written with the old definition.
        """
        with self.write() as db:
            withdrawn = withdraw_ahead(db, now, job_id=job_id).get(job_id)
            next_run_at = job.next_run_at
            if not reschedule and withdrawn is not None:
                row = db.execute("SELECT next_run_at FROM jobs WHERE id = ?", (job_id,)).fetchone()
                current = from_db(row[0]) if row else None
                next_run_at = withdrawn if current is None else min(current, withdrawn)
            if db.execute("SELECT 1 FROM prompts WHERE id = ?", (job.prompt_id,)).fetchone() \
                    is None:
                raise NotFound(f"prompt {job.prompt_id} does not exist")
            cur = db.execute(
                """
                UPDATE jobs SET prompt_id = ?, name = ?, description = ?, cron_expr = ?,
                       run_at = ?, timezone = ?, work_dir = ?, executor = ?, options = ?,
                       timeout_s = ?, idle_timeout_s = ?, max_output_bytes = ?, retries = ?,
                       misfire = ?,
                       misfire_grace_s = ?, overlap = ?, on_interrupt = ?, on_limit = ?,
                       next_run_at = CASE WHEN ? THEN ? ELSE next_run_at END,
                       updated_at = ?
                 WHERE id = ? AND deleted_at IS NULL
                """,
                (
                    job.prompt_id, job.name, job.description, job.cron_expr, to_db(job.run_at),
                    job.timezone, job.work_dir, str(job.executor), job.options.to_json(),
                    job.timeout_s, job.idle_timeout_s, job.max_output_bytes, job.retries,
                    str(job.misfire),
                    job.misfire_grace_s, str(job.overlap), str(job.on_interrupt),
                    str(job.on_limit), int(reschedule or withdrawn is not None), to_db(next_run_at),
                    to_db(now),
                    job_id,
                ),
            )
            if cur.rowcount == 0:
                raise NotFound(f"job {job_id} does not exist")
            self._audit(db, now, "update", "job", job_id,
                        {"schedule": job.schedule_text, "timezone": job.timezone,
                         "prompt_id": job.prompt_id, "rescheduled": reschedule}, actor)
            self.wake_daemons()

    # -- usage --------------------------------------------------------------------------------

    def run_usage_by_quarter(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Runs started in [start, end) summed per UTC quarter hour ('YYYY-MM-DDTHH:MM').

        Every UTC offset in use is a multiple of 15 minutes, so the caller can map each
        quarter to its local day in any zone.
        """
        rows = self.db.execute(
            """
            SELECT substr(started_at, 1, 14)
                   || CASE CAST(substr(started_at, 15, 2) AS INTEGER) / 15
                      WHEN 0 THEN '00' WHEN 1 THEN '15' WHEN 2 THEN '30' ELSE '45' END
                   AS quarter,
                   count(*) AS runs,
                   total(input_tokens) AS input_tokens, total(output_tokens) AS output_tokens,
                   total(cache_creation_tokens) AS cache_creation_tokens,
                   total(cache_read_tokens) AS cache_read_tokens,
                   total(total_cost_usd) AS cost_usd
              FROM job_executions
             WHERE started_at >= ? AND started_at < ?
             GROUP BY quarter
            """,
            (to_db(start), to_db(end)),
        )
        return [dict(r) for r in rows]

    def run_usage_by_job(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Per job (job_id None: ad-hoc `cnp execute` runs), runs started in [start, end) with
        their tokens and cost, costliest first."""
        rows = self.db.execute(
            """
            SELECT g.*, j.name AS job_name FROM (
                SELECT +job_id AS job_id, count(*) AS runs,
                       total(input_tokens) AS input_tokens, total(output_tokens) AS output_tokens,
                       total(cache_creation_tokens) AS cache_creation_tokens,
                       total(cache_read_tokens) AS cache_read_tokens,
                       total(total_cost_usd) AS cost_usd
                  FROM job_executions
                 WHERE started_at >= ? AND started_at < ?
                 -- "+": group in a temporary table after one pass over the rows, rather
                 -- than walking the job index and fetching every row out of order. The
                 -- selected key is spelled the same, which PostgreSQL needs to match it.
                 GROUP BY +job_id
            ) g LEFT JOIN jobs j ON j.id = g.job_id
             ORDER BY g.cost_usd DESC, g.runs DESC, g.job_id
            """,
            (to_db(start), to_db(end)),
        )
        return [dict(r) for r in rows]

    # -- benchmarks ---------------------------------------------------------------------------

    def bench_insert_runs(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Insert finished runs in bulk, for bench/web.py only. Each row: (job_id,
        scheduled_for, status, reason, created_at, started_at, finished_at, duration_ms,
        input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens,
        total_cost_usd, result_text), times as datetimes."""
        with self.write() as db:
            db.executemany(
                """
                INSERT INTO job_executions (job_id, scheduled_for, attempt, trigger, status,
                    reason, executor, timeout_s, idle_timeout_s, created_at, started_at,
                    finished_at, duration_ms, input_tokens, output_tokens,
                    cache_creation_tokens, cache_read_tokens, total_cost_usd, result_text)
                VALUES (?, ?, 1, 'schedule', ?, ?, 'claude', 3600, 600, ?, ?, ?, ?, ?, ?, ?,
                        ?, ?, ?)
                """,
                (
                    (r[0], to_db(r[1]), r[2], r[3], to_db(r[4]), to_db(r[5]), to_db(r[6]),
                     *r[7:])
                    for r in rows
                ),
            )
