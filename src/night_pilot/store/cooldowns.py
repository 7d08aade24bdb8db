"""Queries for cooldowns: the usage limits Claude reported, until they reset or are cleared."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .queries import Queries, new_id
from .timefmt import from_db, to_db


class CooldownQueries(Queries):
    def insert(
        self, *, kind: str, reset_at: datetime, detected_at: datetime,
        source_execution_id: int | None, message: str | None,
    ) -> int | None:
        """Record a usage limit; None if the same limit (kind and reset) is already recorded."""
        with self.write() as db:
            same = db.execute(
                "SELECT id FROM cooldowns WHERE kind = ? AND reset_at = ? AND cleared_at IS NULL",
                (kind, to_db(reset_at)),
            ).fetchone()
            if same:
                return None
            return new_id(db.execute(
                "INSERT INTO cooldowns (kind, reset_at, detected_at, source_execution_id, message)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (kind, to_db(reset_at), to_db(detected_at), source_execution_id, message),
            ))

    def active(self, since: datetime) -> dict[str, Any] | None:
        """The uncleared usage limit that resets last, if it resets after `since`."""
        row = self.db.execute(
            "SELECT * FROM cooldowns WHERE cleared_at IS NULL AND reset_at > ?"
            " ORDER BY reset_at DESC LIMIT 1",
            (to_db(since),),
        ).fetchone()
        if row is None:
            return None
        data = dict(row)
        for key in ("reset_at", "detected_at", "cleared_at"):
            data[key] = from_db(data[key])
        return data

    def clear(self, now: datetime) -> int:
        """End every recorded limit now; deferred runs become due at once."""
        with self.write() as db:
            cur = db.execute("UPDATE cooldowns SET cleared_at = ? WHERE cleared_at IS NULL",
                             (to_db(now),))
            db.execute("UPDATE job_executions SET retry_at = ? WHERE status = 'deferred'",
                       (to_db(now),))
            db.execute("UPDATE notifications SET next_attempt_at = ? WHERE event ="
                       " 'cooldown_end' AND sent_at IS NULL AND next_attempt_at > ?",
                       (to_db(now), to_db(now)))
            self.store.wake_daemons()
            return cur.rowcount
