"""Queries for `cnp migrate legacy`: what of ours came from the Rust tool's database, and
writing what was mapped from it into ours (reading its file is store/legacy_file.py's).

The writes (`store.legacy`) join the caller's transaction: `migrate_legacy` wraps them, the
read-back and the audit entry in one `store.write()`, so a failure anywhere leaves our database
as it was. Rows carry their legacy id (`legacy_id`, UNIQUE in each table), which is what makes a
re-run add nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple

from ..errors import StorageError
from ..models import Job, RunStatus
from .audit import record
from .dbapi import Connection, ConstraintViolation, DatabaseError
from .queries import Queries
from .timefmt import from_db, to_db

AUDIT_ACTION = "migrate_legacy"


# The types below are NamedTuples, not dataclasses: a dataclass costs a millisecond or more to
# define, and `cnp migrate legacy` defines a dozen.

# -- what is already in our database ------------------------------------------------------------


class ImportedPrompt(NamedTuple):
    id: int
    title: str
    content: str


class ImportedJob(NamedTuple):
    id: int | None  # None: planned by a dry run, not stored
    prompt_id: int | None
    prompt_legacy_id: int | None  # the legacy id of the job's prompt, through our prompts table
    cron_expr: str | None
    run_at: datetime | None
    deleted: bool


class LegacyImports(NamedTuple):
    """Rows of ours that came from a legacy database, keyed by their legacy id."""

    prompts: dict[int, ImportedPrompt]
    jobs: dict[int, ImportedJob]
    runs: set[int]
    # The details of every earlier `migrate_legacy` audit entry, oldest first.
    history: list[dict[str, Any]]

    @classmethod
    def none(cls) -> LegacyImports:
        return cls({}, {}, set(), [])


# -- what is written ----------------------------------------------------------------------------


class LegacyPromptRow(NamedTuple):
    legacy_id: int
    title: str
    content: str
    tags: list[str]
    created_at: datetime


class LegacyJobRow(NamedTuple):
    legacy_id: int
    prompt_legacy_id: int | None  # resolved to our prompt id in SQL; None only for retired jobs
    job: Job
    created_at: datetime
    retired: bool  # stored deleted: its history stays readable, it never fires


class LegacyRunRow(NamedTuple):
    legacy_id: int
    schedule_legacy_id: int | None  # resolved to our job in SQL; None: a run without a job
    status: RunStatus
    reason: str
    scheduled_for: datetime
    started_at: datetime | None
    finished_at: datetime
    duration_ms: int | None
    total_cost_usd: float | None
    input_tokens: int | None
    output_tokens: int | None
    cache_creation_tokens: int | None
    cache_read_tokens: int | None
    result_text: str | None
    timeout_s: int
    idle_timeout_s: int


@contextmanager
def _refused(table: str) -> Iterator[None]:
    """Our schema refusing an imported row fails the import (the caller rolls back)."""
    try:
        yield
    except (sqlite3.Error, ConstraintViolation, DatabaseError) as exc:
        raise StorageError(
            f"the import was refused by the database writing {table}: {exc}; "
            "nothing was imported"
        ) from exc


@contextmanager
def _big_cache(db: Connection, sqlite: bool) -> Iterator[None]:
    """A 64 MiB page cache while a long history is inserted in one transaction: with the
    default 2 MiB, SQLite spills the indexes' dirty pages and the insert runs twice as long.
    (PostgreSQL's buffers are the server's business.)"""
    if not sqlite:
        yield
        return
    previous = db.execute("PRAGMA cache_size").fetchone()[0]
    db.execute("PRAGMA cache_size = -65536")
    try:
        yield
    finally:
        db.execute(f"PRAGMA cache_size = {int(previous)}")


class LegacyQueries(Queries):
    def imports(self) -> LegacyImports:
        """Our rows that carry a legacy id, and what earlier imports recorded."""
        prompts = {
            r["legacy_id"]: ImportedPrompt(r["id"], r["title"], r["content"])
            for r in self.db.execute(
                "SELECT legacy_id, id, title, content FROM prompts WHERE legacy_id IS NOT NULL")
        }
        jobs = {
            r["legacy_id"]: ImportedJob(
                id=r["id"], prompt_id=r["prompt_id"], prompt_legacy_id=r["prompt_legacy_id"],
                cron_expr=r["cron_expr"], run_at=from_db(r["run_at"]),
                deleted=r["deleted_at"] is not None,
            )
            for r in self.db.execute(
                "SELECT j.legacy_id, j.id, j.prompt_id, p.legacy_id AS prompt_legacy_id,"
                " j.cron_expr, j.run_at, j.deleted_at"
                " FROM jobs j LEFT JOIN prompts p ON p.id = j.prompt_id"
                " WHERE j.legacy_id IS NOT NULL")
        }
        runs = {
            r[0] for r in self.db.execute(
                "SELECT legacy_id FROM job_executions WHERE legacy_id IS NOT NULL")
        }
        history = [
            json.loads(r[0]) for r in self.db.execute(
                "SELECT details FROM audit_log WHERE action = ? ORDER BY id", (AUDIT_ACTION,))
        ]
        return LegacyImports(prompts, jobs, runs, history)

    def insert_prompts(self, rows: Sequence[LegacyPromptRow], now: datetime) -> None:
        with self.write() as db, _refused("prompts"):
            db.executemany(
                "INSERT INTO prompts (title, content, tags, legacy_id, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(r.title, r.content, ",".join(r.tags), r.legacy_id, to_db(r.created_at),
                  to_db(now)) for r in rows],
            )

    def insert_jobs(self, rows: Sequence[LegacyJobRow], now: datetime) -> None:
        """Jobs whose prompt is named by its legacy id (already imported, now or before)."""
        with self.write() as db, _refused("jobs"):
            db.executemany(
                """
                INSERT INTO jobs (prompt_id, name, description, cron_expr, run_at, timezone,
                    enabled, next_run_at, work_dir, executor, options, timeout_s, idle_timeout_s,
                    retries, misfire, misfire_grace_s, overlap, on_interrupt, on_limit,
                    legacy_id, created_at, updated_at, deleted_at)
                VALUES ((SELECT id FROM prompts WHERE legacy_id = :prompt_legacy_id),
                    :name, :description, :cron_expr, :run_at, :timezone, :enabled,
                    :next_run_at, :work_dir, :executor, :options, :timeout_s, :idle_timeout_s,
                    :retries, :misfire, :misfire_grace_s, :overlap, :on_interrupt, :on_limit,
                    :legacy_id, :created_at, :updated_at, :deleted_at)
                """,
                [_job_params(r, now) for r in rows],
            )

    def insert_runs(self, rows: Iterable[LegacyRunRow]) -> None:
        """Terminal runs. Two with the same job and time are numbered as attempts 1, 2, …,
        after any run already stored for that job and time."""
        with self.write() as db, _refused("job_executions"), \
                _big_cache(db, self.dialect.name == "sqlite"):
            db.executemany(
                """
                INSERT INTO job_executions (job_id, prompt_id, scheduled_for, attempt, trigger,
                    status, reason, executor, options, timeout_s, idle_timeout_s, max_attempts,
                    on_limit, created_at, started_at, finished_at, duration_ms, total_cost_usd,
                    input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens,
                    result_text, legacy_id)
                SELECT j.id, j.prompt_id, :scheduled_for,
                       CASE WHEN j.id IS NULL THEN 1 ELSE
                           (SELECT coalesce(max(e.attempt), 0) + 1 FROM job_executions e
                             WHERE e.job_id = j.id AND e.scheduled_for = :scheduled_for)
                       END,
                       'schedule', :status, :reason, 'claude', '{}', :timeout_s,
                       :idle_timeout_s, 1, 'rerun', :scheduled_for, :started_at, :finished_at,
                       :duration_ms, :total_cost_usd, :input_tokens, :output_tokens,
                       :cache_creation_tokens, :cache_read_tokens, :result_text, :legacy_id
                  FROM (SELECT 1) LEFT JOIN jobs j ON j.legacy_id = :schedule_legacy_id
                """,
                [_run_params(r) for r in rows],
            )

    def counts(self) -> dict[str, int]:
        """How many rows of ours came from a legacy database, per table."""
        row = self.db.execute(
            """
            SELECT (SELECT count(*) FROM prompts WHERE legacy_id IS NOT NULL) AS prompts,
                   (SELECT count(*) FROM jobs WHERE legacy_id IS NOT NULL) AS jobs,
                   (SELECT count(*) FROM job_executions WHERE legacy_id IS NOT NULL)
                       AS job_executions
            """
        ).fetchone()
        return dict(row)

    def record_import(self, report: dict[str, Any], now: datetime) -> int:
        """The import's reconciliation report, as one audit entry; returns its id."""
        with self.write() as db:
            audit_id = record(db, now, AUDIT_ACTION, "database", None, report)
            return audit_id


def _job_params(row: LegacyJobRow, now: datetime) -> dict[str, Any]:
    job = row.job
    return {
        "prompt_legacy_id": row.prompt_legacy_id,
        "name": job.name,
        "description": job.description,
        "cron_expr": job.cron_expr,
        "run_at": to_db(job.run_at),
        "timezone": job.timezone,
        "enabled": int(job.enabled),
        "next_run_at": to_db(job.next_run_at),
        "work_dir": job.work_dir,
        "executor": str(job.executor),
        "options": job.options.to_json(),
        "timeout_s": job.timeout_s,
        "idle_timeout_s": job.idle_timeout_s,
        "retries": job.retries,
        "misfire": str(job.misfire),
        "misfire_grace_s": job.misfire_grace_s,
        "overlap": str(job.overlap),
        "on_interrupt": str(job.on_interrupt),
        "on_limit": str(job.on_limit),
        "legacy_id": row.legacy_id,
        "created_at": to_db(row.created_at),
        "updated_at": to_db(now),
        "deleted_at": to_db(now) if row.retired else None,
    }


def _run_params(row: LegacyRunRow) -> dict[str, Any]:
    return {
        "schedule_legacy_id": row.schedule_legacy_id,
        "scheduled_for": to_db(row.scheduled_for),
        "status": str(row.status),
        "reason": row.reason,
        "timeout_s": row.timeout_s,
        "idle_timeout_s": row.idle_timeout_s,
        "started_at": to_db(row.started_at),
        "finished_at": to_db(row.finished_at),
        "duration_ms": row.duration_ms,
        "total_cost_usd": row.total_cost_usd,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "cache_creation_tokens": row.cache_creation_tokens,
        "cache_read_tokens": row.cache_read_tokens,
        "result_text": row.result_text,
        "legacy_id": row.legacy_id,
    }
