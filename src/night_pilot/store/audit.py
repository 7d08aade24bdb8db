"""Queries for the audit log: what was changed, by whom, when.

`record` writes an entry inside the caller's transaction; every query object that changes
something worth auditing calls it with its own connection.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .queries import Queries, new_id
from .timefmt import from_db, to_db


def record(db: Any, now: datetime, action: str, entity: str, entity_id: int | None,
           details: dict[str, Any] | None = None, actor: str = "cli") -> int:
    """Add an audit entry inside the caller's write transaction; returns its id."""
    return new_id(db.execute(
        "INSERT INTO audit_log (at, actor, action, entity, entity_id, details)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (to_db(now), actor, action, entity, entity_id, json.dumps(details or {})),
    ))


class AuditQueries(Queries):
    def add(self, now: datetime, action: str, entity: str, entity_id: int | None,
            details: dict[str, Any], actor: str = "cli") -> int:
        with self.write() as db:
            return record(db, now, action, entity, entity_id, details, actor)

    def entries(self, entity: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        sql = "SELECT * FROM audit_log"
        args: list[Any] = []
        if entity:
            sql += " WHERE entity = ?"
            args.append(entity)
        rows = self.db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [{**dict(r), "details": json.loads(r["details"])} for r in rows]

    def log(self, *, job_id: int | None = None, run_id: int | None = None,
            action: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Audit entries, newest first. `job_id` selects the job's own entries and those of
        its runs; `execution_id` one run's."""
        where: list[str] = []
        args: list[Any] = []
        if job_id is not None:
            where.append("((entity = 'job' AND entity_id = ?) OR (entity = 'execution'"
                         f" AND {self.dialect.json_int('details', 'job_id')} = ?))")
            args += [job_id, job_id]
        if run_id is not None:
            where.append("entity = 'execution' AND entity_id = ?")
            args.append(run_id)
        if action is not None:
            where.append("action = ?")
            args.append(action)
        sql = "SELECT * FROM audit_log" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [{**dict(r), "at": from_db(r["at"]), "details": json.loads(r["details"])}
                for r in rows]
