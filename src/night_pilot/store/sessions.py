"""Queries for Claude sessions: the runs grouped by the session they reported or resumed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .queries import Queries
from .runrows import RUN_SELECT, to_run
from .timefmt import from_db

if TYPE_CHECKING:
    from ..models import Run


class SessionQueries(Queries):
    def previous(self, job_id: int, before_run_id: int) -> str | None:
        """The session of the job's latest run before this one that reported one."""
        row = self.db.execute(
            "SELECT session_id FROM job_executions WHERE job_id = ? AND id < ?"
            " AND session_id IS NOT NULL ORDER BY id DESC LIMIT 1",
            (job_id, before_run_id),
        ).fetchone()
        return str(row[0]) if row else None

    def recent(self, *, job_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Runs grouped by Claude session, most recently active first, with their totals."""
        where = "WHERE session_id IS NOT NULL"
        args: list[Any] = []
        if job_id is not None:
            where += " AND session_id IN (SELECT session_id FROM job_executions WHERE job_id = ?)"
            args.append(job_id)
        rows = self.db.execute(
            f"""
            SELECT session_id, count(*) AS runs,
                   {self.dialect.concat_distinct('job_id')} AS job_ids,
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

    def ids_like(self, prefix: str, limit: int = 10) -> list[str]:
        """Session ids that start with `prefix` (a session can be named by a unique prefix)."""
        rows = self.db.execute(
            "SELECT DISTINCT session_id FROM job_executions"
            " WHERE substr(session_id, 1, length(?)) = ? ORDER BY session_id LIMIT ?",
            (prefix, prefix, limit),
        )
        return [r[0] for r in rows]

    def runs(self, session_id: str) -> list[Run]:
        """Every run that reported this session or resumed it, oldest first."""
        rows = self.db.execute(
            RUN_SELECT + " WHERE e.session_id = ? OR e.resume_session_id = ? ORDER BY e.id",
            (session_id, session_id),
        )
        return [to_run(r) for r in rows]
