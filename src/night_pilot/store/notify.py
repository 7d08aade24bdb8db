"""SQLite queries for notifications: the targets (global and per job) and the outbox.

Enqueueing joins the caller's transaction, so an event is recorded exactly when what caused it
commits; delivery marks each row sent, or counts the attempt and says when to try again.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from ..errors import NotFound
from .dbapi import Connection
from .timefmt import from_db, to_db


class NotifyQueries:
    # Provided by the concrete store (SqliteStore, PostgresStore), which mixes this in.
    db: Connection
    write: Callable[[], AbstractContextManager[Connection]]

    def add_notification_target(self, url: str, events: list[str], job_id: int | None,
                                now: datetime) -> int:
        with self.write() as db:
            if job_id is not None and db.execute(
                    "SELECT 1 FROM jobs WHERE id = ? AND deleted_at IS NULL",
                    (job_id,)).fetchone() is None:
                raise NotFound(f"job {job_id} does not exist")
            cur = db.execute(
                "INSERT INTO notification_targets (job_id, url, events, created_at)"
                " VALUES (?, ?, ?, ?)",
                (job_id, url, ",".join(events), to_db(now)),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    def notification_targets(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM notification_targets ORDER BY id")
        return [{**dict(r), "events": r["events"].split(",")} for r in rows]

    def remove_notification_target(self, target_id: int) -> None:
        with self.write() as db:
            cur = db.execute("DELETE FROM notification_targets WHERE id = ?", (target_id,))
            if cur.rowcount == 0:
                raise NotFound(f"notification target {target_id} does not exist")

    def urls_for(self, event: str, job_id: int | None) -> list[str]:
        """Targets that want `event`: the global ones plus the job's own."""
        rows = self.db.execute(
            "SELECT url FROM notification_targets WHERE (job_id IS NULL OR job_id IS ?)"
            " AND instr(',' || events || ',', ?) > 0 ORDER BY id",
            (job_id, f",{event},"),
        )
        return list(dict.fromkeys(r[0] for r in rows))

    def enqueue_notification(self, *, event: str, job_id: int | None,
                             execution_id: int | None, title: str, body: str,
                             now: datetime, deliver_at: datetime | None = None) -> int:
        with self.write() as db:
            cur = db.execute(
                "INSERT INTO notifications (event, job_id, execution_id, title, body, created_at,"
                " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (event, job_id, execution_id, title, body, to_db(now),
                 to_db(deliver_at or now)),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    def due_notifications(self, now: datetime, max_attempts: int,
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
                " sent_at = CASE WHEN ? THEN ? ELSE NULL END,"
                " next_attempt_at = coalesce(?, next_attempt_at) WHERE id = ?",
                (error, int(ok), to_db(now), to_db(retry_at), notification_id),
            )

    def notifications(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM notifications ORDER BY id DESC LIMIT ?", (limit,))
        out = []
        for r in rows:
            data = dict(r)
            for key in ("created_at", "next_attempt_at", "sent_at"):
                data[key] = from_db(data[key])
            out.append(data)
        return out
