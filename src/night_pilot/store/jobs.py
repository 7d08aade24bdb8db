"""Queries for jobs: what runs when, in which directory, with which settings.

A job is retired, not deleted (`deleted_at`): its runs stay readable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..enums import ExecutorKind, InterruptPolicy, MisfirePolicy, OnLimit, OverlapPolicy
from ..errors import NotFound
from .audit import record
from .queries import Queries, new_id
from .schedule import AHEAD, ahead_sql, withdraw_ahead
from .timefmt import from_db, to_db

if TYPE_CHECKING:
    # Imported where rows become objects: `cnp job list` reads rows, and the dataclasses
    # machinery is ~20 ms of its start-up (enums.py).
    from ..models import Job


class JobQueries(Queries):
    def insert(self, job: Job, now: datetime, actor: str = "cli") -> int:
        with self.write() as db:
            found = db.execute("SELECT 1 FROM prompts WHERE id = ?", (job.prompt_id,)).fetchone()
            if found is None:
                raise NotFound(f"prompt {job.prompt_id} does not exist")
            job_id = new_id(db.execute(
                """
                INSERT INTO jobs (prompt_id, name, description, cron_expr, run_at, timezone,
                    enabled, next_run_at, work_dir, executor, options, timeout_s, idle_timeout_s,
                    retries, misfire, misfire_grace_s, overlap, on_interrupt, on_limit,
                    created_at, updated_at, worktree, continue_session, template_vars,
                    risk_level, risk_accepted, max_output_bytes, quota_ceiling,
                    weekly_ceiling, spare_window_s)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                        ?, ?, ?, ?, ?, ?, ?, ?, ?)
                RETURNING id
                """,
                (
                    job.prompt_id, job.name, job.description, job.cron_expr, to_db(job.run_at),
                    job.timezone, int(job.enabled), to_db(job.next_run_at), job.work_dir,
                    str(job.executor), job.options.to_json(), job.timeout_s, job.idle_timeout_s,
                    job.retries, str(job.misfire), job.misfire_grace_s, str(job.overlap),
                    str(job.on_interrupt), str(job.on_limit), to_db(now), to_db(now),
                    int(job.worktree), int(job.continue_session),
                    json.dumps(job.template_vars, sort_keys=True), job.risk_level,
                    int(job.risk_accepted), job.max_output_bytes, job.quota_ceiling,
                    job.weekly_ceiling, job.spare_window_s,
                ),
            ))
            record(
                db, now, "create", "job", job_id,
                {"schedule": job.schedule_text, "timezone": job.timezone,
                 "enabled": job.enabled, "prompt_id": job.prompt_id,
                 "risk_level": job.risk_level, "risk_accepted": job.risk_accepted},
                actor,
            )
            self.store.wake_daemons()
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

    def get(self, job_id: int, *, include_deleted: bool = False) -> Job:
        jobs = self._jobs(" WHERE j.id = ?", (job_id,))
        if not jobs or (jobs[0].deleted_at is not None and not include_deleted):
            raise NotFound(f"job {job_id} does not exist")
        return jobs[0]

    def by_id(self, job_ids: list[int]) -> list[Job]:
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

    def all(self, *, include_deleted: bool = False) -> list[Job]:
        where = "" if include_deleted else " WHERE j.deleted_at IS NULL"
        return self._jobs(where + " ORDER BY j.id", ())

    def rows(
        self, *, include_deleted: bool = False
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The jobs `all` returns, as stored: the column names, then one plain tuple per
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

    def set_enabled(
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
            record(db, now, "resume" if enabled else "pause", "job", job_id)
            self.store.wake_daemons()

    def delete(self, job_id: int, now: datetime) -> None:
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
            record(db, now, "delete", "job", job_id)
            self.store.wake_daemons()

    def upcoming(self, limit: int = 10) -> list[dict[str, Any]]:
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

    def names(self) -> list[tuple[int, str]]:
        """(id, name) of every job, deleted ones too: for filter menus."""
        return [(r[0], r[1]) for r in self.db.execute("SELECT id, name FROM jobs ORDER BY id")]

    def using_prompt(self, prompt_id: int) -> list[int]:
        rows = self.db.execute(
            "SELECT id FROM jobs WHERE prompt_id = ? AND deleted_at IS NULL ORDER BY id",
            (prompt_id,))
        return [r[0] for r in rows]

    def update(self, job_id: int, job: Job, now: datetime, *, reschedule: bool,
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
                       quota_ceiling = ?, weekly_ceiling = ?, spare_window_s = ?,
                       next_run_at = CASE WHEN ? = 1 THEN ? ELSE next_run_at END,
                       updated_at = ?
                 WHERE id = ? AND deleted_at IS NULL
                """,
                (
                    job.prompt_id, job.name, job.description, job.cron_expr, to_db(job.run_at),
                    job.timezone, job.work_dir, str(job.executor), job.options.to_json(),
                    job.timeout_s, job.idle_timeout_s, job.max_output_bytes, job.retries,
                    str(job.misfire),
                    job.misfire_grace_s, str(job.overlap), str(job.on_interrupt),
                    str(job.on_limit), job.quota_ceiling, job.weekly_ceiling, job.spare_window_s,
                    int(reschedule or withdrawn is not None), to_db(next_run_at),
                    to_db(now),
                    job_id,
                ),
            )
            if cur.rowcount == 0:
                raise NotFound(f"job {job_id} does not exist")
            record(db, now, "update", "job", job_id,
                        {"schedule": job.schedule_text, "timezone": job.timezone,
                         "prompt_id": job.prompt_id, "rescheduled": reschedule}, actor)
            self.store.wake_daemons()

    def overlaps(self, job_ids: Iterable[int]) -> dict[int, str]:
        """Each existing job's overlap policy, by id."""
        ids = sorted(set(job_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(f"SELECT id, overlap FROM jobs WHERE id IN ({marks})", ids)
        return {r[0]: str(r[1]) for r in rows}


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
            quota_ceiling=row["quota_ceiling"],
            weekly_ceiling=row["weekly_ceiling"],
            spare_window_s=row["spare_window_s"],
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
