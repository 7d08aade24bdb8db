"""Queries for a run's output: the lines of its stream, stored in batches as they arrive
(`execution_events`), and read back in order."""

from __future__ import annotations

from typing import Any

from .queries import Queries


class EventQueries(Queries):
    def append(self, run_id: int, rows: list[tuple[Any, ...]], *,
                      owner: tuple[str, int] | None) -> bool:
        """Store a batch of a run's output lines in one transaction: rows are (seq,
        received_at as stored text (`to_db`), stream, type, subtype, line). With `owner`
        (instance, fencing token), only while that claim holds: False, and nothing written,
        once it is lost."""
        with self.write() as db:
            if owner is not None and db.execute(
                    "SELECT 1 FROM job_executions WHERE id = ? AND claimed_by = ?"
                    " AND fencing_token = ? AND status IN ('queued', 'running')",
                    (run_id, *owner)).fetchone() is None:
                return False
            if rows:
                db.executemany(
                    "INSERT INTO execution_events (execution_id, seq, received_at, stream,"
                    " type, subtype, line) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(run_id, *row) for row in rows])
            return True

    def set_line(self, run_id: int, seq: int, line: str) -> None:
        """Rewrite one stored line (the output-cap marker, once the totals are known)."""
        with self.write() as db:
            db.execute("UPDATE execution_events SET line = ? WHERE execution_id = ? AND seq = ?",
                       (line, run_id, seq))

    def read(self, run_id: int, after_seq: int = -1) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT seq, received_at, stream, type, subtype, line FROM execution_events"
            " WHERE execution_id = ? AND seq > ? ORDER BY seq",
            (run_id, after_seq),
        )
        return [dict(r) for r in rows]

    def page(self, run_id: int, after_seq: int, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` of a run's output lines after `after_seq`, in order."""
        rows = self.db.execute(
            "SELECT seq, received_at, stream, type, subtype, line FROM execution_events"
            " WHERE execution_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (run_id, after_seq, limit),
        )
        return [dict(r) for r in rows]

    def api_retries(self, run_ids: list[int]) -> dict[int, tuple[int, str]]:
        """For each of these runs the CLI retried an API call in (its `system/api_retry`
        lines): how many times, and the latest such line."""
        if not run_ids:
            return {}
        marks = ", ".join("?" for _ in run_ids)
        rows = self.db.execute(
            "SELECT execution_id, line FROM execution_events WHERE execution_id IN"
            f" ({marks}) AND type = 'system' AND subtype = 'api_retry'"
            " ORDER BY execution_id, seq", tuple(run_ids))
        found: dict[int, tuple[int, str]] = {}
        for row in rows:
            count = found.get(row["execution_id"], (0, ""))[0]
            found[row["execution_id"]] = (count + 1, row["line"])
        return found
