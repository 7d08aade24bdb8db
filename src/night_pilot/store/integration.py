"""SQLite queries for the Claude Code integration: what a run was given at spawn (worktree,
rendered template, file references, risk), the per-run audit entries, sessions, and worktrees.

Each method is atomic on its own; updates of a claimed run are conditional on owner and token,
like every other update of a run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .dbapi import Connection
from .runs import _RUN_SELECT, _execution
from .timefmt import from_db, to_db

if TYPE_CHECKING:
    from ..execution import Execution

# Statuses a run can have once it has finished executing (or never will).
_DONE = "('completed', 'failed', 'cancelled', 'interrupted')"


class IntegrationQueries:
    # Provided by SqliteStore, which mixes this class in.
    db: Connection
    write: Callable[[], AbstractContextManager[Connection]]
    _audit: Callable[..., int]
    _sql_json_int: Callable[[str, str], str]
    _sql_concat_distinct: Callable[[str], str]

    # -- a run at spawn ---------------------------------------------------------------------

    def record_spawn(
        self, run_id: int, instance: str, token: int, *, rendered: bool | None,
        file_refs: list[dict[str, Any]] | None, risk_level: str | None,
        worktree_branch: str | None = None, worktree_path: str | None = None,
        worktree_base: str | None = None, resume_session_id: str | None = None,
    ) -> bool:
        """What the runner decided while preparing a run we own (before or right after spawn)."""
        with self.write() as db:
            cur = db.execute(
                """
                UPDATE job_executions
                   SET rendered = ?, file_refs = ?, risk_level = ?,
                       worktree_branch = ?, worktree_path = ?, worktree_base = ?,
                       worktree_state = ?,
                       resume_session_id = coalesce(?, resume_session_id)
                 WHERE id = ? AND claimed_by = ? AND fencing_token = ?
                   AND status IN ('queued', 'running')
                """,
                (
                    None if rendered is None else int(rendered),
                    json.dumps(file_refs) if file_refs is not None else None, risk_level,
                    worktree_branch, worktree_path, worktree_base,
                    None if worktree_path is None else "active",
                    resume_session_id, run_id, instance, token,
                ),
            )
            return cur.rowcount == 1

    def set_worktree_state(self, run_id: int, state: str) -> None:
        with self.write() as db:
            db.execute("UPDATE job_executions SET worktree_state = ? WHERE id = ?",
                       (state, run_id))

    # -- what a run inherits from the runs before it ----------------------------------------

    def previous_run_status(self, job_id: int, before_run_id: int) -> str | None:
        """The status of the job's latest run before this one that got as far as starting."""
        row = self.db.execute(
            f"SELECT status FROM job_executions WHERE job_id = ? AND id < ?"
            f" AND started_at IS NOT NULL AND status IN {_DONE} ORDER BY id DESC LIMIT 1",
            (job_id, before_run_id),
        ).fetchone()
        return str(row[0]) if row else None

    def previous_session(self, job_id: int, before_run_id: int) -> str | None:
        """The session of the job's latest run before this one that reported one."""
        row = self.db.execute(
            "SELECT session_id FROM job_executions WHERE job_id = ? AND id < ?"
            " AND session_id IS NOT NULL ORDER BY id DESC LIMIT 1",
            (job_id, before_run_id),
        ).fetchone()
        return str(row[0]) if row else None

    # -- the audit log ----------------------------------------------------------------------

    def add_audit(self, now: datetime, action: str, entity: str, entity_id: int | None,
                  details: dict[str, Any], actor: str = "cli") -> int:
        with self.write() as db:
            audit_id = self._audit(db, now, action, entity, entity_id, details, actor)
            return audit_id

    def audit_log(self, *, job_id: int | None = None, execution_id: int | None = None,
                  action: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Audit entries, newest first. `job_id` selects the job's own entries and those of
        its runs; `execution_id` one run's."""
        where: list[str] = []
        args: list[Any] = []
        if job_id is not None:
            where.append("((entity = 'job' AND entity_id = ?) OR (entity = 'execution'"
                         f" AND {self._sql_json_int('details', 'job_id')} = ?))")
            args += [job_id, job_id]
        if execution_id is not None:
            where.append("entity = 'execution' AND entity_id = ?")
            args.append(execution_id)
        if action is not None:
            where.append("action = ?")
            args.append(action)
        sql = "SELECT * FROM audit_log" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [{**dict(r), "at": from_db(r["at"]), "details": json.loads(r["details"])}
                for r in rows]

    # -- sessions ---------------------------------------------------------------------------

    def sessions(self, *, job_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Runs grouped by Claude session, most recently active first, with their totals."""
        where = "WHERE session_id IS NOT NULL"
        args: list[Any] = []
        if job_id is not None:
            where += " AND session_id IN (SELECT session_id FROM job_executions WHERE job_id = ?)"
            args.append(job_id)
        rows = self.db.execute(
            f"""
            SELECT session_id, count(*) AS runs,
                   {self._sql_concat_distinct('job_id')} AS job_ids,
                   min(coalesce(started_at, created_at)) AS first_at,
                   max(coalesce(finished_at, started_at, created_at)) AS last_at,
                   sum(coalesce(input_tokens, 0)) AS input_tokens,
                   sum(coalesce(output_tokens, 0)) AS output_tokens,
                   sum(coalesce(cache_creation_tokens, 0)) AS cache_creation_tokens,
                   sum(coalesce(cache_read_tokens, 0)) AS cache_read_tokens,
                   sum(total_cost_usd) AS cost_usd,
                   sum(coalesce(num_turns, 0)) AS turns,
                   (SELECT l.status FROM job_executions l WHERE l.session_id = e.session_id
                     ORDER BY l.id DESC LIMIT 1) AS last_status,
                   max(id) AS last_execution_id
              FROM job_executions e {where}
             GROUP BY session_id
             ORDER BY last_at DESC, last_execution_id DESC
             LIMIT ?
            """,
            (*args, limit),
        )
        out = []
        for r in rows:
            data = dict(r)
            data["job_ids"] = sorted({int(x) for x in (r["job_ids"] or "").split(",") if x})
            data["first_at"], data["last_at"] = from_db(r["first_at"]), from_db(r["last_at"])
            out.append(data)
        return out

    def session_ids_like(self, prefix: str, limit: int = 10) -> list[str]:
        """Session ids that start with `prefix` (a session can be named by a unique prefix)."""
        rows = self.db.execute(
            "SELECT DISTINCT session_id FROM job_executions"
            " WHERE substr(session_id, 1, length(?)) = ? ORDER BY session_id LIMIT ?",
            (prefix, prefix, limit),
        )
        return [r[0] for r in rows]

    def session_runs(self, session_id: str) -> list[Execution]:
        """Every run that reported this session or resumed it, oldest first."""
        rows = self.db.execute(
            _RUN_SELECT + " WHERE e.session_id = ? OR e.resume_session_id = ? ORDER BY e.id",
            (session_id, session_id),
        )
        return [_execution(r) for r in rows]

    # -- worktrees --------------------------------------------------------------------------

    def worktree_runs(self, *, job_id: int | None = None, states: tuple[str, ...] = (
            "active", "kept")) -> list[Execution]:
        """Runs that made a worktree, in the given states, newest first."""
        marks = ",".join("?" * len(states))
        sql = _RUN_SELECT + f" WHERE e.worktree_state IN ({marks})"
        args: list[Any] = list(states)
        if job_id is not None:
            sql += " AND e.job_id = ?"
            args.append(job_id)
        return [_execution(r) for r in self.db.execute(sql + " ORDER BY e.id DESC", args)]

    def worktree_cleaned(self, run_id: int, now: datetime, details: dict[str, Any]) -> None:
        """A worktree removed by `cnp worktree clean`: its state and an audit entry together."""
        with self.write() as db:
            db.execute("UPDATE job_executions SET worktree_state = 'removed' WHERE id = ?",
                       (run_id,))
            self._audit(db, now, "worktree_remove", "execution", run_id, details)

    # -- tasks imported from another scheduler ------------------------------------------------

    def imported_tasks(self, source: str, origin: str) -> dict[str, int]:
        """The tasks of `origin` (a project directory, say) already imported: task id → job."""
        rows = self.db.execute(
            "SELECT task_id, job_id FROM imported_tasks WHERE source = ? AND origin = ?",
            (source, origin),
        )
        return {r[0]: r[1] for r in rows}

    def record_imported_task(self, source: str, origin: str, task_id: str, job_id: int,
                             now: datetime) -> None:
        """Remember that a task became this job (inside the import's transaction)."""
        with self.write() as db:
            db.execute(
                "INSERT INTO imported_tasks (source, origin, task_id, job_id, imported_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (source, origin, task_id, job_id, to_db(now)),
            )
