"""The first version of the schema (migration m001): the tables, indexes and views a new
database starts from, as DDL whose format fields are the dialect's column types."""

RUN_STATUSES = (
    "'pending','queued','running','completed','failed','cancelled','retry_wait','deferred',"
    "'missed','skipped','interrupted'"
)
RISK_LEVELS = "'low','medium','high','critical'"


M001_SQL = """
        CREATE TABLE schema_migrations (
            version {int} PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at TEXT NOT NULL
        );

        CREATE TABLE prompts (
            id {id},
            title TEXT NOT NULL CHECK (length(trim(title)) > 0),
            content TEXT NOT NULL CHECK (length(trim(content)) > 0),
            tags TEXT NOT NULL DEFAULT '',
            legacy_id {int} UNIQUE,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE jobs (
            id {id},
            prompt_id {int} REFERENCES prompts(id) ON DELETE RESTRICT,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            cron_expr TEXT,
            run_at TEXT,
            timezone TEXT NOT NULL,
            enabled {int} NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
            next_run_at TEXT,
            work_dir TEXT,
            executor TEXT NOT NULL CHECK (executor IN ('claude', 'shell')),
            options TEXT NOT NULL DEFAULT '{{}}',
            timeout_s {int} NOT NULL CHECK (timeout_s > 0),
            idle_timeout_s {int} NOT NULL CHECK (idle_timeout_s > 0),
            retries {int} NOT NULL CHECK (retries >= 0),
            misfire TEXT NOT NULL CHECK (misfire IN ('skip', 'latest', 'all')),
            misfire_grace_s {int} NOT NULL CHECK (misfire_grace_s >= 0),
            overlap TEXT NOT NULL CHECK (overlap IN ('skip', 'queue', 'allow')),
            on_interrupt TEXT NOT NULL
                CHECK (on_interrupt IN ('retry-unstarted', 'always', 'never')),
            on_limit TEXT NOT NULL CHECK (on_limit IN ('rerun', 'resume')),
            -- Claude Code integration (docs/integration.md): each run in a fresh git worktree,
            -- each run resuming the previous one's session, the template's variables (JSON),
            -- the risk found when the job was saved and whether critical risk was accepted.
            worktree {int} NOT NULL DEFAULT 0 CHECK (worktree IN (0, 1)),
            continue_session {int} NOT NULL DEFAULT 0 CHECK (continue_session IN (0, 1)),
            template_vars TEXT NOT NULL DEFAULT '{{}}',
            risk_level TEXT NOT NULL DEFAULT 'low' CHECK (risk_level IN ({risk_levels})),
            risk_accepted {int} NOT NULL DEFAULT 0 CHECK (risk_accepted IN (0, 1)),
            legacy_id {int} UNIQUE,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deleted_at TEXT,
            CHECK ((cron_expr IS NULL) <> (run_at IS NULL)),
            CHECK (deleted_at IS NOT NULL OR prompt_id IS NOT NULL)
        );
        CREATE INDEX jobs_due ON jobs(next_run_at) WHERE enabled = 1 AND deleted_at IS NULL;
        CREATE INDEX jobs_prompt ON jobs(prompt_id);

        CREATE TABLE job_executions (
            id {id},
            job_id {int} REFERENCES jobs(id),
            scheduled_for TEXT NOT NULL,
            attempt {int} NOT NULL DEFAULT 1 CHECK (attempt >= 1),
            trigger TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual', 'execute', 'retry')),
            status TEXT NOT NULL CHECK (status IN ({run_statuses})),
            reason TEXT,
            executor TEXT NOT NULL CHECK (executor IN ('claude', 'shell')),
            prompt_id {int} REFERENCES prompts(id) ON DELETE SET NULL,
            prompt_text TEXT,
            prompt_sha256 TEXT,
            work_dir TEXT,
            options TEXT NOT NULL DEFAULT '{{}}',
            timeout_s {int} NOT NULL,
            idle_timeout_s {int} NOT NULL,
            max_attempts {int} NOT NULL DEFAULT 1,
            resume_session_id TEXT,
            retry_of {int} REFERENCES job_executions(id),
            on_limit TEXT NOT NULL DEFAULT 'rerun' CHECK (on_limit IN ('rerun', 'resume')),
            worktree {int} NOT NULL DEFAULT 0 CHECK (worktree IN (0, 1)),
            continue_session {int} NOT NULL DEFAULT 0 CHECK (continue_session IN (0, 1)),
            template_vars TEXT,          -- JSON object; NULL: no variables
            risk_accepted {int} NOT NULL DEFAULT 0 CHECK (risk_accepted IN (0, 1)),
            created_at TEXT NOT NULL,
            claimed_by TEXT,
            fencing_token {int},
            lease_expires_at TEXT,
            heartbeat_at TEXT,
            queued_at TEXT,
            started_at TEXT,
            finished_at TEXT,
            retry_at TEXT,
            pid {int},
            exit_code {int},
            argv TEXT,
            session_id TEXT,
            model TEXT,
            num_turns {int},
            duration_ms {int},
            duration_api_ms {int},
            total_cost_usd {real},
            input_tokens {int},
            output_tokens {int},
            cache_creation_tokens {int},
            cache_read_tokens {int},
            permission_denials TEXT,
            terminal_reason TEXT,
            api_error_status {int},
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
            rendered {int} CHECK (rendered IN (0, 1)),
            file_refs TEXT,
            risk_level TEXT CHECK (risk_level IN ({risk_levels})),
            legacy_id {int} UNIQUE,
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
            execution_id {int} NOT NULL REFERENCES job_executions(id) ON DELETE CASCADE,
            seq {int} NOT NULL,
            received_at TEXT NOT NULL,
            stream TEXT NOT NULL DEFAULT 'stdout' CHECK (stream IN ('stdout', 'stderr', 'cnp')),
            type TEXT,
            subtype TEXT,
            line TEXT NOT NULL,
            PRIMARY KEY (execution_id, seq)
        ){without_rowid};

        CREATE TABLE cooldowns (
            id {id},
            kind TEXT NOT NULL,
            reset_at TEXT NOT NULL,
            detected_at TEXT NOT NULL,
            source_execution_id {int} REFERENCES job_executions(id) ON DELETE SET NULL,
            message TEXT,
            cleared_at TEXT
        );

        CREATE TABLE usage_entries (
            id {id},
            dedup_key TEXT NOT NULL UNIQUE,
            source_path TEXT NOT NULL,
            session_id TEXT,
            project TEXT,
            timestamp TEXT NOT NULL,
            model TEXT,
            message_id TEXT,
            request_id TEXT,
            input_tokens {int} NOT NULL DEFAULT 0,
            output_tokens {int} NOT NULL DEFAULT 0,
            cache_creation_tokens {int} NOT NULL DEFAULT 0,
            cache_read_tokens {int} NOT NULL DEFAULT 0,
            cost_usd {real},
            execution_id {int} REFERENCES job_executions(id) ON DELETE SET NULL
        );
        CREATE INDEX usage_entries_time ON usage_entries(timestamp);

        -- One row per daemon process that ever ran on this database (health, reaping).
        CREATE TABLE daemons (
            instance_id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid {int} NOT NULL,
            version TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('active', 'standby')),
            started_at TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL,
            stopped_at TEXT
        );

        -- Where notifications go: global targets (job_id NULL) and per-job ones.
        CREATE TABLE notification_targets (
            id {id},
            job_id {int} REFERENCES jobs(id) ON DELETE CASCADE,
            url TEXT NOT NULL,
            events TEXT NOT NULL,
            created_at TEXT NOT NULL
        );

        -- The outbox: events are written in the same transaction as what caused them and
        -- delivered afterwards, so a crash loses none and a failing notifier delays no run.
        CREATE TABLE notifications (
            id {id},
            event TEXT NOT NULL,
            job_id {int},
            execution_id {int},
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL,
            next_attempt_at TEXT NOT NULL,
            attempts {int} NOT NULL DEFAULT 0,
            sent_at TEXT,
            last_error TEXT
        );
        CREATE INDEX notifications_due ON notifications(next_attempt_at) WHERE sent_at IS NULL;

        -- Monotonic counters; `fencing` numbers every claim so stale owners can be refused.
        CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value {int} NOT NULL
        );
        INSERT INTO counters (name, value) VALUES ('fencing', 0);

        CREATE TABLE audit_log (
            id {id},
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            entity TEXT NOT NULL,
            entity_id {int},
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
