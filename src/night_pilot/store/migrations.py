"""The schema, as numbered migrations applied in order when a database is opened.

Each migration is a function registered with `@migration`; its version is recorded in
`schema_migrations` (and, on SQLite, in `PRAGMA user_version`, a cheap check on every open).
Never change what a shipped migration does: add the next one.

PostgreSQL gets the same migrations, version for version: each has a `@postgres(...)` variant,
usually the same DDL with the other dialect's column types (`ddl`: the DDL's format fields are
the dialect's, store/dialect.py), by hand where the two have no syntax in common (triggers).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from typing import Any

from .dialect import POSTGRES, SQLITE, Dialect
from .initial_schema import M001_SQL, RISK_LEVELS, RUN_STATUSES

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[int, str, Migration]] = []
# version -> the same migration for PostgreSQL (it receives the psycopg adapter, store/pg.py).
PG_MIGRATIONS: dict[int, Callable[[Any], None]] = {}


def migration(fn: Migration) -> Migration:
    version = len(MIGRATIONS) + 1
    assert fn.__name__.startswith(f"m{version:03d}_"), fn.__name__
    MIGRATIONS.append((version, fn.__name__[5:], fn))
    return fn


def postgres(of: Migration) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register the PostgreSQL variant of the SQLite migration `of`."""
    version = next(v for v, _, fn in MIGRATIONS if fn is of)

    def register(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        PG_MIGRATIONS[version] = fn
        return fn

    return register


def latest_version() -> int:
    return len(MIGRATIONS)


def ddl(script: str, dialect: Dialect) -> str:
    """A DDL script with `dialect`'s column types in its format fields (`{int}`, `{id}`, ...)."""
    return script.format(**dialect.ddl, run_statuses=RUN_STATUSES, risk_levels=RISK_LEVELS)


def run_pg_script(db: Any, script: str) -> None:
    """Execute PostgreSQL statements one by one inside the caller's transaction. Statements
    are split at semicolons that end a line (function bodies keep theirs inside $$ quotes)."""
    for statement in re.split(r";\s*\n", script):
        if statement.strip():
            db.execute_raw(statement)


def run_script(db: sqlite3.Connection, script: str) -> None:
    """Execute several statements inside the caller's transaction.

    `executescript` would commit the open transaction first; a migration must be all or nothing.
    """
    statement = ""
    for piece in script.split(";"):
        statement += piece + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n;"):
                db.execute(statement)
            statement = ""
    if statement.strip(" \n;"):
        raise ValueError(f"incomplete SQL statement in migration: {statement[:80]!r}")


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    run_script(db, ddl(M001_SQL, SQLITE))


@postgres(m001_initial)
def m001_initial_pg(db: Any) -> None:
    run_pg_script(db, ddl(M001_SQL, POSTGRES))
    # PostgreSQL would write through a view over one table (into jobs); SQLite refuses any
    # write to a view. Refuse it here too: per row, and per statement, so that a write that
    # matches no row is refused as well.
    db.execute_raw("""
        CREATE FUNCTION schedules_read_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'schedules is a read-only view of jobs, kept for the legacy'
                ' tool''s scripts; change jobs with `cnp job`'
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END $$""")
    db.execute_raw("CREATE TRIGGER schedules_read_only INSTEAD OF INSERT OR UPDATE OR DELETE"
                   " ON schedules FOR EACH ROW EXECUTE FUNCTION schedules_read_only()")
    db.execute_raw("CREATE TRIGGER schedules_read_only_statement BEFORE INSERT OR UPDATE OR"
                   " DELETE ON schedules FOR EACH STATEMENT"
                   " EXECUTE FUNCTION schedules_read_only()")


M002_TABLES = """
        DROP TABLE usage_entries;

        CREATE TABLE usage_files (
            id {id},
            path TEXT NOT NULL UNIQUE,
            size {int} NOT NULL,
            mtime_ns {int} NOT NULL,
            inode {int} NOT NULL,
            head_len {int} NOT NULL,   -- how many leading bytes head_hash covers (<= 1024)
            head_hash TEXT NOT NULL,
            tail_hash TEXT NOT NULL,     -- of the (<= 1024) bytes just before offset
            {offset} {int} NOT NULL,     -- just past the last complete line read
            lines {int} NOT NULL DEFAULT 0,
            entries {int} NOT NULL DEFAULT 0,
            malformed {int} NOT NULL DEFAULT 0,
            rereads {int} NOT NULL DEFAULT 0,
            imported_at TEXT NOT NULL
        );

        CREATE TABLE usage_entries (
            id {id},
            dedup_key TEXT NOT NULL UNIQUE,
            timestamp TEXT NOT NULL,
            session_id TEXT,
            project TEXT,
            model TEXT,
            message_id TEXT,
            request_id TEXT,
            is_sidechain {int} NOT NULL DEFAULT 0 CHECK (is_sidechain IN (0, 1)),
            input_tokens {int} NOT NULL DEFAULT 0,
            output_tokens {int} NOT NULL DEFAULT 0,
            cache_creation_tokens {int} NOT NULL DEFAULT 0,
            cache_read_tokens {int} NOT NULL DEFAULT 0,
            cost_usd {real},               -- NULL: no price known for the model
            cost_source TEXT CHECK (cost_source IN ('transcript', 'price_table')),
            file_id {int} REFERENCES usage_files(id) ON DELETE SET NULL
        );
        CREATE INDEX usage_entries_time ON usage_entries(timestamp);

        -- Sums per UTC quarter hour and model, kept equal to usage_entries by the triggers
        -- below: every UTC offset in use is a multiple of 15 minutes, so a day or month in any
        -- zone is a whole number of quarters, and reports read these few rows instead of
        -- grouping every response.
        CREATE TABLE usage_quarters (
            quarter TEXT NOT NULL,       -- 'YYYY-MM-DDTHH:MM', the quarter's start (UTC)
            model TEXT NOT NULL,         -- '' when the transcript named none
            entries {int} NOT NULL,
            input_tokens {int} NOT NULL,
            output_tokens {int} NOT NULL,
            cache_creation_tokens {int} NOT NULL,
            cache_read_tokens {int} NOT NULL,
            known_cost_usd {real} NOT NULL,
            unknown_cost_entries {int} NOT NULL,
            PRIMARY KEY (quarter, model)
        ){without_rowid};

"""

M002_SQLITE_TRIGGERS = """
        CREATE TRIGGER usage_entries_added AFTER INSERT ON usage_entries BEGIN
            INSERT INTO usage_quarters VALUES (
                substr(NEW.timestamp, 1, 14)
                    || printf('%02d', CAST(substr(NEW.timestamp, 15, 2) AS INTEGER) / 15 * 15),
                coalesce(NEW.model, ''), 1, NEW.input_tokens, NEW.output_tokens,
                NEW.cache_creation_tokens, NEW.cache_read_tokens, coalesce(NEW.cost_usd, 0),
                NEW.cost_usd IS NULL)
            ON CONFLICT (quarter, model) DO UPDATE SET
                entries = entries + 1,
                input_tokens = input_tokens + excluded.input_tokens,
                output_tokens = output_tokens + excluded.output_tokens,
                cache_creation_tokens = cache_creation_tokens + excluded.cache_creation_tokens,
                cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                known_cost_usd = known_cost_usd + excluded.known_cost_usd,
                unknown_cost_entries = unknown_cost_entries + excluded.unknown_cost_entries;
        END;

        CREATE TRIGGER usage_entries_changed
        AFTER UPDATE OF timestamp, model, input_tokens, output_tokens, cache_creation_tokens,
            cache_read_tokens, cost_usd ON usage_entries BEGIN
            UPDATE usage_quarters SET
                entries = entries - 1,
                input_tokens = input_tokens - OLD.input_tokens,
                output_tokens = output_tokens - OLD.output_tokens,
                cache_creation_tokens = cache_creation_tokens - OLD.cache_creation_tokens,
                cache_read_tokens = cache_read_tokens - OLD.cache_read_tokens,
                known_cost_usd = known_cost_usd - coalesce(OLD.cost_usd, 0),
                unknown_cost_entries = unknown_cost_entries - (OLD.cost_usd IS NULL)
            WHERE quarter = substr(OLD.timestamp, 1, 14)
                    || printf('%02d', CAST(substr(OLD.timestamp, 15, 2) AS INTEGER) / 15 * 15)
              AND model = coalesce(OLD.model, '');
            INSERT INTO usage_quarters VALUES (
                substr(NEW.timestamp, 1, 14)
                    || printf('%02d', CAST(substr(NEW.timestamp, 15, 2) AS INTEGER) / 15 * 15),
                coalesce(NEW.model, ''), 1, NEW.input_tokens, NEW.output_tokens,
                NEW.cache_creation_tokens, NEW.cache_read_tokens, coalesce(NEW.cost_usd, 0),
                NEW.cost_usd IS NULL)
            ON CONFLICT (quarter, model) DO UPDATE SET
                entries = entries + 1,
                input_tokens = input_tokens + excluded.input_tokens,
                output_tokens = output_tokens + excluded.output_tokens,
                cache_creation_tokens = cache_creation_tokens + excluded.cache_creation_tokens,
                cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                known_cost_usd = known_cost_usd + excluded.known_cost_usd,
                unknown_cost_entries = unknown_cost_entries + excluded.unknown_cost_entries;
        END;
"""


@migration
def m002_usage_ledger(db: sqlite3.Connection) -> None:
    """The usage ledger: one row per API response read from Claude Code's transcripts, and
    what was read of each transcript file so a re-import reads only appended bytes.

    m001's `usage_entries` was never written by any released code, so it is replaced.
    """
    run_script(db, ddl(M002_TABLES, SQLITE) + M002_SQLITE_TRIGGERS)


# The quarter-hour key of a usage entry's timestamp, 'YYYY-MM-DDTHH:MM', as the SQLite triggers
# compute it with substr/printf.
_PG_QUARTER = ("substr({t}.timestamp, 1, 14)"
               " || lpad((substr({t}.timestamp, 15, 2)::int / 15 * 15)::text, 2, '0')")


@postgres(m002_usage_ledger)
def m002_usage_ledger_pg(db: Any) -> None:
    run_pg_script(db, ddl(M002_TABLES, POSTGRES))
    add = f"""
        INSERT INTO usage_quarters AS q VALUES (
            {_PG_QUARTER.format(t="NEW")}, coalesce(NEW.model, ''), 1, NEW.input_tokens,
            NEW.output_tokens, NEW.cache_creation_tokens, NEW.cache_read_tokens,
            coalesce(NEW.cost_usd, 0), (NEW.cost_usd IS NULL)::int)
        ON CONFLICT (quarter, model) DO UPDATE SET
            entries = q.entries + 1,
            input_tokens = q.input_tokens + excluded.input_tokens,
            output_tokens = q.output_tokens + excluded.output_tokens,
            cache_creation_tokens = q.cache_creation_tokens + excluded.cache_creation_tokens,
            cache_read_tokens = q.cache_read_tokens + excluded.cache_read_tokens,
            known_cost_usd = q.known_cost_usd + excluded.known_cost_usd,
            unknown_cost_entries = q.unknown_cost_entries + excluded.unknown_cost_entries"""
    db.execute_raw(f"""
        CREATE FUNCTION usage_entries_added() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            {add};
            RETURN NULL;
        END $$""")
    db.execute_raw(f"""
        CREATE FUNCTION usage_entries_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE usage_quarters SET
                entries = entries - 1,
                input_tokens = input_tokens - OLD.input_tokens,
                output_tokens = output_tokens - OLD.output_tokens,
                cache_creation_tokens = cache_creation_tokens - OLD.cache_creation_tokens,
                cache_read_tokens = cache_read_tokens - OLD.cache_read_tokens,
                known_cost_usd = known_cost_usd - coalesce(OLD.cost_usd, 0),
                unknown_cost_entries = unknown_cost_entries - (OLD.cost_usd IS NULL)::int
            WHERE quarter = {_PG_QUARTER.format(t="OLD")}
              AND model = coalesce(OLD.model, '');
            {add};
            RETURN NULL;
        END $$""")
    db.execute_raw("CREATE TRIGGER usage_entries_added AFTER INSERT ON usage_entries"
                   " FOR EACH ROW EXECUTE FUNCTION usage_entries_added()")
    db.execute_raw("CREATE TRIGGER usage_entries_changed AFTER UPDATE OF timestamp, model,"
                   " input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens,"
                   " cost_usd ON usage_entries"
                   " FOR EACH ROW EXECUTE FUNCTION usage_entries_changed()")


M003_SQL = """
        -- A job's last run time (`max(started_at)` per job, read for every listed job) is one
        -- index seek instead of a read of every run the job ever had.
        CREATE INDEX job_executions_job_started ON job_executions(job_id, started_at);
"""


@migration
def m003_job_last_run_index(db: sqlite3.Connection) -> None:
    run_script(db, ddl(M003_SQL, SQLITE))


@postgres(m003_job_last_run_index)
def m003_job_last_run_index_pg(db: Any) -> None:
    run_pg_script(db, ddl(M003_SQL, POSTGRES))


M004_SQL = """
        -- Runs the daemon wrote ahead of their time (store/schedule.py `AHEAD`, the same
        -- terms, so that the index is usable wherever they are looked for): a job listing finds
        -- each job's next one here instead of reading every run ever recorded.
        CREATE INDEX job_executions_ahead ON job_executions(job_id, scheduled_for)
            WHERE status = 'pending' AND trigger = 'schedule' AND attempt = 1
              AND queued_at IS NULL AND created_at < scheduled_for;
"""


@migration
def m004_runs_ahead_index(db: sqlite3.Connection) -> None:
    run_script(db, ddl(M004_SQL, SQLITE))


@postgres(m004_runs_ahead_index)
def m004_runs_ahead_index_pg(db: Any) -> None:
    run_pg_script(db, ddl(M004_SQL, POSTGRES))


M005_SQL = """
        -- How much of a run's output is stored at most (NULL: the daemon's default), and what
        -- a run printed beyond that cap: read for its result and usage, not stored.
        ALTER TABLE jobs ADD COLUMN max_output_bytes {int};
        ALTER TABLE job_executions ADD COLUMN max_output_bytes {int};
        ALTER TABLE job_executions ADD COLUMN output_dropped_lines {int};
        ALTER TABLE job_executions ADD COLUMN output_dropped_bytes {int};
"""


@migration
def m005_output_cap(db: sqlite3.Connection) -> None:
    run_script(db, ddl(M005_SQL, SQLITE))


@postgres(m005_output_cap)
def m005_output_cap_pg(db: Any) -> None:
    run_pg_script(db, ddl(M005_SQL, POSTGRES))


@migration
def m006_usage_read_offset(db: sqlite3.Connection) -> None:
    """`usage_files.offset` becomes `read_offset`: OFFSET is a reserved word in PostgreSQL,
    and a column named by one is a query that reads the same on both backends only quoted."""
    db.execute("ALTER TABLE usage_files RENAME COLUMN offset TO read_offset")


@postgres(m006_usage_read_offset)
def m006_usage_read_offset_pg(db: Any) -> None:
    db.execute_raw('ALTER TABLE usage_files RENAME COLUMN "offset" TO read_offset')


M007_SQL = """
        -- Tasks of another scheduler imported as jobs (`cnp import claude-code`), by where they
        -- came from, so that importing the same file again skips them.
        CREATE TABLE imported_tasks (
            source TEXT NOT NULL,
            origin TEXT NOT NULL,
            task_id TEXT NOT NULL,
            job_id {int} NOT NULL REFERENCES jobs(id),
            imported_at TEXT NOT NULL,
            PRIMARY KEY (source, origin, task_id)
        );
"""


@migration
def m007_imported_tasks(db: sqlite3.Connection) -> None:
    run_script(db, ddl(M007_SQL, SQLITE))


@postgres(m007_imported_tasks)
def m007_imported_tasks_pg(db: Any) -> None:
    run_pg_script(db, ddl(M007_SQL, POSTGRES))


M008_SQL = """
        -- The subscription windows (five-hour, seven-day) as Claude last reported them: on each
        -- run (the last figures its stream gave, when they were seen, and for a spare-capacity
        -- run the window state that let it start), and per account (credential source).
        ALTER TABLE job_executions ADD COLUMN quota_5h_utilization {real};
        ALTER TABLE job_executions ADD COLUMN quota_5h_resets_at TEXT;
        ALTER TABLE job_executions ADD COLUMN quota_7d_utilization {real};
        ALTER TABLE job_executions ADD COLUMN quota_7d_resets_at TEXT;
        ALTER TABLE job_executions ADD COLUMN quota_seen_at TEXT;
        ALTER TABLE job_executions ADD COLUMN quota_basis TEXT;
        -- A job's ceilings (percent of a window; NULL: the daemon's default), and for a job
        -- that runs on spare capacity, how long before the five-hour reset it may start.
        ALTER TABLE jobs ADD COLUMN quota_ceiling {real};
        ALTER TABLE jobs ADD COLUMN weekly_ceiling {real};
        ALTER TABLE jobs ADD COLUMN spare_window_s {int};
        -- The ceilings a daemon applies to jobs without their own (`cnp daemon --quota-ceiling`).
        CREATE TABLE daemon_ceilings (
            instance_id TEXT PRIMARY KEY,
            quota_ceiling {real},
            weekly_ceiling {real}
        );
        CREATE TABLE quota_windows (
            account TEXT NOT NULL,
            window_name TEXT NOT NULL,
            utilization {real},
            resets_at TEXT,
            status TEXT,
            seen_at TEXT NOT NULL,
            source_execution_id {int},
            PRIMARY KEY (account, window_name)
        ){without_rowid};
"""


@migration
def m008_quota_windows(db: sqlite3.Connection) -> None:
    run_script(db, ddl(M008_SQL, SQLITE))


@postgres(m008_quota_windows)
def m008_quota_windows_pg(db: Any) -> None:
    run_pg_script(db, ddl(M008_SQL, POSTGRES))
