"""Queries for notifications: the targets (global and per job) and the outbox.

Enqueueing joins the caller's transaction, so an event is recorded exactly when what caused it
commits; delivery marks each row sent, or counts the attempt and says when to try again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..errors import NotFound
from .queries import Queries, new_id
from .timefmt import from_db, to_db

# A target's events with a comma on each side, so that `,event,` finds a whole name.
_EVENTS = "',' || events || ','"


class NotificationQueries(Queries):
    def add_target(self, url: str, events: list[str], job_id: int | None,
                                now: datetime) -> int:
        with self.write() as db:
            if job_id is not None and db.execute(
                    "SELECT 1 FROM jobs WHERE id = ? AND deleted_at IS NULL",
                    (job_id,)).fetchone() is None:
                raise NotFound(f"job {job_id} does not exist")
            return new_id(db.execute(
                "INSERT INTO notification_targets (job_id, url, events, created_at)"
                " VALUES (?, ?, ?, ?) RETURNING id",
                (job_id, url, ",".join(events), to_db(now)),
            ))

    def targets(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM notification_targets ORDER BY id")
        return [{**dict(r), "events": r["events"].split(",")} for r in rows]

    def remove_target(self, target_id: int) -> None:
        with self.write() as db:
            cur = db.execute("DELETE FROM notification_targets WHERE id = ?", (target_id,))
            if cur.rowcount == 0:
                raise NotFound(f"notification target {target_id} does not exist")

    def urls_for(self, event: str, job_id: int | None) -> list[str]:
        """Targets that want `event`: the global ones plus the job's own."""
        rows = self.db.execute(
            "SELECT url FROM notification_targets"
            " WHERE (job_id IS NULL OR job_id IS NOT DISTINCT FROM ?)"
            f" AND {self.dialect.contains(_EVENTS, '?')} ORDER BY id",
            (job_id, f",{event},"),
        )
        return list(dict.fromkeys(r[0] for r in rows))

    def enqueue(self, *, event: str, job_id: int | None,
                             run_id: int | None, title: str, body: str,
                             now: datetime, deliver_at: datetime | None = None) -> int:
        with self.write() as db:
            return new_id(db.execute(
                "INSERT INTO notifications (event, job_id, execution_id, title, body, created_at,"
                " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (event, job_id, run_id, title, body, to_db(now),
                 to_db(deliver_at or now)),
            ))

    def due(self, now: datetime, max_attempts: int,
                          limit: int = 50) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM notifications WHERE sent_at IS NULL AND attempts < ?"
            " AND next_attempt_at <= ? ORDER BY id LIMIT ?",
            (max_attempts, to_db(now), limit),
        )
        return [dict(r) for r in rows]

    def record_delivery(self, notification_id: int, *, ok: bool, error: str | None,
                        now: datetime, retry_at: datetime | None) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE notifications SET attempts = attempts + 1, last_error = ?,"
                " sent_at = CASE WHEN ? = 1 THEN ? ELSE NULL END,"
                " next_attempt_at = coalesce(?, next_attempt_at) WHERE id = ?",
                (error, int(ok), to_db(now), to_db(retry_at), notification_id),
            )

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM notifications ORDER BY id DESC LIMIT ?", (limit,))
        out = []
        for r in rows:
            data = dict(r)
            for key in ("created_at", "next_attempt_at", "sent_at"):
                data[key] = from_db(data[key])
            out.append(data)
        return out
