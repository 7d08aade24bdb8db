"""Queries for the daemons that share a database: each registers, heartbeats and says when it
stops."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .queries import Queries
from .timefmt import to_db


class DaemonQueries(Queries):
    def register(
        self, instance: str, host: str, pid: int, version: str, role: str, now: datetime,
    ) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO daemons (instance_id, host, pid, version, role, started_at,"
                " heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (instance_id) DO UPDATE SET role = excluded.role,"
                " heartbeat_at = excluded.heartbeat_at",
                (instance, host, pid, version, role, to_db(now), to_db(now)),
            )

    def heartbeat(self, instance: str, now: datetime) -> None:
        with self.write() as db:
            db.execute("UPDATE daemons SET heartbeat_at = ? WHERE instance_id = ?",
                       (to_db(now), instance))

    def stopped(self, instance: str, now: datetime) -> None:
        with self.write() as db:
            db.execute("UPDATE daemons SET stopped_at = ?, heartbeat_at = ? WHERE instance_id = ?",
                       (to_db(now), to_db(now), instance))

    def live(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM daemons WHERE stopped_at IS NULL ORDER BY heartbeat_at DESC")
        return [dict(r) for r in rows]
