"""The schema, as numbered migrations applied in order when a database is opened.

Each migration is a function registered with `@migration`; its version is recorded in
`schema_migrations` and in `PRAGMA user_version` (a cheap check on every open). Never edit a
migration that has shipped: add the next one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[int, str, Migration]] = []


def migration(fn: Migration) -> Migration:
    version = len(MIGRATIONS) + 1
    assert fn.__name__.startswith(f"m{version:03d}_"), fn.__name__
    MIGRATIONS.append((version, fn.__name__[5:], fn))
    return fn


def latest_version() -> int:
    return len(MIGRATIONS)


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


RUN_STATUSES = (
    "'pending','queued','running','completed','failed','cancelled','retry_wait','deferred',"
    "'missed','skipped','interrupted'"
)
RISK_LEVELS = "'low','medium','high','critical'"


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    run_script(
        db,
        f"""
        CREATE TABLE schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at TEXT NOT NULL
        );

        CREATE TABLE prompts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL CHECK (length(trim(title)) > 0),
            content TEXT NOT NULL CHECK (length(trim(content)) > 0),
            tags TEXT NOT NULL DEFAULT '',
            legacy_id INTEGER UNIQUE,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            prompt_id INTEGER REFERENCES prompts(id) ON DELETE RESTRICT,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            cron_expr TEXT,
            run_at TEXT,
            timezone TEXT NOT NULL,
            enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
            next_run_at TEXT,
            work_dir TEXT,
            executor TEXT NOT NULL CHECK (executor IN ('claude', 'shell')),
            options TEXT NOT NULL DEFAULT '{{}}',
            timeout_s INTEGER NOT NULL CHECK (timeout_s > 0),
            idle_timeout_s INTEGER NOT NULL CHECK (idle_timeout_s > 0),
            retries INTEGER NOT NULL CHECK (retries >= 0),
            misfire TEXT NOT NULL CHECK (misfire IN ('skip', 'latest', 'all')),
            misfire_grace_s INTEGER NOT NULL CHECK (misfire_grace_s >= 0),
            overlap TEXT NOT NULL CHECK (overlap IN ('skip', 'queue', 'allow')),
            on_interrupt TEXT NOT NULL
                CHECK (on_interrupt IN ('retry-unstarted', 'always', 'never')),
            on_limit TEXT NOT NULL CHECK (on_limit IN ('rerun', 'resume')),
            -- Claude Code integration (docs/integration.md): each run in a fresh git worktree,
            -- each run resuming the previous one's session, the template's variables (JSON),
            -- the risk found when the job was saved and whether critical risk was accepted.
            worktree INTEGER NOT NULL DEFAULT 0 CHECK (worktree IN (0, 1)),
            continue_session INTEGER NOT NULL DEFAULT 0 CHECK (continue_session IN (0, 1)),
            template_vars TEXT NOT NULL DEFAULT '{{}}',
            risk_level TEXT NOT NULL DEFAULT 'low' CHECK (risk_level IN ({RISK_LEVELS})),
            risk_accepted INTEGER NOT NULL DEFAULT 0 CHECK (risk_accepted IN (0, 1)),
            legacy_id INTEGER UNIQUE,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deleted_at TEXT,
            CHECK ((cron_expr IS NULL) <> (run_at IS NULL)),
            CHECK (deleted_at IS NOT NULL OR prompt_id IS NOT NULL)
        );
        CREATE INDEX jobs_due ON jobs(next_run_at) WHERE enabled = 1 AND deleted_at IS NULL;
        CREATE INDEX jobs_prompt ON jobs(prompt_id);

        CREATE TABLE job_executions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id INTEGER REFERENCES jobs(id),
            scheduled_for TEXT NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
            trigger TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual', 'execute', 'retry')),
            status TEXT NOT NULL CHECK (status IN ({RUN_STATUSES})),
            reason TEXT,
            executor TEXT NOT NULL CHECK (executor IN ('claude', 'shell')),
            prompt_id INTEGER REFERENCES prompts(id) ON DELETE SET NULL,
            prompt_text TEXT,
            prompt_sha256 TEXT,
            work_dir TEXT,
            options TEXT NOT NULL DEFAULT '{{}}',
            timeout_s INTEGER NOT NULL,
            idle_timeout_s INTEGER NOT NULL,
            max_attempts INTEGER NOT NULL DEFAULT 1,
            resume_session_id TEXT,
            retry_of INTEGER REFERENCES job_executions(id),
            on_limit TEXT NOT NULL DEFAULT 'rerun' CHECK (on_limit IN ('rerun', 'resume')),
            worktree INTEGER NOT NULL DEFAULT 0 CHECK (worktree IN (0, 1)),
            continue_session INTEGER NOT NULL DEFAULT 0 CHECK (continue_session IN (0, 1)),
            template_vars TEXT,          -- JSON object; NULL: no variables
            risk_accepted INTEGER NOT NULL DEFAULT 0 CHECK (risk_accepted IN (0, 1)),
            created_at TEXT NOT NULL,
            claimed_by TEXT,
            fencing_token INTEGER,
            lease_expires_at TEXT,
            heartbeat_at TEXT,
            queued_at TEXT,
            started_at TEXT,
            finished_at TEXT,
            retry_at TEXT,
            pid INTEGER,
            exit_code INTEGER,
            argv TEXT,
            session_id TEXT,
            model TEXT,
            num_turns INTEGER,
            duration_ms INTEGER,
            duration_api_ms INTEGER,
            total_cost_usd REAL,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cache_creation_tokens INTEGER,
            cache_read_tokens INTEGER,
            permission_denials TEXT,
            terminal_reason TEXT,
            api_error_status INTEGER,
            result_text TEXT,
            stderr_tail TEXT,
            host TEXT,
            process_start TEXT,
            cancel_requested_at TEXT,
            limit_kind TEXT,
            limit_reset_at TEXT,
            -- What the run was given at spawn: its worktree (branch, path, the commit it
            -- started from, and whether it is still there), whether the prompt was a template,
            -- the @file references it made (JSON) and the risk level it ran at.
            worktree_branch TEXT,
            worktree_path TEXT,
            worktree_base TEXT,
            worktree_state TEXT CHECK (worktree_state IN ('active', 'kept', 'removed')),
            rendered INTEGER CHECK (rendered IN (0, 1)),
            file_refs TEXT,
            risk_level TEXT CHECK (risk_level IN ({RISK_LEVELS})),
            legacy_id INTEGER UNIQUE,
            UNIQUE (job_id, scheduled_for, attempt)
        );
        CREATE INDEX job_executions_job ON job_executions(job_id, id);
        CREATE INDEX job_executions_open ON job_executions(status)
            WHERE status IN ('pending', 'queued', 'running', 'retry_wait', 'deferred');
        CREATE INDEX job_executions_created ON job_executions(created_at);
        CREATE INDEX job_executions_retry_of ON job_executions(retry_of);
        CREATE INDEX job_executions_session ON job_executions(session_id)
            WHERE session_id IS NOT NULL;
        CREATE INDEX job_executions_worktree ON job_executions(worktree_state)
            WHERE worktree_state IS NOT NULL;

        CREATE TABLE execution_events (
            execution_id INTEGER NOT NULL REFERENCES job_executions(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            received_at TEXT NOT NULL,
            stream TEXT NOT NULL DEFAULT 'stdout' CHECK (stream IN ('stdout', 'stderr', 'cnp')),
            type TEXT,
            subtype TEXT,
            line TEXT NOT NULL,
            PRIMARY KEY (execution_id, seq)
        ) WITHOUT ROWID;

        CREATE TABLE cooldowns (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            reset_at TEXT NOT NULL,
            detected_at TEXT NOT NULL,
            source_execution_id INTEGER REFERENCES job_executions(id) ON DELETE SET NULL,
            message TEXT,
            cleared_at TEXT
        );

        CREATE TABLE usage_entries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            dedup_key TEXT NOT NULL UNIQUE,
            source_path TEXT NOT NULL,
            session_id TEXT,
            project TEXT,
            timestamp TEXT NOT NULL,
            model TEXT,
            message_id TEXT,
            request_id TEXT,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            execution_id INTEGER REFERENCES job_executions(id) ON DELETE SET NULL
        );
        CREATE INDEX usage_entries_time ON usage_entries(timestamp);

        -- One row per daemon process that ever ran on this database (health, reaping).
        CREATE TABLE daemons (
            instance_id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            version TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('active', 'standby')),
            started_at TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL,
            stopped_at TEXT
        );

        -- Where notifications go: global targets (job_id NULL) and per-job ones.
        CREATE TABLE notification_targets (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id INTEGER REFERENCES jobs(id) ON DELETE CASCADE,
            url TEXT NOT NULL,
            events TEXT NOT NULL,
            created_at TEXT NOT NULL
        );

        -- The outbox: events are written in the same transaction as what caused them and
        -- delivered afterwards, so a crash loses none and a failing notifier delays no run.
        CREATE TABLE notifications (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event TEXT NOT NULL,
            job_id INTEGER,
            execution_id INTEGER,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL,
            next_attempt_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            sent_at TEXT,
            last_error TEXT
        );
        CREATE INDEX notifications_due ON notifications(next_attempt_at) WHERE sent_at IS NULL;

        -- Monotonic counters; `fencing` numbers every claim so stale owners can be refused.
        CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        );
        INSERT INTO counters (name, value) VALUES ('fencing', 0);

        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            entity TEXT NOT NULL,
            entity_id INTEGER,
            details TEXT NOT NULL DEFAULT '{{}}'
        );

        -- The legacy table's shape, read-only: old scripts and reports keep working.
        CREATE VIEW schedules AS
        SELECT j.id AS id,
               j.prompt_id AS prompt_id,
               COALESCE(j.cron_expr, j.run_at) AS schedule_time,
               CASE WHEN j.deleted_at IS NOT NULL THEN 'deleted'
                    WHEN j.enabled = 1 THEN 'active' ELSE 'paused' END AS status,
               j.created_at AS created_at,
               (SELECT max(e.started_at) FROM job_executions e WHERE e.job_id = j.id)
                   AS last_run_at,
               j.next_run_at AS next_run_at,
               j.updated_at AS updated_at,
               j.cron_expr AS cron_expr,
               (SELECT count(*) FROM job_executions e
                 WHERE e.job_id = j.id AND e.started_at IS NOT NULL) AS execution_count
          FROM jobs j;
        """
    )


@migration
def m002_usage_ledger(db: sqlite3.Connection) -> None:
    """The usage ledger: one row per API response read from Claude Code's transcripts, and
    what was read of each transcript file so a re-import reads only appended bytes.

    m001's `usage_entries` was never written by any released code, so it is replaced.
    """
    run_script(
        db,
        """
        DROP TABLE usage_entries;

        CREATE TABLE usage_files (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            path TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            head_len INTEGER NOT NULL,   -- how many leading bytes head_hash covers (<= 1024)
            head_hash TEXT NOT NULL,
            tail_hash TEXT NOT NULL,     -- of the (<= 1024) bytes just before offset
            offset INTEGER NOT NULL,     -- just past the last complete line read
            lines INTEGER NOT NULL DEFAULT 0,
            entries INTEGER NOT NULL DEFAULT 0,
            malformed INTEGER NOT NULL DEFAULT 0,
            rereads INTEGER NOT NULL DEFAULT 0,
            imported_at TEXT NOT NULL
        );

        CREATE TABLE usage_entries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            dedup_key TEXT NOT NULL UNIQUE,
            timestamp TEXT NOT NULL,
            session_id TEXT,
            project TEXT,
            model TEXT,
            message_id TEXT,
            request_id TEXT,
            is_sidechain INTEGER NOT NULL DEFAULT 0 CHECK (is_sidechain IN (0, 1)),
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,               -- NULL: no price known for the model
            cost_source TEXT CHECK (cost_source IN ('transcript', 'price_table')),
            file_id INTEGER REFERENCES usage_files(id) ON DELETE SET NULL
        );
        CREATE INDEX usage_entries_time ON usage_entries(timestamp);

        -- Sums per UTC quarter hour and model, kept equal to usage_entries by the triggers
        -- below: every UTC offset in use is a multiple of 15 minutes, so a day or month in any
        -- zone is a whole number of quarters, and reports read these few rows instead of
        -- grouping every response.
        CREATE TABLE usage_quarters (
            quarter TEXT NOT NULL,       -- 'YYYY-MM-DDTHH:MM', the quarter's start (UTC)
            model TEXT NOT NULL,         -- '' when the transcript named none
            entries INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cache_creation_tokens INTEGER NOT NULL,
            cache_read_tokens INTEGER NOT NULL,
            known_cost_usd REAL NOT NULL,
            unknown_cost_entries INTEGER NOT NULL,
            PRIMARY KEY (quarter, model)
        ) WITHOUT ROWID;

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
        """,
    )
