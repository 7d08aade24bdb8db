"""Queries for claims: a daemon taking runs (a lease and a fencing token), starting them,
keeping the lease alive (heartbeats), recording the outcome, and handing back or interrupting
runs whose owner is gone.

Every update of a claimed run is conditional on its owner and token: a daemon that lost its
claim changes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import StorageError
from ..models import ExecutorKind
from .queries import Queries
from .runrows import RUN_SELECT, to_run
from .schedule import ahead_sql, not_due_sql
from .timefmt import to_db

if TYPE_CHECKING:
    from ..models import Claim, Run, RunResult

# Claim a run that may start (its owner, host, fencing token, times; then its id).
_CLAIM = (
    "UPDATE job_executions SET status = 'queued', claimed_by = ?, host = ?, fencing_token = ?,"
    " queued_at = ?, lease_expires_at = ?, heartbeat_at = ?"
    " WHERE id = ? AND status IN ('pending', 'retry_wait', 'deferred')"
)


class ClaimQueries(Queries):
    def claimable(self, now: datetime, limit: int) -> list[Claim]:
        """Runs that may start now, oldest first, as much of each as claiming needs; on
        PostgreSQL locked for the caller's transaction, skipping those another daemon is
        claiming."""
        from ..models import Claim

        cur = self.db.cursor()
        cur.row_factory = None  # plain tuples: a burst lists thousands
        cur.execute(
            f"SELECT e.id, e.job_id, e.attempt, e.executor, {ahead_sql('e')}"
            " FROM job_executions e"
            f" WHERE (e.status = 'pending' AND NOT ({not_due_sql('e')}))"
            " OR (e.status IN ('retry_wait', 'deferred') AND e.retry_at <= ?)"
            " ORDER BY e.scheduled_for, e.id LIMIT ?" + self.dialect.skip_locked("e"),
            (to_db(now), to_db(now), limit),
        )
        executors = {str(x): x for x in ExecutorKind}
        return [Claim(run_id, job_id, attempt, executors[executor], bool(ahead))
                for run_id, job_id, attempt, executor, ahead in cur]

    def next_token(self) -> int:
        return self.next_tokens(1)[0]

    def next_tokens(self, n: int) -> list[int]:
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

    def claim(
        self, run_id: int, instance: str, host: str, token: int, now: datetime,
        lease_until: datetime,
    ) -> bool:
        with self.write() as db:
            cur = db.execute(
                _CLAIM,
                (instance, host, token, to_db(now), to_db(lease_until), to_db(now), run_id),
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

    def record_spawn(
        self, run_id: int, instance: str, token: int, *, rendered: bool | None,
        file_refs: list[dict[str, Any]] | None, risk_level: str | None,
        worktree_branch: str | None = None, worktree_path: str | None = None,
        worktree_base: str | None = None, resume_session_id: str | None = None,
    ) -> bool:
        """What the runner decided while preparing a run we own (before or right after spawn)."""
        with self.write() as db:
            cur = db.execute(
                """
                UPDATE job_executions
                   SET rendered = ?, file_refs = ?, risk_level = ?,
                       worktree_branch = ?, worktree_path = ?, worktree_base = ?,
                       worktree_state = ?,
                       resume_session_id = coalesce(?, resume_session_id)
                 WHERE id = ? AND claimed_by = ? AND fencing_token = ?
                   AND status IN ('queued', 'running')
                """,
                (
                    None if rendered is None else int(rendered),
                    json.dumps(file_refs) if file_refs is not None else None, risk_level,
                    worktree_branch, worktree_path, worktree_base,
                    None if worktree_path is None else "active",
                    resume_session_id, run_id, instance, token,
                ),
            )
            return cur.rowcount == 1

    def heartbeat_all(self, instance: str, now: datetime, lease_until: datetime) -> int:
        with self.write() as db:
            cur = db.execute(
                "UPDATE job_executions SET lease_expires_at = ?, heartbeat_at = ?"
                " WHERE claimed_by = ? AND status IN ('queued', 'running')",
                (to_db(lease_until), to_db(now), instance),
            )
            return cur.rowcount

    def heartbeat(
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

    def finish(
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

    def expired(self, now: datetime) -> list[Run]:
        rows = self.db.execute(
            RUN_SELECT + " WHERE e.status IN ('queued', 'running') AND e.lease_expires_at < ?",
            (to_db(now),),
        )
        return [to_run(r) for r in rows]

    def owned_by_others(self, exclude_instance: str) -> list[Run]:
        """Claimed runs not owned by `exclude_instance` (used when one daemon holds the file)."""
        rows = self.db.execute(
            RUN_SELECT + " WHERE e.status IN ('queued', 'running')"
            " AND e.claimed_by IS DISTINCT FROM ?",
            (exclude_instance,),
        )
        return [to_run(r) for r in rows]

    def interrupt(
        self, run_id: int, token: int | None, reason: str, now: datetime,
        *, lease_expired_at: datetime | None = None,
    ) -> bool:
        """Mark a claimed run interrupted; with `lease_expired_at`, only if its lease ended
        before that instant (its owner did not heartbeat in the meantime)."""
        sql = ("UPDATE job_executions SET status = 'interrupted', reason = ?, finished_at = ?,"
               " lease_expires_at = NULL"
               " WHERE id = ? AND fencing_token IS NOT DISTINCT FROM ?"
               " AND status IN ('queued', 'running')")
        args: list[Any] = [reason, to_db(now), run_id, token]
        if lease_expired_at is not None:
            sql += " AND lease_expires_at < ?"
            args.append(to_db(lease_expired_at))
        with self.write() as db:
            return db.execute(sql, args).rowcount == 1

    def release(self, instance: str, now: datetime) -> int:
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
