"""Finishing a run: the runner's outcome recorded (its last output lines in the same
transaction, conditional on the claim), and the follow-up decided from policy and the `now`
given: a retry with backoff after a transient failure, a deferred attempt after a usage
limit (the prompt again, or the session resumed), else the notification that it ended."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import notify
from ..faults import crash_point
from ..models import OnLimit, Run, RunResult, RunStatus
from ..tracing import trace
from .create import create_follow_up

if TYPE_CHECKING:
    from ..store import Store
    from .output import OutputRecorder

# What a resumed session is told after a usage limit interrupted it.
CONTINUE_PROMPT = (
    "Your previous turn was interrupted because a usage limit was reached; it has reset now. "
    "Continue the task from where you stopped."
)


@dataclass(frozen=True)
class FollowUpPolicy:
    """How a run that did not complete continues."""

    retry_base_s: float = 30.0  # the first retry's delay; it doubles each attempt
    retry_max_s: float = 1800.0
    cooldown_margin_s: float = 60.0  # after a usage limit resets, wait this much longer

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with ±20 % jitter, so a fleet of retries does not align."""
        base = self.retry_base_s * (2 ** (attempt - 1))
        return float(min(self.retry_max_s, base * random.uniform(0.8, 1.2)))


@dataclass
class Outcome:
    """What executing a claimed run came to: the result, and the recorder still holding its
    last output lines (None when nothing was spawned)."""

    result: RunResult
    output: OutputRecorder | None = None


def finish(store: Store, run: Run, outcome: Outcome, *, instance: str, now: datetime,
           policy: FollowUpPolicy | None = None) -> RunResult | None:
    """Record a claimed run's outcome and its follow-up. Returns the result as recorded, or
    None if the claim was lost meanwhile (nothing is written then)."""
    policy = policy or FollowUpPolicy()
    result, output = outcome.result, outcome.output
    assert run.fencing_token is not None
    fields: dict[str, Any] = {
        "job_id": run.job_id, "run_id": run.id, "attempt": run.attempt}
    if output is not None and output.truncated:
        result.output_dropped_lines = output.dropped_lines
        result.output_dropped_bytes = output.dropped_bytes
        note = output.note()
        result.reason = f"{result.reason}; {note}" if result.reason else note
    retry = result.transient and result.status == RunStatus.FAILED and (
        run.attempt < run.settings.max_attempts)
    if result.permanent and result.status == RunStatus.FAILED and (
            run.attempt < run.settings.max_attempts):
        result.reason = f"{result.reason}; not retried: {result.permanent}, so another " \
                        "attempt would fail the same way"
    if retry:
        result.retry_at = now + timedelta(seconds=policy.backoff(run.attempt))
        when = f"{result.retry_at:%H:%M:%S} UTC"
        result.reason = f"{result.reason}; attempt {run.attempt + 1} at {when}"
    trace("result", status=str(result.status), reason=result.reason,
          exit_code=result.exit_code, **fields)
    crash_point("before_final_commit")
    with store.write():
        # The last lines and the outcome commit together: a run is never recorded
        # completed without its result line.
        if (output is not None and not output.finish()) or not store.claims.finish(
                run.id, instance, run.fencing_token, result, now):
            trace("lost_claim", **fields)
            return None
        if result.worktree_state is not None:
            store.runs.set_worktree_state(run.id, result.worktree_state)
        if result.quota_windows:
            store.quota.record_run(run.id, result.quota_windows)
            store.quota.observe(result.quota_account or "unknown", result.quota_windows, run.id)
        if result.limit_reset_at is not None:
            _wait_out_limit(store, run, result, now, policy, fields)
        elif not retry:
            notify.run_finished(store, run, result.status, result.reason, now,
                                details=_usage_line(result))
        else:
            assert result.retry_at is not None
            create_follow_up(store, run, RunStatus.RETRY_WAIT, now, retry_at=result.retry_at,
                             reason=f"retry of execution {run.id}")
    trace("persist", status=str(result.status), retry=retry, **fields)
    return result


def _wait_out_limit(store: Store, run: Run, result: RunResult, now: datetime,
                    policy: FollowUpPolicy, fields: dict[str, Any]) -> None:
    """Record the cooldown and a follow-up attempt that starts after the reset, either the
    prompt again or the interrupted session resumed (the job's --on-limit)."""
    assert result.limit_reset_at is not None and result.limit_kind is not None
    cooldown_id = store.cooldowns.insert(
        kind=result.limit_kind, reset_at=result.limit_reset_at, detected_at=now,
        source_execution_id=run.id, message=result.reason)
    if cooldown_id is not None:
        trace("cooldown_start", kind=result.limit_kind,
              reset_at=result.limit_reset_at.isoformat(), **fields)
    start = result.limit_reset_at + timedelta(seconds=policy.cooldown_margin_s)
    if cooldown_id is not None:
        _, body = notify.run_summary(run, result.status, result.reason)
        notify.enqueue(store, "cooldown_start", now, job_id=run.job_id,
                       run_id=run.id,
                       title=f"[cnp] usage limit reached ({result.limit_kind})", body=body)
        # The end is known now: the outbox holds it until then (`cooldown clear` brings
        # it forward), so no loop has to notice the moment.
        notify.enqueue(store, "cooldown_end", now, job_id=run.job_id,
                       run_id=run.id, deliver_at=start,
                       title="[cnp] usage limit over: Claude runs resume",
                       body=f"The {result.limit_kind} limit reset at "
                            f"{result.limit_reset_at:%Y-%m-%d %H:%M:%S} UTC; deferred runs "
                            "start now.")
    settings = replace(run.settings, max_attempts=run.settings.max_attempts + 1)
    if run.settings.on_limit == OnLimit.RESUME and result.session_id:
        settings = replace(settings, resume_session_id=result.session_id,
                           prompt_text=CONTINUE_PROMPT)
    follow = create_follow_up(
        store, run, RunStatus.DEFERRED, now, settings=settings, retry_at=start,
        reason=f"deferred until the usage limit resets ({run.settings.on_limit} "
               f"of execution {run.id})",
    )
    trace("deferred", run_id=follow, job_id=run.job_id, attempt=run.attempt + 1,
          start=start.isoformat())
    result.reason = f"{result.reason}; continues as execution {follow}"


def fail_internal(store: Store, run_id: int, instance: str, token: int, exc: Exception,
                  now: datetime) -> None:
    """A run whose execution hit a bug of ours: failed with the error, if still ours."""
    store.claims.finish(run_id, instance, token,
                     RunResult(RunStatus.FAILED, reason=f"internal error: {exc!r}"), now)


def next_attempt(store: Store, run: Run) -> Run | None:
    """The attempt that continues `run` (a retry or a deferral), if one was scheduled."""
    return store.runs.next_attempt_of(run.id)


def _usage_line(result: RunResult) -> str:
    if result.input_tokens is None and result.total_cost_usd is None:
        return ""
    cost = f"${result.total_cost_usd:.4f}" if result.total_cost_usd is not None else "unknown"
    return (f"Tokens: {result.input_tokens or 0} in, {result.output_tokens or 0} out; "
            f"cost {cost}; session {result.session_id or '-'}")
