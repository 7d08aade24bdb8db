"""Queries for the subscription windows: the latest figures known per account and window
(`quota_windows`), the figures each run's stream reported (columns of `job_executions`), the
daemons' default ceilings, and the jobs' ceilings read at claim time."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .queries import Queries
from .timefmt import from_db, to_db

if TYPE_CHECKING:
    from ..quota import Ceilings, Window

# The run columns of each window.
_RUN_COLUMNS = {"five_hour": ("quota_5h_utilization", "quota_5h_resets_at"),
                "seven_day": ("quota_7d_utilization", "quota_7d_resets_at")}


class QuotaQueries(Queries):
    def observe(self, account: str, windows: Iterable[Window],
                source_execution_id: int | None) -> None:
        """Record what a run saw of each window as the latest for `account`, unless a later
        figure is already recorded."""
        with self.write() as db:
            for w in windows:
                db.execute(
                    "INSERT INTO quota_windows (account, window_name, utilization, resets_at,"
                    " status, seen_at, source_execution_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (account, window_name) DO UPDATE SET"
                    " utilization = excluded.utilization, resets_at = excluded.resets_at,"
                    " status = excluded.status, seen_at = excluded.seen_at,"
                    " source_execution_id = excluded.source_execution_id"
                    " WHERE quota_windows.seen_at <= excluded.seen_at",
                    (account, w.name, w.utilization, to_db(w.resets_at), w.status,
                     to_db(w.seen_at), source_execution_id),
                )

    def record_run(self, run_id: int, windows: Iterable[Window]) -> None:
        """The last figures a run's stream gave of the five-hour and seven-day windows."""
        sets: list[str] = []
        args: list[Any] = []
        seen: datetime | None = None
        for w in windows:
            if w.name not in _RUN_COLUMNS:
                continue
            used, resets = _RUN_COLUMNS[w.name]
            sets += [f"{used} = ?", f"{resets} = ?"]
            args += [w.utilization, to_db(w.resets_at)]
            seen = w.seen_at if seen is None else max(seen, w.seen_at)
        if not sets:
            return
        with self.write() as db:
            db.execute(f"UPDATE job_executions SET {', '.join(sets)}, quota_seen_at = ?"
                       " WHERE id = ?", (*args, to_db(seen), run_id))

    def set_basis(self, run_id: int, basis: dict[str, Any]) -> None:
        with self.write() as db:
            db.execute("UPDATE job_executions SET quota_basis = ? WHERE id = ?",
                       (json.dumps(basis, sort_keys=True), run_id))

    def latest(self, account: str | None = None) -> dict[str, Window]:
        """The latest figures of each window for `account` (None: of the account seen last)."""
        from ..quota import Window

        if account is None:
            row = self.db.execute(
                "SELECT account FROM quota_windows ORDER BY seen_at DESC LIMIT 1").fetchone()
            if row is None:
                return {}
            account = str(row[0])
        rows = self.db.execute(
            "SELECT window_name, utilization, resets_at, status, seen_at FROM quota_windows"
            " WHERE account = ?", (account,))
        found = {}
        for name, used, resets, status, seen in rows:
            seen_at = from_db(seen)
            assert seen_at is not None
            found[name] = Window(name, used, from_db(resets), seen_at, status)
        return found

    def accounts(self) -> list[tuple[str, datetime]]:
        """Every account with recorded figures, and when it was last seen; latest first."""
        rows = self.db.execute("SELECT account, max(seen_at) AS seen FROM quota_windows"
                               " GROUP BY account ORDER BY seen DESC")
        return [(str(a), d) for a, s in rows if (d := from_db(s)) is not None]

    def set_daemon_ceilings(self, instance: str, ceilings: Ceilings) -> None:
        with self.write() as db:
            db.execute("INSERT INTO daemon_ceilings (instance_id, quota_ceiling, weekly_ceiling)"
                       " VALUES (?, ?, ?) ON CONFLICT (instance_id) DO UPDATE SET"
                       " quota_ceiling = excluded.quota_ceiling,"
                       " weekly_ceiling = excluded.weekly_ceiling",
                       (instance, ceilings.five_hour, ceilings.seven_day))

    def daemon_ceilings(self) -> Ceilings | None:
        """The default ceilings of the daemon that runs the jobs (the active one, else the
        latest to heartbeat); None when no daemon is live."""
        from ..quota import Ceilings

        row = self.db.execute(
            "SELECT c.quota_ceiling, c.weekly_ceiling FROM daemons d JOIN daemon_ceilings c"
            " ON c.instance_id = d.instance_id WHERE d.stopped_at IS NULL"
            " ORDER BY d.role = 'active' DESC, d.heartbeat_at DESC LIMIT 1").fetchone()
        return Ceilings(row[0], row[1]) if row is not None else None

    def job_limits(self, job_ids: Sequence[int]) -> dict[int, tuple[float | None,
                                                                    float | None, str]]:
        """Each job's (five-hour ceiling, seven-day ceiling, misfire policy)."""
        ids = sorted(set(job_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT id, quota_ceiling, weekly_ceiling, misfire FROM jobs WHERE id IN ({marks})",
            ids)
        return {int(i): (five, seven, str(misfire)) for i, five, seven, misfire in rows}

    def held_runs(self, job_id: int, before_id: int) -> list[int]:
        """The job's earlier runs deferred by a ceiling, waiting for its reset."""
        rows = self.db.execute(
            "SELECT id FROM job_executions WHERE job_id = ? AND id < ? AND status = 'deferred'"
            " AND reason LIKE ? ORDER BY id", (job_id, before_id, "%quota ceiling%"))
        return [int(r[0]) for r in rows]

    def spare_jobs(self) -> list[tuple[int, int, float | None]]:
        """Enabled spare-capacity jobs: (id, lead time in seconds, five-hour ceiling)."""
        rows = self.db.execute(
            "SELECT id, spare_window_s, quota_ceiling FROM jobs WHERE spare_window_s IS NOT NULL"
            " AND enabled = 1 AND deleted_at IS NULL ORDER BY id")
        return [(int(i), int(w), c) for i, w, c in rows]

    def last_spare_run(self, job_id: int) -> datetime | None:
        """When the job's latest scheduled run was due."""
        row = self.db.execute(
            "SELECT max(scheduled_for) FROM job_executions WHERE job_id = ?"
            " AND trigger = 'schedule'", (job_id,)).fetchone()
        return from_db(row[0]) if row else None

    def run_figures(self, job_ids: Sequence[int] | None = None, *, per_job: int = 5,
                    ) -> list[dict[str, Any]]:
        """Finished runs with a recorded seven-day figure, oldest first (for pacing): id,
        job_id, finished_at, total_cost_usd, quota_7d_utilization, quota_7d_resets_at."""
        rows = self.db.execute(
            "SELECT id, job_id, finished_at, total_cost_usd, quota_7d_utilization,"
            " quota_7d_resets_at FROM job_executions WHERE quota_7d_utilization IS NOT NULL"
            " AND finished_at IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT ?",
            (max(200, per_job * 40),))
        found = [dict(r) for r in rows]
        for r in found:
            r["finished_at"] = from_db(r["finished_at"])
            r["quota_7d_resets_at"] = from_db(r["quota_7d_resets_at"])
        found.reverse()
        if job_ids is not None:
            wanted = set(job_ids)
            return [r for r in found if r["job_id"] in wanted or r["job_id"] is None]
        return found
