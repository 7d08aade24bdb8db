"""SQLite queries for `cnp migrate legacy`: reading the Rust tool's database, and writing what
was mapped from it into ours.

The legacy file is only ever opened through SQLite, read-only (`mode=ro`): never with Python's
`open()` (closing any descriptor of a database file drops this process's POSIX locks on it,
SQLite's included) and never in a mode that could create it. All of it is read inside one read
transaction, so a legacy tool still writing to it cannot hand us a torn picture.

The writes join the caller's transaction: `migrate_legacy` wraps them, the read-back and the audit
entry in one `store.write()`, so a failure anywhere leaves our database as it was. Rows carry
their legacy id (`legacy_id`, UNIQUE in each table), which is what makes a re-run add nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from ..config import DB_FILENAME, LEGACY_DB_FILENAME
from ..errors import InvalidInput, StorageError
from ..models import Job, RunStatus
from .dbapi import Connection
from .timefmt import from_db, to_db

# The legacy tables we map, and the columns each must have for a row to mean anything.
LEGACY_TABLES = ("prompts", "schedules", "execution_results", "token_usage_stats")
REQUIRED_TABLES = ("prompts", "schedules")
REQUIRED_COLUMNS = {
    "prompts": ("id", "title", "content"),
    "schedules": ("id", "prompt_id"),
    "execution_results": ("id", "schedule_id"),
}
AUDIT_ACTION = "migrate_legacy"


# The types below are NamedTuples, not dataclasses: this module is imported by every command
# (SqliteStore mixes LegacyQueries in), and a dataclass costs a millisecond or more to define.

# -- what is read -------------------------------------------------------------------------------


class LegacyTable(NamedTuple):
    name: str
    columns: list[str]
    rows: list[dict[str, Any]]


class LegacyData(NamedTuple):
    """Everything read from one legacy file: the known tables, and the others' row counts."""

    path: Path
    tables: dict[str, LegacyTable]
    other_tables: dict[str, int]

    def rows(self, name: str) -> list[dict[str, Any]]:
        table = self.tables.get(name)
        return table.rows if table is not None else []


class Probe(NamedTuple):
    """What a file turned out to be: `legacy`, `cnp` (one of ours), `not_sqlite`,
    `unreadable` or `other` (SQLite, but not the legacy schema)."""

    kind: str
    detail: str = ""


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


def _open_read_only(path: Path) -> sqlite3.Connection:
    from urllib.parse import quote

    # A URI with mode=ro: SQLite never creates the file and never writes to it.
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=5.0)
    db.row_factory = sqlite3.Row
    return db


def _master(db: sqlite3.Connection) -> dict[str, str]:
    rows = db.execute(
        "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')"
        " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    )
    return {r["name"]: r["type"] for r in rows}


@contextmanager
def _refused(table: str) -> Iterator[None]:
    """Our schema refusing an imported row fails the import (the caller rolls back)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StorageError(
            f"the import was refused by the database writing {table}: {exc}; "
            "nothing was imported"
        ) from exc


@contextmanager
def _big_cache(db: Connection) -> Iterator[None]:
    """A 64 MiB page cache while a long history is inserted in one transaction: with the
    default 2 MiB, SQLite spills the indexes' dirty pages and the insert runs twice as long.
    (PostgreSQL's buffers are the server's business.)"""
    if not isinstance(db, sqlite3.Connection):
        yield
        return
    previous = db.execute("PRAGMA cache_size").fetchone()[0]
    db.execute("PRAGMA cache_size = -65536")
    try:
        yield
    finally:
        db.execute(f"PRAGMA cache_size = {int(previous)}")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class LegacyQueries:
    # All provided by SqliteStore, which mixes this class in.
    db: Connection
    write: Callable[[], AbstractContextManager[Connection]]
    _audit: Callable[..., int]

    # -- the legacy file ---------------------------------------------------------------------

    @staticmethod
    def probe_database(path: Path) -> Probe:
        """Say what an existing file is, reading nothing but its table list."""
        try:
            db = _open_read_only(path)
        except sqlite3.Error as exc:
            return Probe("unreadable", str(exc))
        try:
            tables = _master(db)
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc):
                return Probe("not_sqlite", "not an SQLite database")
            return Probe("unreadable", str(exc))
        finally:
            db.close()
        if "schema_migrations" in tables:
            return Probe("cnp", "a Claude Night Pilot database (it has schema_migrations)")
        missing = [t for t in REQUIRED_TABLES if tables.get(t) != "table"]
        if missing:
            return Probe("other", f"no legacy {' or '.join(missing)} table")
        return Probe("legacy", "the legacy schema")

    @staticmethod
    def read_legacy(path: Path) -> LegacyData:
        """Read the legacy tables whole, in one read transaction, opened read-only."""
        try:
            db = _open_read_only(path)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {path} read-only: {exc}") from exc
        try:
            db.execute("PRAGMA query_only = ON")
            db.execute("BEGIN")
            try:
                return LegacyQueries._read_tables(db, path)
            finally:
                db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc):
                raise StorageError(
                    f"{path} is not an SQLite database; nothing was imported",
                    hint=f"give the legacy tool's database file ({LEGACY_DB_FILENAME} or "
                    f"{DB_FILENAME} where the old tool ran)",
                ) from exc
            raise StorageError(f"cannot read the legacy database {path}: {exc}") from exc
        finally:
            db.close()

    @staticmethod
    def _read_tables(db: sqlite3.Connection, path: Path) -> LegacyData:
        master = _master(db)
        if "schema_migrations" in master:
            raise InvalidInput(
                f"{path} is a Claude Night Pilot database, not the legacy tool's",
                hint="`cnp migrate legacy` imports the old Rust tool's database",
            )
        missing = [t for t in REQUIRED_TABLES if master.get(t) != "table"]
        if missing:
            found = ", ".join(sorted(master)) or "no tables at all"
            raise InvalidInput(
                f"{path} is not a legacy Claude Night Pilot database: it has no "
                f"{' or '.join(missing)} table (found: {found})"
            )
        tables: dict[str, LegacyTable] = {}
        for name in LEGACY_TABLES:
            if master.get(name) != "table":
                continue
            columns = [r["name"] for r in db.execute(f"PRAGMA table_info({_quoted(name)})")]
            absent = [c for c in REQUIRED_COLUMNS.get(name, ()) if c not in columns]
            if absent:
                raise InvalidInput(
                    f"{path}: the legacy {name} table has no {', '.join(absent)} column "
                    f"(it has {', '.join(columns)})"
                )
            order = " ORDER BY id" if "id" in columns else " ORDER BY rowid"
            rows = [dict(r) for r in db.execute(f"SELECT * FROM {_quoted(name)}{order}")]
            tables[name] = LegacyTable(name, columns, rows)
        others = {
            name: db.execute(f"SELECT count(*) FROM {_quoted(name)}").fetchone()[0]
            for name, kind in sorted(master.items())
            if kind == "table" and name not in LEGACY_TABLES
        }
        return LegacyData(path=path, tables=tables, other_tables=others)

    # -- our side ----------------------------------------------------------------------------

    def legacy_imports(self) -> LegacyImports:
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

    def insert_legacy_prompts(self, rows: Sequence[LegacyPromptRow], now: datetime) -> None:
        with self.write() as db, _refused("prompts"):
            db.executemany(
                "INSERT INTO prompts (title, content, tags, legacy_id, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(r.title, r.content, ",".join(r.tags), r.legacy_id, to_db(r.created_at),
                  to_db(now)) for r in rows],
            )

    def insert_legacy_jobs(self, rows: Sequence[LegacyJobRow], now: datetime) -> None:
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

    def insert_legacy_runs(self, rows: Iterable[LegacyRunRow]) -> None:
        """Terminal runs. Two with the same job and time are numbered as attempts 1, 2, …,
        after any run already stored for that job and time."""
        with self.write() as db, _refused("job_executions"), _big_cache(db):
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

    def legacy_counts(self) -> dict[str, int]:
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

    def record_legacy_import(self, report: dict[str, Any], now: datetime) -> int:
        """The import's reconciliation report, as one audit entry; returns its id."""
        with self.write() as db:
            audit_id = self._audit(db, now, AUDIT_ACTION, "database", None, report)
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
