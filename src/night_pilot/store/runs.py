"""SQLite queries for runs: materializing, claiming with leases and fencing tokens, recording
events and results, reaping, cancelling, and the daemons that own runs.

Each method is atomic on its own; a service that needs several in one step wraps them in
`store.write()`. Every update of a claimed run is conditional on its owner and token.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import NotFound, StorageError
from ..models import ClaudeOptions, ExecutorKind, OnLimit, RunStatus, Trigger
from .core import AHEAD, ahead_sql, not_due_sql, withdraw_ahead
from .dbapi import Connection
from .timefmt import from_db, to_db

if TYPE_CHECKING:
    from ..execution import Claim, Execution, RunResult, RunSettings

_TIME_COLUMNS = (
    "scheduled_for", "created_at", "lease_expires_at", "heartbeat_at", "queued_at", "started_at",
    "finished_at", "retry_at", "cancel_requested_at", "limit_reset_at",
)
_PLAIN_COLUMNS = (
    "id", "job_id", "attempt", "reason", "prompt_id", "prompt_sha256", "claimed_by",
    "fencing_token", "retry_of", "pid", "host", "process_start", "exit_code", "session_id", "model",
    "num_turns", "duration_ms", "duration_api_ms", "total_cost_usd", "input_tokens",
    "output_tokens", "cache_creation_tokens", "cache_read_tokens", "terminal_reason",
    "api_error_status", "result_text", "stderr_tail", "limit_kind", "worktree_branch",
    "worktree_path", "worktree_base", "worktree_state", "risk_level", "output_dropped_lines",
    "output_dropped_bytes",
)
# Claim a run that may start (its owner, host, fencing token, times; then its id).
_CLAIM = (
    "UPDATE job_executions SET status = 'queued', claimed_by = ?, host = ?, fencing_token = ?,"
    " queued_at = ?, lease_expires_at = ?, heartbeat_at = ?"
    " WHERE id = ? AND status IN ('pending', 'retry_wait', 'deferred')"
)
_RUN_SELECT = (
    "SELECT e.*, j.name AS job_name FROM job_executions e LEFT JOIN jobs j ON j.id = e.job_id"
)


class RunQueries:
    # Provided by the concrete store (SqliteStore, PostgresStore), which mixes this in.
    db: Connection
    write: Callable[[], AbstractContextManager[Connection]]
    _sql_skip_locked: Callable[[str | None], str]
    wake_daemons: Callable[[], None]

    # -- creating runs ----------------------------------------------------------------------

    def insert_run(
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
            cur = db.execute(
                """
                INSERT INTO job_executions (job_id, scheduled_for, attempt, trigger, status,
                    reason, executor, prompt_id, prompt_text, work_dir, options, timeout_s,
                    idle_timeout_s, max_attempts, resume_session_id, on_limit, created_at,
                    finished_at, retry_at, retry_of, worktree, continue_session, template_vars,
                    risk_accepted, max_output_bytes)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                        ?)
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
            )
            assert cur.lastrowid is not None
            if status == RunStatus.PENDING and trigger != Trigger.SCHEDULE:
                self.wake_daemons()  # a manual run or a retry: no schedule says when
            return cur.lastrowid

    def advance_job(
        self, job_id: int, expected_next: datetime | None, new_next: datetime | None,
        now: datetime,
    ) -> bool:
        """Move a job's `next_run_at` on, only if nobody moved it since we read it."""
        with self.write() as db:
            cur = db.execute(
                "UPDATE jobs SET next_run_at = ?, updated_at = updated_at"
                " WHERE id = ? AND next_run_at IS ? AND enabled = 1 AND deleted_at IS NULL",
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

    # -- what is due ------------------------------------------------------------------------

    def due_job_ids(self, now: datetime, limit: int = 500) -> list[int]:
        """Jobs whose next fire time has come. Inside a write transaction on PostgreSQL they
        stay locked until it ends, and jobs another daemon is materializing are passed over."""
        rows = self.db.execute(
            "SELECT id FROM jobs WHERE enabled = 1 AND deleted_at IS NULL AND next_run_at <= ?"
            " ORDER BY next_run_at LIMIT ?" + self._sql_skip_locked(None),
            (to_db(now), limit),
        )
        return [r[0] for r in rows]

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

    def active_runs(self, job_ids: Iterable[int], now: datetime | None = None,
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

    def claimable_runs(self, now: datetime, limit: int) -> list[Claim]:
        """Runs that may start now, oldest first, as much of each as claiming needs; on
        PostgreSQL locked for the caller's transaction, skipping those another daemon is
        claiming."""
        from ..execution import Claim

        cur = self.db.cursor()
        cur.row_factory = None  # plain tuples: a burst lists thousands
        cur.execute(
            f"SELECT e.id, e.job_id, e.attempt, e.executor, {ahead_sql('e')}"
            " FROM job_executions e"
            f" WHERE (e.status = 'pending' AND NOT ({not_due_sql('e')}))"
            " OR (e.status IN ('retry_wait', 'deferred') AND e.retry_at <= ?)"
            " ORDER BY e.scheduled_for, e.id LIMIT ?" + self._sql_skip_locked("e"),
            (to_db(now), to_db(now), limit),
        )
        executors = {str(x): x for x in ExecutorKind}
        return [Claim(run_id, job_id, attempt, executors[executor], bool(ahead))
                for run_id, job_id, attempt, executor, ahead in cur]

    def job_overlaps(self, job_ids: Iterable[int]) -> dict[int, str]:
        """Each existing job's overlap policy, by id."""
        ids = sorted(set(job_ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(f"SELECT id, overlap FROM jobs WHERE id IN ({marks})", ids)
        return {r[0]: str(r[1]) for r in rows}

    # -- claims -----------------------------------------------------------------------------

    def next_fencing_token(self) -> int:
        return self.next_fencing_tokens(1)[0]

    def next_fencing_tokens(self, n: int) -> list[int]:
        """`n` new fencing tokens, larger than every token handed out before, in one step (the
        counter's row is a point every claimer passes through; the fewer visits the better)."""
        if n <= 0:
            return []
        with self.write() as db:
            db.execute("UPDATE counters SET value = value + ? WHERE name = 'fencing'", (n,))
            last: int = db.execute(
                "SELECT value FROM counters WHERE name = 'fencing'").fetchone()[0]
            return list(range(last - n + 1, last + 1))

    def claim_many(
        self, claims: list[tuple[int, int]], instance: str, host: str, now: datetime,
        lease_until: datetime,
    ) -> None:
        """Claim runs (id, fencing token) that the caller's transaction has selected and holds
        (SQLite's write lock, or PostgreSQL's row locks): all of them or, if any changed
        meanwhile, none."""
        if not claims:
            return
        at, until = to_db(now), to_db(lease_until)
        with self.write() as db:
            cur = db.executemany(
                _CLAIM,
                [(instance, host, token, at, until, at, run_id) for run_id, token in claims])
            if cur.rowcount != len(claims):
                raise StorageError(f"claimed {cur.rowcount} of {len(claims)} runs: the runs "
                                   "changed under the claim; nothing was claimed")

    def claim_run(
        self, run_id: int, instance: str, host: str, token: int, now: datetime,
        lease_until: datetime,
    ) -> bool:
        with self.write() as db:
            cur = db.execute(
                _CLAIM,
                (instance, host, token, to_db(now), to_db(lease_until), to_db(now), run_id),
            )
            return cur.rowcount == 1

    def set_run_status(
        self, run_id: int, status: RunStatus, reason: str | None, now: datetime,
        *, from_statuses: tuple[RunStatus, ...] = (RunStatus.PENDING,),
    ) -> bool:
        marks = ",".join("?" * len(from_statuses))
        with self.write() as db:
            cur = db.execute(
                f"UPDATE job_executions SET status = ?, reason = ?,"
                f" finished_at = CASE WHEN ? THEN ? ELSE finished_at END"
                f" WHERE id = ? AND status IN ({marks})",
                (str(status), reason, int(status.is_terminal), to_db(now), run_id,
                 *map(str, from_statuses)),
            )
            return cur.rowcount == 1

    def mark_running(
        self, run_id: int, instance: str, token: int, now: datetime, *, pid: int,
        process_start: str | None, argv: list[str], prompt_text: str | None,
        prompt_sha256: str | None,
    ) -> bool:
        with self.write() as db:
            cur = db.execute(
                """
                UPDATE job_executions
                   SET status = 'running', started_at = ?, pid = ?, process_start = ?,
                       argv = ?, prompt_text = coalesce(?, prompt_text), prompt_sha256 = ?
                 WHERE id = ? AND claimed_by = ? AND fencing_token = ? AND status = 'queued'
                """,
                (to_db(now), pid, process_start, json.dumps(argv), prompt_text, prompt_sha256,
                 run_id, instance, token),
            )
            return cur.rowcount == 1

    def heartbeat_runs(self, instance: str, now: datetime, lease_until: datetime) -> int:
        with self.write() as db:
            cur = db.execute(
                "UPDATE job_executions SET lease_expires_at = ?, heartbeat_at = ?"
                " WHERE claimed_by = ? AND status IN ('queued', 'running')",
                (to_db(lease_until), to_db(now), instance),
            )
            return cur.rowcount

    def heartbeat_run(
        self, run_id: int, instance: str, token: int, now: datetime, lease_until: datetime,
    ) -> bool:
        """Extend one run's lease; False means we no longer own it."""
        with self.write() as db:
            cur = db.execute(
                "UPDATE job_executions SET lease_expires_at = ?, heartbeat_at = ?"
                " WHERE id = ? AND claimed_by = ? AND fencing_token = ?"
                " AND status IN ('queued', 'running')",
                (to_db(lease_until), to_db(now), run_id, instance, token),
            )
            return cur.rowcount == 1

    def cancel_requests(self, instance: str) -> list[int]:
        rows = self.db.execute(
            "SELECT id FROM job_executions WHERE claimed_by = ? AND status IN ('queued', 'running')"
            " AND cancel_requested_at IS NOT NULL",
            (instance,),
        )
        return [r[0] for r in rows]

    def append_events(self, run_id: int, rows: list[tuple[Any, ...]], *,
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

    def set_event_line(self, run_id: int, seq: int, line: str) -> None:
        """Rewrite one stored line (the output-cap marker, once the totals are known)."""
        with self.write() as db:
            db.execute("UPDATE execution_events SET line = ? WHERE execution_id = ? AND seq = ?",
                       (line, run_id, seq))

    def finish_run(
        self, run_id: int, instance: str, token: int, result: RunResult, now: datetime,
    ) -> bool:
        """Record the outcome, only if we still own the run (owner and token match)."""
        with self.write() as db:
            cur = db.execute(
                """
                UPDATE job_executions
                   SET status = ?, reason = ?, finished_at = ?, exit_code = ?, session_id = ?,
                       model = ?, num_turns = ?, duration_ms = ?, duration_api_ms = ?,
                       total_cost_usd = ?, input_tokens = ?, output_tokens = ?,
                       cache_creation_tokens = ?, cache_read_tokens = ?,
                       permission_denials = ?, terminal_reason = ?, api_error_status = ?,
                       result_text = ?, stderr_tail = ?, limit_kind = ?, limit_reset_at = ?,
                       output_dropped_lines = ?, output_dropped_bytes = ?,
                       lease_expires_at = NULL
                 WHERE id = ? AND claimed_by = ? AND fencing_token = ?
                   AND status IN ('queued', 'running')
                """,
                (
                    str(result.status), result.reason, to_db(now), result.exit_code,
                    result.session_id, result.model, result.num_turns, result.duration_ms,
                    result.duration_api_ms, result.total_cost_usd, result.input_tokens,
                    result.output_tokens, result.cache_creation_tokens, result.cache_read_tokens,
                    json.dumps(result.permission_denials)
                    if result.permission_denials is not None else None,
                    result.terminal_reason, result.api_error_status, result.result_text,
                    result.stderr_tail, result.limit_kind, to_db(result.limit_reset_at),
                    result.output_dropped_lines, result.output_dropped_bytes,
                    run_id, instance, token,
                ),
            )
            return cur.rowcount == 1

    def expired_runs(self, now: datetime) -> list[Execution]:
        rows = self.db.execute(
            _RUN_SELECT + " WHERE e.status IN ('queued', 'running') AND e.lease_expires_at < ?",
            (to_db(now),),
        )
        return [_execution(r) for r in rows]

    def owned_runs(self, exclude_instance: str) -> list[Execution]:
        """Claimed runs not owned by `exclude_instance` (used when one daemon holds the file)."""
        rows = self.db.execute(
            _RUN_SELECT + " WHERE e.status IN ('queued', 'running') AND e.claimed_by IS NOT ?",
            (exclude_instance,),
        )
        return [_execution(r) for r in rows]

    def interrupt_run(
        self, run_id: int, token: int | None, reason: str, now: datetime,
        *, lease_expired_at: datetime | None = None,
    ) -> bool:
        """Mark a claimed run interrupted; with `lease_expired_at`, only if its lease ended
        before that instant (its owner did not heartbeat in the meantime)."""
        sql = ("UPDATE job_executions SET status = 'interrupted', reason = ?, finished_at = ?,"
               " lease_expires_at = NULL"
               " WHERE id = ? AND fencing_token IS ? AND status IN ('queued', 'running')")
        args: list[Any] = [reason, to_db(now), run_id, token]
        if lease_expired_at is not None:
            sql += " AND lease_expires_at < ?"
            args.append(to_db(lease_expired_at))
        with self.write() as db:
            return db.execute(sql, args).rowcount == 1

    def release_claims(self, instance: str, now: datetime) -> int:
        """Hand back runs we claimed but never started, for another daemon to take. Their
        `queued_at` stays: they were claimed once, so their fire time was seen (they are not
        runs materialized ahead any more, whatever the next daemon finds)."""
        with self.write() as db:
            cur = db.execute(
                "UPDATE job_executions SET status = 'pending', claimed_by = NULL, host = NULL,"
                " lease_expires_at = NULL"
                " WHERE claimed_by = ? AND status = 'queued' AND retry_at IS NULL",
                (instance,),
            )
            n = cur.rowcount
            cur = db.execute(
                "UPDATE job_executions SET status = 'retry_wait', claimed_by = NULL, host = NULL,"
                " lease_expires_at = NULL"
                " WHERE claimed_by = ? AND status = 'queued' AND retry_at IS NOT NULL",
                (instance,),
            )
            return n + cur.rowcount

    def request_cancel(self, run_id: int, now: datetime) -> RunStatus:
        """Cancel a run: at once if it has not started, else ask its owner to stop it."""
        with self.write() as db:
            row = db.execute(
                "SELECT status FROM job_executions WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFound(f"execution {run_id} does not exist")
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
                self.wake_daemons()
            return status

    # -- retention --------------------------------------------------------------------------

    def prune_runs(self, before: datetime, batch: int = 1000) -> dict[str, int]:
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

    # -- reading runs -----------------------------------------------------------------------

    def get_run(self, run_id: int) -> Execution:
        row = self.db.execute(_RUN_SELECT + " WHERE e.id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"execution {run_id} does not exist")
        return _execution(row)

    def next_attempt_of(self, run_id: int) -> Execution | None:
        """The attempt created to continue `run_id` (a retry or a deferral), if any."""
        row = self.db.execute(_RUN_SELECT + " WHERE e.retry_of = ? ORDER BY e.id LIMIT 1",
                              (run_id,)).fetchone()
        return _execution(row) if row is not None else None

    def run_prompt_text(self, run_id: int) -> str | None:
        row = self.db.execute(
            "SELECT coalesce(e.prompt_text, p.content) FROM job_executions e"
            " LEFT JOIN prompts p ON p.id = coalesce(e.prompt_id, (SELECT prompt_id FROM jobs"
            " WHERE id = e.job_id)) WHERE e.id = ?",
            (run_id,),
        ).fetchone()
        return row[0] if row else None

    def list_runs(
        self, *, job_id: int | None = None, status: str | None = None, limit: int = 50,
    ) -> list[Execution]:
        where, args = run_filter(job_id, status)
        rows = self.db.execute(_RUN_SELECT + where + " ORDER BY e.id DESC LIMIT ?",
                               (*args, limit))
        return [_execution(r) for r in rows]

    def run_events(self, run_id: int, after_seq: int = -1) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT seq, received_at, stream, type, subtype, line FROM execution_events"
            " WHERE execution_id = ? AND seq > ? ORDER BY seq",
            (run_id, after_seq),
        )
        return [dict(r) for r in rows]

    def iter_all_runs(self) -> Iterator[tuple[int | None, str, int, str]]:
        """(job_id, scheduled_for, attempt, status) for every run: for invariant checks."""
        yield from self.db.execute(
            "SELECT job_id, scheduled_for, attempt, status FROM job_executions ORDER BY id")

    def usage_since(self, since: datetime) -> dict[str, Any]:
        """Runs started since `since` and their tokens and cost (cost None if none known)."""
        row = self.db.execute(
            "SELECT count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),"
            " coalesce(sum(cache_creation_tokens), 0), coalesce(sum(cache_read_tokens), 0),"
            " sum(total_cost_usd) FROM job_executions WHERE started_at >= ?",
            (to_db(since),),
        ).fetchone()
        return {"runs": row[0], "input_tokens": row[1], "output_tokens": row[2],
                "cache_creation_tokens": row[3], "cache_read_tokens": row[4],
                "cost_usd": row[5]}

    # -- cooldowns --------------------------------------------------------------------------

    def insert_cooldown(
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
            cur = db.execute(
                "INSERT INTO cooldowns (kind, reset_at, detected_at, source_execution_id, message)"
                " VALUES (?, ?, ?, ?, ?)",
                (kind, to_db(reset_at), to_db(detected_at), source_execution_id, message),
            )
            return cur.lastrowid

    def active_cooldown(self, since: datetime) -> dict[str, Any] | None:
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

    def clear_cooldowns(self, now: datetime) -> int:
        """End every recorded limit now; deferred runs become due at once."""
        with self.write() as db:
            cur = db.execute("UPDATE cooldowns SET cleared_at = ? WHERE cleared_at IS NULL",
                             (to_db(now),))
            db.execute("UPDATE job_executions SET retry_at = ? WHERE status = 'deferred'",
                       (to_db(now),))
            db.execute("UPDATE notifications SET next_attempt_at = ? WHERE event ="
                       " 'cooldown_end' AND sent_at IS NULL AND next_attempt_at > ?",
                       (to_db(now), to_db(now)))
            self.wake_daemons()
            return cur.rowcount

    def defer_run(self, run_id: int, until: datetime, reason: str) -> bool:
        with self.write() as db:
            cur = db.execute(
                "UPDATE job_executions SET status = 'deferred', retry_at = ?, reason = ?"
                " WHERE id = ? AND status IN ('pending', 'retry_wait')",
                (to_db(until), reason, run_id),
            )
            return cur.rowcount == 1

    # -- daemons ----------------------------------------------------------------------------

    def register_daemon(
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

    def daemon_heartbeat(self, instance: str, now: datetime) -> None:
        with self.write() as db:
            db.execute("UPDATE daemons SET heartbeat_at = ? WHERE instance_id = ?",
                       (to_db(now), instance))

    def daemon_stopped(self, instance: str, now: datetime) -> None:
        with self.write() as db:
            db.execute("UPDATE daemons SET stopped_at = ?, heartbeat_at = ? WHERE instance_id = ?",
                       (to_db(now), to_db(now), instance))

    def live_daemons(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM daemons WHERE stopped_at IS NULL ORDER BY heartbeat_at DESC")
        return [dict(r) for r in rows]


def run_filter(job_id: int | None, status: str | None) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause (with its arguments) that selects runs by job and status."""
    where: list[str] = []
    args: list[Any] = []
    if job_id is not None:
        where.append("e.job_id = ?")
        args.append(job_id)
    if status is not None:
        where.append("e.status = ?")
        args.append(status)
    return (" WHERE " + " AND ".join(where) if where else ""), tuple(args)


def _execution(row: sqlite3.Row) -> Execution:
    from ..execution import Execution, RunSettings  # not needed by job-only commands

    values: dict[str, Any] = {k: row[k] for k in _PLAIN_COLUMNS}
    for key in _TIME_COLUMNS:
        values[key] = from_db(row[key])
    return Execution(
        trigger=Trigger(row["trigger"]),
        status=RunStatus(row["status"]),
        argv=json.loads(row["argv"]) if row["argv"] else None,
        permission_denials=json.loads(row["permission_denials"])
        if row["permission_denials"] else None,
        job_name=row["job_name"],
        rendered=bool(row["rendered"]) if row["rendered"] is not None else None,
        file_refs=json.loads(row["file_refs"]) if row["file_refs"] else None,
        settings=RunSettings(
            executor=ExecutorKind(row["executor"]),
            work_dir=row["work_dir"],
            options=ClaudeOptions.from_json(row["options"]),
            timeout_s=row["timeout_s"],
            idle_timeout_s=row["idle_timeout_s"],
            max_output_bytes=row["max_output_bytes"],
            max_attempts=row["max_attempts"],
            prompt_text=row["prompt_text"],
            resume_session_id=row["resume_session_id"],
            on_limit=OnLimit(row["on_limit"]),
            worktree=bool(row["worktree"]),
            continue_session=bool(row["continue_session"]),
            template_vars=json.loads(row["template_vars"]) if row["template_vars"] else {},
            risk_accepted=bool(row["risk_accepted"]),
        ),
        **values,
    )
