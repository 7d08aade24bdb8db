"""Queries every backend shares: facts about the database, the audit log, prompts and jobs.

The SQL here is written once, in the dialect SQLite speaks; the PostgreSQL store translates the
few spellings that differ (see `store/pg.py`). Backend-specific fragments are methods of the
store classes (`_json_int`, `_group_concat_distinct`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from ..enums import ExecutorKind, InterruptPolicy, MisfirePolicy, OnLimit, OverlapPolicy
from ..errors import Conflict, NotFound
from .timefmt import from_db, to_db

TYPE_CHECKING = False  # typing's, without importing typing (docs/architecture.md)
if TYPE_CHECKING:
    from typing import Any

    # Imported where rows become objects: `cnp job list` reads rows, and the dataclasses
    # machinery is ~20 ms of its start-up (enums.py).
    from ..models import Job, Prompt
    from .dbapi import Connection


# Runs the daemon materialized ahead of their fire time (see `scheduler.materialize_some`)
# that were never claimed: scheduled runs, first attempts, still pending, never queued (a
# claim handed back keeps its queued_at), created before their time came.
def ahead_sql(alias: str = "") -> str:
    """The condition a run written ahead meets (its columns qualified by `alias`, if any)."""
    e = f"{alias}." if alias else ""
    return (f"{e}status = 'pending' AND {e}trigger = 'schedule' AND {e}attempt = 1"
            f" AND {e}queued_at IS NULL AND {e}created_at < {e}scheduled_for")


def not_due_sql(alias: str = "") -> str:
    """The condition a scheduled run whose fire time is after `?` meets."""
    e = f"{alias}." if alias else ""
    return f"{e}status = 'pending' AND {e}trigger = 'schedule' AND {e}scheduled_for > ?"


AHEAD = ahead_sql()


class CoreQueries:
    # Provided by the concrete store (SqliteStore, PostgresStore).
    db: Connection
    dialect: str
    write: Callable[[], AbstractContextManager[Connection]]
    wake_daemons: Callable[[], None]

    def counts(self) -> dict[str, int]:
        row = self.db.execute(
            """
            SELECT (SELECT count(*) FROM prompts) AS prompts,
                   (SELECT count(*) FROM jobs WHERE deleted_at IS NULL) AS jobs,
                   (SELECT count(*) FROM jobs WHERE deleted_at IS NULL AND enabled = 1)
                       AS jobs_enabled,
                   (SELECT count(*) FROM job_executions) AS executions,
                   (SELECT count(*) FROM execution_events) AS events,
                   (SELECT count(*) FROM usage_entries) AS usage_entries,
                   (SELECT count(*) FROM audit_log) AS audit_log
            """
        ).fetchone()
        return dict(row)

    def applied_migrations(self) -> list[tuple[int, str, str]]:
        rows = self.db.execute("SELECT version, name, applied_at FROM schema_migrations")
        return [(r[0], r[1], r[2]) for r in rows]

    # -- audit -------------------------------------------------------------------------------

    @staticmethod
    def _audit(
        db: Any,
        now: datetime,
        action: str,
        entity: str,
        entity_id: int | None,
        details: dict[str, Any] | None = None,
        actor: str = "cli",
    ) -> int:
        cur = db.execute(
            "INSERT INTO audit_log (at, actor, action, entity, entity_id, details)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (to_db(now), actor, action, entity, entity_id, json.dumps(details or {})),
        )
        audit_id: int = cur.lastrowid
        return audit_id

    def audit_entries(self, entity: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        sql = "SELECT * FROM audit_log"
        args: list[Any] = []
        if entity:
            sql += " WHERE entity = ?"
            args.append(entity)
        rows = self.db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [{**dict(r), "details": json.loads(r["details"])} for r in rows]

    # -- prompts -----------------------------------------------------------------------------

    def insert_prompts(
        self, prompts: Sequence[Prompt], now: datetime, actor: str = "cli"
    ) -> list[int]:
        """Store prompts in one transaction: all of them or none."""
        ids = []
        with self.write() as db:
            for p in prompts:
                cur = db.execute(
                    "INSERT INTO prompts (title, content, tags, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (p.title, p.content, ",".join(p.tags), to_db(now), to_db(now)),
                )
                assert cur.lastrowid is not None
                ids.append(cur.lastrowid)
                self._audit(db, now, "create", "prompt", cur.lastrowid, {"title": p.title}, actor)
        return ids

    def get_prompt(self, prompt_id: int) -> Prompt:
        row = self.db.execute("SELECT * FROM prompts WHERE id = ?", (prompt_id,)).fetchone()
        if row is None:
            raise NotFound(f"prompt {prompt_id} does not exist")
        return _prompt(row)

    def list_prompts(self, tag: str | None = None) -> list[Prompt]:
        if tag:
            rows = self.db.execute(
                "SELECT * FROM prompts WHERE instr(',' || tags || ',', ?) > 0 ORDER BY id",
                (f",{tag},",),
            )
        else:
            rows = self.db.execute("SELECT * FROM prompts ORDER BY id")
        return [_prompt(r) for r in rows]

    def update_prompt(self, prompt: Prompt, now: datetime) -> Prompt:
        with self.write() as db:
            cur = db.execute(
                "UPDATE prompts SET title = ?, content = ?, tags = ?, updated_at = ?"
                " WHERE id = ?",
                (prompt.title, prompt.content, ",".join(prompt.tags), to_db(now), prompt.id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"prompt {prompt.id} does not exist")
            self._audit(db, now, "update", "prompt", prompt.id, {"title": prompt.title})
        assert prompt.id is not None
        return self.get_prompt(prompt.id)

    def delete_prompt(self, prompt_id: int, now: datetime) -> None:
        with self.write() as db:
            if db.execute("SELECT 1 FROM prompts WHERE id = ?", (prompt_id,)).fetchone() is None:
                raise NotFound(f"prompt {prompt_id} does not exist")
            users = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM jobs WHERE prompt_id = ? AND deleted_at IS NULL ORDER BY id",
                    (prompt_id,),
                )
            ]
            if users:
                raise Conflict(
                    f"prompt {prompt_id} is used by job(s) {', '.join(map(str, users))}",
                    hint="delete those jobs first (their run history is kept)",
                )
            # Deleted jobs keep their history but let go of the prompt.
            db.execute(
                "UPDATE jobs SET prompt_id = NULL WHERE prompt_id = ? AND deleted_at IS NOT NULL",
                (prompt_id,),
            )
            db.execute("DELETE FROM prompts WHERE id = ?", (prompt_id,))
            self._audit(db, now, "delete", "prompt", prompt_id)

    # -- jobs --------------------------------------------------------------------------------

    def insert_job(self, job: Job, now: datetime, actor: str = "cli") -> int:
        with self.write() as db:
            found = db.execute("SELECT 1 FROM prompts WHERE id = ?", (job.prompt_id,)).fetchone()
            if found is None:
                raise NotFound(f"prompt {job.prompt_id} does not exist")
            cur = db.execute(
                """
                INSERT INTO jobs (prompt_id, name, description, cron_expr, run_at, timezone,
                    enabled, next_run_at, work_dir, executor, options, timeout_s, idle_timeout_s,
                    retries, misfire, misfire_grace_s, overlap, on_interrupt, on_limit,
                    created_at, updated_at, worktree, continue_session, template_vars,
                    risk_level, risk_accepted, max_output_bytes)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                        ?, ?, ?, ?, ?, ?)
                """,
                (
                    job.prompt_id, job.name, job.description, job.cron_expr, to_db(job.run_at),
                    job.timezone, int(job.enabled), to_db(job.next_run_at), job.work_dir,
                    str(job.executor), job.options.to_json(), job.timeout_s, job.idle_timeout_s,
                    job.retries, str(job.misfire), job.misfire_grace_s, str(job.overlap),
                    str(job.on_interrupt), str(job.on_limit), to_db(now), to_db(now),
                    int(job.worktree), int(job.continue_session),
                    json.dumps(job.template_vars, sort_keys=True), job.risk_level,
                    int(job.risk_accepted), job.max_output_bytes,
                ),
            )
            job_id = cur.lastrowid
            assert job_id is not None
            self._audit(
                db, now, "create", "job", job_id,
                {"schedule": job.schedule_text, "timezone": job.timezone,
                 "enabled": job.enabled, "prompt_id": job.prompt_id,
                 "risk_level": job.risk_level, "risk_accepted": job.risk_accepted},
                actor,
            )
            self.wake_daemons()
        return job_id

    # Runs materialized ahead (AHEAD) are the job's next fire times, not its last status: the
    # earliest of them is its next run (the trailing `next_run_at` replaces the stored one:
    # of two columns of one name, readers by name take the last).
    _JOB_SELECT = f"""
        SELECT j.*,
               (SELECT e.status FROM job_executions e
                 WHERE e.job_id = j.id AND NOT ({ahead_sql('e')}) ORDER BY e.id DESC LIMIT 1)
                 AS last_status,
               (SELECT max(e.started_at) FROM job_executions e
                 WHERE e.job_id = j.id) AS last_run_at,
               coalesce(a.next_at, j.next_run_at) AS next_run_at
          FROM jobs j
          LEFT JOIN (SELECT job_id, min(scheduled_for) AS next_at FROM job_executions
                      WHERE {AHEAD} GROUP BY job_id) a ON a.job_id = j.id
    """

    def get_job(self, job_id: int, *, include_deleted: bool = False) -> Job:
        jobs = self._jobs(" WHERE j.id = ?", (job_id,))
        if not jobs or (jobs[0].deleted_at is not None and not include_deleted):
            raise NotFound(f"job {job_id} does not exist")
        return jobs[0]

    def jobs_by_id(self, job_ids: list[int]) -> list[Job]:
        """Live jobs with these ids, in id order, without the last-run summary (for the
        scheduler, which reads a batch of due jobs at once)."""
        if not job_ids:
            return []
        marks = ",".join("?" * len(job_ids))
        cur = self.db.cursor()
        cur.row_factory = None
        cur.execute("SELECT j.*, NULL AS last_status, NULL AS last_run_at FROM jobs j"
                    f" WHERE j.id IN ({marks}) AND j.deleted_at IS NULL ORDER BY j.id",
                    tuple(job_ids))
        return _jobs_of([d[0] for d in cur.description], cur)

    def list_jobs(self, *, include_deleted: bool = False) -> list[Job]:
        where = "" if include_deleted else " WHERE j.deleted_at IS NULL"
        return self._jobs(where + " ORDER BY j.id", ())

    def job_rows(
        self, *, include_deleted: bool = False
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The jobs `list_jobs` returns, as stored: the column names, then one plain tuple per
        job. For listings of many jobs that need no `Job` objects (`shapes.job_dicts`)."""
        where = "" if include_deleted else " WHERE j.deleted_at IS NULL"
        return self._job_tuples(where + " ORDER BY j.id", ())

    def _jobs(self, tail: str, args: tuple[Any, ...]) -> list[Job]:
        return _jobs_of(*self._job_tuples(tail, args))

    def _job_tuples(
        self, tail: str, args: tuple[Any, ...]
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        # Plain tuples: sqlite3.Row's lookup by name costs more than the query itself when
        # `cnp job list` reads a thousand jobs.
        cur = self.db.cursor()
        cur.row_factory = None
        cur.execute(self._JOB_SELECT + tail, args)
        names = [d[0] for d in cur.description]
        return names, cur.fetchall()

    def set_job_enabled(
        self, job_id: int, enabled: bool, next_run_at: datetime | None, now: datetime
    ) -> None:
        with self.write() as db:
            withdraw_ahead(db, now, job_id=job_id)
            cur = db.execute(
                "UPDATE jobs SET enabled = ?, next_run_at = ?, updated_at = ?"
                " WHERE id = ? AND deleted_at IS NULL",
                (int(enabled), to_db(next_run_at), to_db(now), job_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"job {job_id} does not exist")
            self._audit(db, now, "resume" if enabled else "pause", "job", job_id)
            self.wake_daemons()

    def delete_job(self, job_id: int, now: datetime) -> None:
        """Retire a job: it never fires again, its runs stay readable."""
        with self.write() as db:
            withdraw_ahead(db, now, job_id=job_id)
            cur = db.execute(
                "UPDATE jobs SET deleted_at = ?, enabled = 0, next_run_at = NULL, updated_at = ?"
                " WHERE id = ? AND deleted_at IS NULL",
                (to_db(now), to_db(now), job_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"job {job_id} does not exist")
            self._audit(db, now, "delete", "job", job_id)
            self.wake_daemons()


def withdraw_ahead(db: Connection, now: datetime, *, job_id: int | None = None,
                   due: bool = False) -> dict[int, datetime]:
    """Delete runs materialized ahead and not claimed, inside the caller's write transaction:
    of one job (`job_id`) or of every job; those still to come (`scheduled_for > now`), or
    with `due` those whose time has come. Returns each job's earliest withdrawn fire time, for
    the caller to put back into the job's `next_run_at`.

    A job that is edited, paused or deleted takes its runs to come back with it (they were
    written with the old definition); a daemon that was not looking when such runs came due
    (it was suspended, or down) takes them back to apply the misfire policy to them."""
    sql = f"DELETE FROM job_executions WHERE {AHEAD} AND scheduled_for {'<=' if due else '>'} ?"
    args: list[Any] = [to_db(now)]
    if job_id is not None:
        sql += " AND job_id = ?"
        args.append(job_id)
    earliest: dict[int, datetime] = {}
    for withdrawn_job, scheduled in db.execute(sql + " RETURNING job_id, scheduled_for", args):
        at = from_db(scheduled)
        assert at is not None
        if withdrawn_job not in earliest or at < earliest[withdrawn_job]:
            earliest[withdrawn_job] = at
    return earliest


def _prompt(row: Any) -> Prompt:
    from ..models import Prompt

    return Prompt(
        id=row["id"],
        title=row["title"],
        content=row["content"],
        tags=[t for t in row["tags"].split(",") if t],
        created_at=from_db(row["created_at"]),
        updated_at=from_db(row["updated_at"]),
    )


def _jobs_of(names: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[Job]:
    """The `Job`s of stored rows: column names, then one tuple of values per job."""
    from ..models import ClaudeOptions, Job  # once per listing, not per job

    def job(row: dict[str, Any]) -> Job:
        return Job(
            id=row["id"],
            prompt_id=row["prompt_id"],
            name=row["name"],
            description=row["description"],
            cron_expr=row["cron_expr"],
            run_at=from_db(row["run_at"]),
            timezone=row["timezone"],
            enabled=bool(row["enabled"]),
            next_run_at=from_db(row["next_run_at"]),
            work_dir=row["work_dir"],
            executor=ExecutorKind(row["executor"]),
            options=ClaudeOptions.from_json(row["options"]),
            timeout_s=row["timeout_s"],
            idle_timeout_s=row["idle_timeout_s"],
            max_output_bytes=row["max_output_bytes"],
            retries=row["retries"],
            misfire=MisfirePolicy(row["misfire"]),
            misfire_grace_s=row["misfire_grace_s"],
            overlap=OverlapPolicy(row["overlap"]),
            on_interrupt=InterruptPolicy(row["on_interrupt"]),
            on_limit=OnLimit(row["on_limit"]),
            worktree=bool(row["worktree"]),
            continue_session=bool(row["continue_session"]),
            template_vars=_template_vars(row["template_vars"]),
            risk_level=row["risk_level"],
            risk_accepted=bool(row["risk_accepted"]),
            created_at=from_db(row["created_at"]),
            updated_at=from_db(row["updated_at"]),
            deleted_at=from_db(row["deleted_at"]),
            last_status=row["last_status"],
            last_run_at=from_db(row["last_run_at"]),
        )

    return [job(dict(zip(names, values, strict=True))) for values in rows]


def _template_vars(text: str | None) -> dict[str, str]:
    if not text or text == "{}":  # the common case, without a JSON parse per listed job
        return {}
    values: dict[str, str] = json.loads(text)
    return values
