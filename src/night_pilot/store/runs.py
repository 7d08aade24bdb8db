"""Queries for runs (rows of `job_executions`): creating them, their status, cancelling,
retention, and reading them one at a time or a page at a time.

Each method is atomic on its own; a service that needs several in one step wraps them in
`store.write()`. What a daemon does with a run it claimed is `store.claims`'.

List queries select only the columns a listing shows (never the prompt, result or argv
text), so a page of runs costs the same with 100,000 runs in the table as with ten.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import NotFound
from ..models import RunStatus, Trigger
from .audit import record
from .queries import Queries, new_id
from .runrows import RUN_SELECT, run_filter, to_run
from .schedule import not_due_sql
from .timefmt import from_db, to_db

if TYPE_CHECKING:
    from ..models import Run, RunSettings

# What a listing of runs shows; the detail page reads the whole row with `get`.
_RUN_LIST_COLUMNS = """
    e.id, e.job_id, j.name AS job_name, e.status, e.reason, e.trigger, e.attempt,
    e.executor, e.scheduled_for, e.created_at, e.started_at, e.finished_at, e.retry_at,
    e.duration_ms, e.model, e.input_tokens, e.output_tokens, e.cache_creation_tokens,
    e.cache_read_tokens, e.total_cost_usd, e.limit_kind
"""
_RUN_TIMES = ("scheduled_for", "created_at", "started_at", "finished_at", "retry_at")
_OPEN = "('pending', 'queued', 'running', 'retry_wait', 'deferred')"
# Statuses a run can have once it has finished executing (or never will).
_DONE = "('completed', 'failed', 'cancelled', 'interrupted')"


def _run_row(row: Any) -> dict[str, Any]:
    data = dict(row)
    for key in _RUN_TIMES:
        data[key] = from_db(data[key])
    return data


class RunQueries(Queries):
    def insert(
        self,
        *,
        job_id: int | None,
        scheduled_for: datetime,
        trigger: Trigger,
        status: RunStatus,
        settings: RunSettings,
        now: datetime,
        attempt: int = 1,
        reason: str | None = None,
        prompt_id: int | None = None,
        retry_at: datetime | None = None,
        retry_of: int | None = None,
    ) -> int:
        terminal = status.is_terminal
        with self.write() as db:
            run_id = new_id(db.execute(
                """
                INSERT INTO job_executions (job_id, scheduled_for, attempt, trigger, status,
                    reason, executor, prompt_id, prompt_text, work_dir, options, timeout_s,
                    idle_timeout_s, max_attempts, resume_session_id, on_limit, created_at,
                    finished_at, retry_at, retry_of, worktree, continue_session, template_vars,
                    risk_accepted, max_output_bytes)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                        ?)
                RETURNING id
                """,
                (
                    job_id, to_db(scheduled_for), attempt, str(trigger), str(status), reason,
                    str(settings.executor), prompt_id, settings.prompt_text, settings.work_dir,
                    settings.options.to_json(), settings.timeout_s, settings.idle_timeout_s,
                    settings.max_attempts, settings.resume_session_id, str(settings.on_limit),
                    to_db(now), to_db(now) if terminal else None, to_db(retry_at), retry_of,
                    int(settings.worktree), int(settings.continue_session),
                    json.dumps(settings.template_vars, sort_keys=True)
                    if settings.template_vars else None,
                    int(settings.risk_accepted), settings.max_output_bytes,
                ),
            ))
            if status == RunStatus.PENDING and trigger != Trigger.SCHEDULE:
                self.store.wake_daemons()  # a manual run or a retry: no schedule says when
            return run_id

    def set_status(
        self, run_id: int, status: RunStatus, reason: str | None, now: datetime,
        *, from_statuses: tuple[RunStatus, ...] = (RunStatus.PENDING,),
    ) -> bool:
        marks = ",".join("?" * len(from_statuses))
        with self.write() as db:
            cur = db.execute(
                f"UPDATE job_executions SET status = ?, reason = ?,"
                f" finished_at = CASE WHEN ? = 1 THEN ? ELSE finished_at END"
                f" WHERE id = ? AND status IN ({marks})",
                (str(status), reason, int(status.is_terminal), to_db(now), run_id,
                 *map(str, from_statuses)),
            )
            return cur.rowcount == 1

    def defer(self, run_id: int, until: datetime, reason: str) -> bool:
        with self.write() as db:
            cur = db.execute(
                "UPDATE job_executions SET status = 'deferred', retry_at = ?, reason = ?"
                " WHERE id = ? AND status IN ('pending', 'retry_wait', 'deferred')",
                (to_db(until), reason, run_id),
            )
            return cur.rowcount == 1

    def deferred_fires(self, job_ids: Iterable[int], now: datetime
                       ) -> list[tuple[int, int, datetime, datetime]]:
        """(id, job_id, scheduled_for, retry_at) of these jobs' fire times a usage limit
        deferred to `now` or earlier (their first attempts, not the follow-ups of runs a limit
        stopped), oldest first."""
        ids = sorted(set(job_ids))
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT id, job_id, scheduled_for, retry_at FROM job_executions"
            f" WHERE job_id IN ({marks}) AND status = 'deferred' AND trigger = 'schedule'"
            " AND attempt = 1 AND retry_at <= ? ORDER BY job_id, scheduled_for, id",
            [*ids, to_db(now)])
        return [(r[0], r[1], at, until) for r in rows
                if (at := from_db(r[2])) is not None and (until := from_db(r[3])) is not None]

    def request_cancel(self, run_id: int, now: datetime) -> RunStatus:
        """Cancel a run: at once if it has not started, else ask its owner to stop it."""
        with self.write() as db:
            row = db.execute(
                "SELECT status FROM job_executions WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFound(f"run {run_id} does not exist")
            status = RunStatus(row[0])
            if status in (RunStatus.PENDING, RunStatus.RETRY_WAIT, RunStatus.DEFERRED):
                db.execute(
                    "UPDATE job_executions SET status = 'cancelled', reason = ?, finished_at = ?"
                    " WHERE id = ?",
                    ("cancelled before it started", to_db(now), run_id),
                )
                return RunStatus.CANCELLED
            if status in (RunStatus.QUEUED, RunStatus.RUNNING):
                db.execute(
                    "UPDATE job_executions SET cancel_requested_at = ? WHERE id = ?",
                    (to_db(now), run_id),
                )
                self.store.wake_daemons()
            return status

    def prune(self, before: datetime, batch: int = 1000) -> dict[str, int]:
        """Delete finished runs whose `finished_at` is older than `before`, with their events,
        a batch per transaction (so a large first prune never holds the database for long).
        Runs still going, waiting or retrying are never touched; a later attempt that points
        at a deleted one (`retry_of`) keeps its own row and loses only the link."""
        runs = events = 0
        while True:
            with self.write() as db:
                ids = [r[0] for r in db.execute(
                    "SELECT id FROM job_executions WHERE finished_at < ? AND status IN"
                    " ('completed', 'failed', 'cancelled', 'missed', 'skipped', 'interrupted')"
                    " ORDER BY id LIMIT ?", (to_db(before), batch))]
                if not ids:
                    break
                marks = ",".join("?" * len(ids))
                events += db.execute(
                    f"SELECT count(*) FROM execution_events WHERE execution_id IN ({marks})",
                    ids).fetchone()[0]
                db.execute(f"DELETE FROM execution_events WHERE execution_id IN ({marks})", ids)
                db.execute(f"UPDATE job_executions SET retry_of = NULL WHERE retry_of IN ({marks})",
                           ids)
                db.execute(f"DELETE FROM job_executions WHERE id IN ({marks})", ids)
                runs += len(ids)
            if len(ids) < batch:
                break
        return {"runs": runs, "events": events}

    def get(self, run_id: int) -> Run:
        row = self.db.execute(RUN_SELECT + " WHERE e.id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"run {run_id} does not exist")
        return to_run(row)

    def next_attempt_of(self, run_id: int) -> Run | None:
        """The attempt created to continue `run_id` (a retry or a deferral), if any."""
        row = self.db.execute(RUN_SELECT + " WHERE e.retry_of = ? ORDER BY e.id LIMIT 1",
                              (run_id,)).fetchone()
        return to_run(row) if row is not None else None

    def prompt_text(self, run_id: int) -> str | None:
        row = self.db.execute(
            "SELECT coalesce(e.prompt_text, p.content) FROM job_executions e"
            " LEFT JOIN prompts p ON p.id = coalesce(e.prompt_id, (SELECT prompt_id FROM jobs"
            " WHERE id = e.job_id)) WHERE e.id = ?",
            (run_id,),
        ).fetchone()
        return row[0] if row else None

    def recent(
        self, *, job_id: int | None = None, status: str | None = None, limit: int = 50,
    ) -> list[Run]:
        where, args = run_filter(job_id, status)
        rows = self.db.execute(RUN_SELECT + where + " ORDER BY e.id DESC LIMIT ?",
                               (*args, limit))
        return [to_run(r) for r in rows]

    def iter_all(self) -> Iterator[tuple[int | None, str, int, str]]:
        """(job_id, scheduled_for, attempt, status) for every run: for invariant checks."""
        yield from self.db.execute(
            "SELECT job_id, scheduled_for, attempt, status FROM job_executions ORDER BY id")

    def active(self, job_ids: Iterable[int], now: datetime | None = None,
                    ) -> dict[int, list[tuple[int, RunStatus]]]:
        """Each job's runs not finished yet; with `now`, not counting runs materialized for a
        fire time still to come."""
        ids = sorted(set(job_ids))
        result: dict[int, list[tuple[int, RunStatus]]] = {i: [] for i in ids}
        if not ids:
            return result
        marks = ",".join("?" * len(ids))
        later = "" if now is None else f" AND NOT ({not_due_sql()})"
        rows = self.db.execute(
            f"SELECT job_id, id, status FROM job_executions WHERE job_id IN ({marks})"
            " AND status IN ('pending', 'queued', 'running', 'retry_wait', 'deferred')" + later,
            ids if now is None else [*ids, to_db(now)],
        )
        for job_id, run_id, status in rows:
            result[job_id].append((run_id, RunStatus(status)))
        return result

    def previous_status(self, job_id: int, before_run_id: int) -> str | None:
        """The status of the job's latest run before this one that got as far as starting."""
        row = self.db.execute(
            f"SELECT status FROM job_executions WHERE job_id = ? AND id < ?"
            f" AND started_at IS NOT NULL AND status IN {_DONE} ORDER BY id DESC LIMIT 1",
            (job_id, before_run_id),
        ).fetchone()
        return str(row[0]) if row else None

    def page(
        self, *, job_id: int | None = None, status: str | None = None, limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """One page of runs, newest first, as light dicts (see _RUN_LIST_COLUMNS)."""
        where, args = run_filter(job_id, status)
        rows = self.db.execute(
            f"SELECT {_RUN_LIST_COLUMNS} FROM job_executions e"
            f" LEFT JOIN jobs j ON j.id = e.job_id{where}"
            " ORDER BY e.id DESC LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [_run_row(r) for r in rows]

    def count(self, *, job_id: int | None = None, status: str | None = None) -> int:
        where, args = run_filter(job_id, status)
        count: int = self.db.execute(
            f"SELECT count(*) FROM job_executions e{where}", args).fetchone()[0]
        return count

    def open(self, limit: int = 20) -> list[dict[str, Any]]:
        """Runs not finished yet (pending, queued, running, waiting to retry, deferred)."""
        rows = self.db.execute(
            f"SELECT {_RUN_LIST_COLUMNS} FROM job_executions e"
            f" LEFT JOIN jobs j ON j.id = e.job_id WHERE e.status IN {_OPEN}"
            " ORDER BY e.id DESC LIMIT ?",
            (limit,),
        )
        return [_run_row(r) for r in rows]

    def recent_failures(self, limit: int = 5) -> list[dict[str, Any]]:
        rows = self.db.execute(
            f"SELECT {_RUN_LIST_COLUMNS} FROM job_executions e"
            " LEFT JOIN jobs j ON j.id = e.job_id WHERE e.status IN ('failed', 'interrupted')"
            " ORDER BY e.id DESC LIMIT ?",
            (limit,),
        )
        return [_run_row(r) for r in rows]

    def set_worktree_state(self, run_id: int, state: str) -> None:
        with self.write() as db:
            db.execute("UPDATE job_executions SET worktree_state = ? WHERE id = ?",
                       (state, run_id))

    def with_worktree(self, *, job_id: int | None = None, states: tuple[str, ...] = (
            "active", "kept")) -> list[Run]:
        """Runs that made a worktree, in the given states, newest first."""
        marks = ",".join("?" * len(states))
        sql = RUN_SELECT + f" WHERE e.worktree_state IN ({marks})"
        args: list[Any] = list(states)
        if job_id is not None:
            sql += " AND e.job_id = ?"
            args.append(job_id)
        return [to_run(r) for r in self.db.execute(sql + " ORDER BY e.id DESC", args)]

    def worktree_cleaned(self, run_id: int, now: datetime, details: dict[str, Any]) -> None:
        """A worktree removed by `cnp worktree clean`: its state and an audit entry together."""
        with self.write() as db:
            db.execute("UPDATE job_executions SET worktree_state = 'removed' WHERE id = ?",
                       (run_id,))
            record(db, now, "worktree_remove", "execution", run_id, details)

    def bench_insert(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Insert finished runs in bulk, for bench/web.py only. Each row: (job_id,
        scheduled_for, status, reason, created_at, started_at, finished_at, duration_ms,
        input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens,
        total_cost_usd, result_text), times as datetimes."""
        with self.write() as db:
            db.executemany(
                """
                INSERT INTO job_executions (job_id, scheduled_for, attempt, trigger, status,
                    reason, executor, timeout_s, idle_timeout_s, created_at, started_at,
                    finished_at, duration_ms, input_tokens, output_tokens,
                    cache_creation_tokens, cache_read_tokens, total_cost_usd, result_text)
                VALUES (?, ?, 1, 'schedule', ?, ?, 'claude', 3600, 600, ?, ?, ?, ?, ?, ?, ?,
                        ?, ?, ?)
                """,
                (
                    (r[0], to_db(r[1]), r[2], r[3], to_db(r[4]), to_db(r[5]), to_db(r[6]),
                     *r[7:])
                    for r in rows
                ),
            )
