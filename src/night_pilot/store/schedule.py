"""Queries for what is due when: jobs' next fire times, the runs materialized ahead of them,
and the earliest moment something becomes due."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .queries import Queries
from .timefmt import from_db, to_db

if TYPE_CHECKING:
    from .dbapi import Connection


# Runs the daemon materialized ahead of their fire time (see `scheduler.materialize_some`)
# that were never claimed: scheduled runs, first attempts, still pending, never queued (a
# claim handed back keeps its queued_at), created before their time came.
def ahead_sql(alias: str = "") -> str:
    """The condition a run written ahead meets (its columns qualified by `alias`, if any)."""
    e = f"{alias}." if alias else ""
    return (f"{e}status = 'pending' AND {e}trigger = 'schedule' AND {e}attempt = 1"
            f" AND {e}queued_at IS NULL AND {e}created_at < {e}scheduled_for")


def not_due_sql(alias: str = "") -> str:
    """The condition a scheduled run whose fire time is after `?` meets."""
    e = f"{alias}." if alias else ""
    return f"{e}status = 'pending' AND {e}trigger = 'schedule' AND {e}scheduled_for > ?"


AHEAD = ahead_sql()


def withdraw_ahead(db: Connection, now: datetime, *, job_id: int | None = None,
                   due: bool = False) -> dict[int, datetime]:
    """Delete runs materialized ahead and not claimed, inside the caller's write transaction:
    of one job (`job_id`) or of every job; those still to come (`scheduled_for > now`), or
    with `due` those whose time has come. Returns each job's earliest withdrawn fire time, for
    the caller to put back into the job's `next_run_at`.

    A job that is edited, paused or deleted takes its runs to come back with it (they were
    written with the old definition); a daemon that was not looking when such runs came due
    (it was suspended, or down) takes them back to apply the misfire policy to them."""
    sql = f"DELETE FROM job_executions WHERE {AHEAD} AND scheduled_for {'<=' if due else '>'} ?"
    args: list[Any] = [to_db(now)]
    if job_id is not None:
        sql += " AND job_id = ?"
        args.append(job_id)
    earliest: dict[int, datetime] = {}
    for withdrawn_job, scheduled in db.execute(sql + " RETURNING job_id, scheduled_for",
                                               args).fetchall():
        at = from_db(scheduled)
        assert at is not None
        if withdrawn_job not in earliest or at < earliest[withdrawn_job]:
            earliest[withdrawn_job] = at
    return earliest


class ScheduleQueries(Queries):
    def due_job_ids(self, now: datetime, limit: int = 500) -> list[int]:
        """Jobs whose next fire time has come. Inside a write transaction on PostgreSQL they
        stay locked until it ends, and jobs another daemon is materializing are passed over."""
        rows = self.db.execute(
            "SELECT id FROM jobs WHERE enabled = 1 AND deleted_at IS NULL AND next_run_at <= ?"
            " ORDER BY next_run_at LIMIT ?" + self.dialect.skip_locked(None),
            (to_db(now), limit),
        )
        return [r[0] for r in rows]

    def advance(
        self, job_id: int, expected_next: datetime | None, new_next: datetime | None,
        now: datetime,
    ) -> bool:
        """Move a job's `next_run_at` on, only if nobody moved it since we read it."""
        with self.write() as db:
            cur = db.execute(
                "UPDATE jobs SET next_run_at = ?, updated_at = updated_at"
                " WHERE id = ? AND next_run_at IS NOT DISTINCT FROM ? AND enabled = 1"
                " AND deleted_at IS NULL",
                (to_db(new_next), job_id, to_db(expected_next)),
            )
            return cur.rowcount == 1

    def take_back_ahead(self, now: datetime, *, due: bool) -> dict[int, datetime]:
        """Withdraw the runs materialized ahead of every job and put each live job's
        `next_run_at` back to the earliest: with `due`, those whose time came while no daemon
        was looking (it was down, or the machine slept), for the misfire policy to judge like
        any other late fire time; else those still to come (the last daemon is stopping)."""
        with self.write() as db:
            earliest = withdraw_ahead(db, now, due=due)
            for job_id, at in earliest.items():
                db.execute(
                    "UPDATE jobs SET next_run_at = ? WHERE id = ? AND enabled = 1"
                    " AND deleted_at IS NULL AND (next_run_at IS NULL OR next_run_at > ?)",
                    (to_db(at), job_id, to_db(at)))
            return earliest

    def next_wakeup(self, now: datetime | None = None, *,
                    lookahead: timedelta = timedelta(0)) -> datetime | None:
        """The earliest time something becomes due: a job's next fire time (less `lookahead`:
        the daemon materializes runs that far ahead), a run materialized ahead of its time, a
        retry. With `now`, runs that are already due are not counted: they wait for a free
        slot, not for a time.
        """
        ahead = AHEAD if now is None else not_due_sql()
        row = self.db.execute(
            f"""
            SELECT (SELECT min(next_run_at) FROM jobs
                     WHERE enabled = 1 AND deleted_at IS NULL AND next_run_at IS NOT NULL),
                   (SELECT min(t) FROM (
                       SELECT min(scheduled_for) AS t FROM job_executions WHERE {ahead}
                       UNION ALL
                       SELECT min(retry_at) FROM job_executions
                        WHERE status IN ('retry_wait', 'deferred')) AS runs)
            """,
            (to_db(now),) if now is not None else (),
        ).fetchone()
        times = [t for t in (from_db(row[0]), from_db(row[1])) if t is not None]
        if row[0] is not None:
            times[0] -= lookahead
        return min(times, default=None)
