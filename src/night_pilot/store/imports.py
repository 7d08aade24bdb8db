"""Queries for tasks of another scheduler imported as jobs (`cnp import claude-code`): which
tasks of a source became which job, so that importing the same file again skips them."""

from __future__ import annotations

from datetime import datetime

from .queries import Queries
from .timefmt import to_db


class ImportQueries(Queries):
    def tasks(self, source: str, origin: str) -> dict[str, int]:
        """The tasks of `origin` (a project directory, say) already imported: task id → job."""
        rows = self.db.execute(
            "SELECT task_id, job_id FROM imported_tasks WHERE source = ? AND origin = ?",
            (source, origin),
        )
        return {r[0]: r[1] for r in rows}

    def record(self, source: str, origin: str, task_id: str, job_id: int,
               now: datetime) -> None:
        """Remember that a task became this job (inside the import's transaction)."""
        with self.write() as db:
            db.execute(
                "INSERT INTO imported_tasks (source, origin, task_id, job_id, imported_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (source, origin, task_id, job_id, to_db(now)),
            )
