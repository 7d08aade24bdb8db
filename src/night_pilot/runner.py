"""The runner: executes one claimed run and reports what happened.

It prepares the run (the prompt rendered, its risk, the worktree, the argv), spawns the process
(claude or /bin/sh) in its own process group, feeds the prompt on stdin, hands every output
line to the run's recorder as it arrives, heartbeats its lease, enforces the hard and idle
timeouts, and parses the stream into an `Outcome`. Recording the start and the outcome, and
deciding what follows (a retry, a deferral), is `runs`'s; *when* something runs is the
scheduler's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import filerefs, quota, runs, templates, worktree as worktrees
from .capture import Capture, Chunk, Tail
from .claude_stream import StreamSummary
from .config import data_dir, find_claude
from .cooldown import detect as detect_limit
from .cron import system_timezone
from .errors import CnpError, NotFound, StorageError
from .faults import crash_point
from .models import ExecutorKind, Run, RunResult, RunStatus
from .procs import PREEXEC, signal_group
from .risk import ACCEPT_FLAG, assess
from .runs import DEFAULT_MAX_OUTPUT, Outcome, OutputRecorder, Prepared
from .store import Store
from .store.timefmt import to_db
from .tracing import trace

STDERR_TAIL_BYTES = 8192
RESULT_TEXT_LIMIT = 1_000_000
# After the process exits, how long to keep reading output its background children may hold.
EXIT_DRAIN_S = 2.0
# How long taking a process's output waits, at most, for a busy scheduling pass to end.
SCHEDULER_FIRST_S = 0.5


@dataclass
class RunnerConfig:
    claude_bin: str | None = None
    lease_s: float = 30.0
    retry_base_s: float = 30.0
    retry_max_s: float = 1800.0
    kill_grace_s: float = 5.0
    env: dict[str, str] | None = None  # the child's environment; default: ours minus CLAUDECODE
    cooldown_margin_s: float = 60.0  # after a usage limit resets, wait this much longer
    local_zone: str | None = None  # for reset times printed without a zone; default: system's
    worktree_root: str | None = None  # where run worktrees go; default: <data dir>/worktrees
    max_output_bytes: int = DEFAULT_MAX_OUTPUT  # a run's stored output, unless its job says
    # The daemon's loop is idle (set) or busy scheduling: output is taken while it is set,
    # after waiting at most SCHEDULER_FIRST_S for it.
    scheduler_idle: threading.Event | None = None

    def follow_up(self) -> runs.FollowUpPolicy:
        """The policy `runs.finish` decides a run's next attempt by."""
        return runs.FollowUpPolicy(retry_base_s=self.retry_base_s, retry_max_s=self.retry_max_s,
                                   cooldown_margin_s=self.cooldown_margin_s)


@dataclass
class _Watch:
    """What the output loop knows while a process runs."""

    started: float
    output: OutputRecorder
    summary: StreamSummary = field(default_factory=StreamSummary)
    stdout: Tail = field(default_factory=lambda: Tail(RESULT_TEXT_LIMIT))  # shell runs
    stderr: Tail = field(default_factory=lambda: Tail(STDERR_TAIL_BYTES))
    stop_reason: str | None = None
    stop_status: RunStatus | None = None
    lost_claim: bool = False
    ran_s: float = 0.0  # from spawn to the process's exit
    rate_limit_seen_at: datetime | None = None  # when the last rate_limit_event arrived


Clock = Callable[[], datetime]


class StopSignal(threading.Event):
    """Set to stop a running run; says which status and reason to record."""

    def __init__(self) -> None:
        super().__init__()
        self.status = RunStatus.CANCELLED
        self.reason = "cancelled on request"

    def stop(self, status: RunStatus, reason: str) -> None:
        self.status, self.reason = status, reason
        self.set()


class Runner:
    def __init__(self, store: Store, instance: str, clock: Clock,
                 config: RunnerConfig | None = None) -> None:
        self.store = store
        self.instance = instance
        self.clock = clock
        self.config = config or RunnerConfig()

    # -- the whole run ----------------------------------------------------------------------

    def run(self, run: Run, cancel: StopSignal | None = None) -> RunResult | None:
        """Execute a run this instance has claimed (status `queued`) and have `runs` record the
        outcome and its follow-up. Returns the result as recorded; None if we lost the run."""
        outcome = self.execute(run, cancel)
        if outcome is None:
            return None
        return runs.finish(self.store, run, outcome, instance=self.instance, now=self.clock(),
                           policy=self.config.follow_up())

    def execute(self, run: Run, cancel: StopSignal | None = None) -> Outcome | None:
        """Execute a claimed run to its outcome, which is not recorded yet (its last output
        lines wait in the outcome's recorder); None if the claim was lost on the way."""
        cancel = cancel or StopSignal()
        assert run.fencing_token is not None
        fields: dict[str, Any] = {
            "job_id": run.job_id, "run_id": run.id, "attempt": run.attempt}
        if self.store.runs.get(run.id).cancel_requested_at is not None:
            return Outcome(RunResult(RunStatus.CANCELLED, reason="cancelled before it started"))
        try:
            prep = self._prepare(run)
        except CnpError as exc:
            permanent = exc.permanent if isinstance(exc, _Permanent) else None
            return Outcome(RunResult(RunStatus.FAILED, reason=exc.message, permanent=permanent))
        env = self._child_env()
        try:
            proc = subprocess.Popen(
                prep.argv, cwd=prep.cwd, env=env, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                preexec_fn=PREEXEC,
            )
        except OSError as exc:
            self._close_worktree(prep.tree, fields)  # never recorded: nothing ran in it
            return Outcome(RunResult(
                RunStatus.FAILED, reason=f"cannot start {prep.argv[0]}: {exc.strerror or exc}"))
        if not runs.start(self.store, run, self.instance, prep, proc.pid,
                          redact_argv(prep.argv), self.clock()):
            # Cancelled or reaped between claim and spawn: not ours any more.
            self._kill(proc)
            self._close_worktree(prep.tree, fields)
            trace("lost_claim", **fields)
            return None
        trace("spawn", pid=proc.pid, executor=str(run.settings.executor),
              prompt_sha256=prep.sha256, risk=prep.risk.level, **fields)
        crash_point("after_spawn")
        watch = self._watch(run, proc, prep.prompt, cancel)
        if watch.lost_claim:
            trace("lost_claim", **fields)
            return None
        result = self._result(run, proc, watch)
        result.worktree_state = self._close_worktree(prep.tree, fields)
        return Outcome(result, watch.output)

    def _prepare(self, run: Run) -> Prepared:
        """Everything decided before the process starts: the prompt (rendered), its risk, the
        worktree, the @file references (checked where the run will work), the session to
        resume, and the argv. A refusal is recorded and audited, then raised."""
        s = run.settings
        raw = s.prompt_text
        if raw is None:
            raw = self.store.runs.prompt_text(run.id)
        if raw is None or not raw.strip():
            raise CnpError("the prompt is empty; nothing was sent")
        work_dir = s.work_dir or os.getcwd()
        if not os.path.isdir(work_dir):
            raise _Permanent(f"working directory {work_dir} does not exist",
                             "the working directory is missing")
        rendered = self._render(run, raw)
        risk = assess(options=s.options, work_dir=work_dir, prompt=rendered.text,
                      executor=s.executor)
        prep = Prepared(rendered.text, rendered.templated, risk, cwd=work_dir)
        if risk.critical and not s.risk_accepted:
            self._refuse(run, prep, f"refused: critical risk ({risk.summary()}) was not "
                                    f"accepted with {ACCEPT_FLAG}")
        if s.worktree:
            try:
                prep.tree = worktrees.create(
                    work_dir, self._worktree_root(), job_id=run.job_id,
                    job_name=run.job_name, when=self.clock(), run_id=run.id)
            except CnpError as exc:
                raise CnpError(f"cannot create the run's worktree: {exc.message}") from exc
            prep.cwd = prep.tree.cwd
        try:
            prep.refs = filerefs.check(prep.prompt, prep.cwd)
            if prep.refs.escaping:
                shown = ", ".join(f"@{r.ref} ({r.detail})" for r in prep.refs.escaping)
                self._refuse(run, prep, f"refused: file reference outside the working "
                                        f"directory: {shown}")
            prep.resume = s.resume_session_id
            if prep.resume is None and s.continue_session and run.job_id is not None:
                prep.resume = self.store.sessions.previous(run.job_id, run.id)
            if s.executor == ExecutorKind.SHELL:
                prep.argv = ["/bin/sh", "-s"]
            else:
                try:
                    claude = find_claude(self.config.claude_bin, self.config.env)
                except CnpError as exc:
                    raise _Permanent(exc.message, "the claude CLI is missing",
                                     hint=exc.hint) from exc
                prep.argv = claude_argv(str(claude), run, resume=prep.resume)
        except BaseException:
            self._close_worktree(prep.tree, {"run_id": run.id})
            raise
        return prep

    def _render(self, run: Run, raw: str) -> templates.Rendered:
        """The prompt with its {{variables}} filled in: the run's, then the built-ins."""
        zone = self.config.local_zone or system_timezone()
        name = previous = None
        if run.job_id is not None:
            name = run.job_name
            try:
                job = self.store.jobs.get(run.job_id, include_deleted=True)
                zone, name = job.timezone, job.name
            except NotFound:
                pass
            previous = self.store.runs.previous_status(run.job_id, run.id)
        values = templates.builtin_values(self.clock(), zone, job_name=name or "",
                                          job_id=run.job_id, previous_status=previous)
        if run.job_id is None:
            values["job_name"] = "execute"
        return templates.render(raw, {**values, **run.settings.template_vars})

    def _refuse(self, run: Run, prep: Prepared, reason: str) -> None:
        """Have the refusal recorded and audited (its risk, its references), and raise."""
        runs.refuse(self.store, run, self.instance, prep, reason, self.clock())
        raise CnpError(reason)

    def _worktree_root(self) -> str:
        return self.config.worktree_root or str(data_dir() / "worktrees")

    def _close_worktree(self, tree: worktrees.Worktree | None,
                        fields: dict[str, Any]) -> str | None:
        """The clean-up policy: remove the run's worktree if it left no changes, else keep it."""
        if tree is None:
            return None
        try:
            state, left = worktrees.finish(tree)
        except CnpError as exc:
            trace("worktree_kept", level=logging.WARNING, path=tree.path, error=exc.message,
                  **fields)
            return "kept"
        trace("worktree_" + state, branch=tree.branch, path=tree.path,
              changes=left.summary(), **fields)
        return state

    def _child_env(self) -> dict[str, str]:
        env = dict(self.config.env if self.config.env is not None else os.environ)
        env.pop("CLAUDECODE", None)  # the CLI refuses to start nested inside another session
        env.pop("CNP_FAULT", None)
        return env

    # -- watching a process -----------------------------------------------------------------

    def _watch(self, run: Run, proc: subprocess.Popen[bytes], prompt: str,
               cancel: StopSignal) -> _Watch:
        """Read the process's output to the end, storing it in batches, while heartbeating,
        honouring cancels and enforcing the timeouts. The timeouts judge the process (how long
        it has run, how long it has been silent), never the time we take to store what it
        printed: while storing lags, the readers wait, and so does the process."""
        assert proc.stdin and proc.stdout and proc.stderr and run.fencing_token is not None
        threading.Thread(target=_feed, args=(proc.stdin, prompt), daemon=True).start()
        capture = Capture({"stdout": proc.stdout, "stderr": proc.stderr}, self.clock)
        watch = _Watch(started=time.monotonic(), output=OutputRecorder(
            self.store, run.id, (self.instance, run.fencing_token),
            max_bytes=run.settings.max_output_bytes or self.config.max_output_bytes))
        out = watch.output
        next_beat = watch.started + self.config.lease_s / 3
        timeout_s, idle_s = run.settings.timeout_s, run.settings.idle_timeout_s
        claude = run.settings.executor == ExecutorKind.CLAUDE
        exited_at: float | None = None
        killed_leftovers = False
        retry_flush_at = 0.0
        chunk: Chunk | None = None  # lines read and not all handed to the recorder yet
        taken = 0
        while chunk is not None or not capture.done:
            if chunk is None:
                # While stored output lags far behind (the database refused a batch), take
                # no more: the pipes fill and the process waits.
                if out.pending < out.flush_lines * 8:
                    if self.config.scheduler_idle is not None:
                        self.config.scheduler_idle.wait(SCHEDULER_FIRST_S)
                    chunk, taken = capture.take(out.flush_every_s / 2), 0
                else:
                    time.sleep(out.flush_every_s / 2)
            if chunk is not None:
                # No more than a batch's worth at a time, so that batches stay that size.
                end = taken + max(1, out.flush_lines - out.pending)
                self._take(chunk, taken, end, watch, claude)
                chunk, taken = (chunk, end) if end < len(chunk.lines) else (None, 0)
            mono = time.monotonic()
            if out.due(mono) and mono >= retry_flush_at:
                if self.config.scheduler_idle is not None:
                    self.config.scheduler_idle.wait(SCHEDULER_FIRST_S)
                try:
                    if not out.flush():
                        watch.lost_claim = True
                        self._kill(proc)
                        return watch
                except StorageError as exc:
                    trace("output_retry", level=logging.WARNING, run_id=run.id,
                          error=exc.message, waiting=out.pending)
                    retry_flush_at = mono + 1.0
            if mono >= next_beat:
                next_beat = mono + self.config.lease_s / 3
                if not self._heartbeat(run):
                    watch.lost_claim = True
                    self._kill(proc)
                    return watch
                if self.store.runs.get(run.id).cancel_requested_at is not None:
                    cancel.stop(RunStatus.CANCELLED, "cancelled on request")
            if exited_at is None and proc.poll() is not None:
                exited_at = mono
            if exited_at is not None:
                # The process is gone. Whatever it started in the background may still hold
                # its pipes open: after a grace period that group is killed, and a pipe held
                # by something outside the group is not waited for any longer. Every line
                # already read is still stored.
                if capture.open_pipes() and mono - exited_at > EXIT_DRAIN_S:
                    if not killed_leftovers:
                        signal_group(proc.pid, signal.SIGKILL)
                        killed_leftovers = True
                    elif mono - exited_at > 2 * EXIT_DRAIN_S:
                        trace("output_abandoned", level=logging.WARNING, run_id=run.id,
                              pipes=capture.abandon_open())
                continue
            if watch.stop_reason is None:
                if cancel.is_set():
                    self._stop(proc, watch, cancel.status, cancel.reason)
                elif mono - watch.started - capture.stalled_s() > timeout_s:
                    self._stop(proc, watch, RunStatus.FAILED,
                               f"timed out after {timeout_s}s (hard timeout); process group killed")
                elif capture.silent_for(mono) > idle_s:
                    self._stop(proc, watch, RunStatus.FAILED,
                               f"no output for {idle_s}s (idle timeout); process group killed")
        try:
            proc.wait(timeout=self.config.kill_grace_s + 5)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            proc.wait()
        # The leader is gone; tools it started may still hold the group. Leave nothing behind.
        signal_group(proc.pid, signal.SIGKILL)
        watch.ran_s = (exited_at if exited_at is not None else time.monotonic()) - watch.started
        return watch

    def _take(self, chunk: Chunk, start: int, end: int, watch: _Watch, claude: bool) -> None:
        """Fold lines `start` to `end` of a chunk into what the run learned, and hand them to
        the recorder."""
        out, summary = watch.output, watch.summary
        at = to_db(chunk.received_at)
        stream = chunk.stream
        for line, size in chunk.lines[start:end]:
            event_type = subtype = None
            if stream == "stdout":
                if claude:
                    event = summary.feed(line)
                    if event is not None:
                        kind, sub = event.get("type"), event.get("subtype")
                        event_type = kind if isinstance(kind, str) else None
                        subtype = sub if isinstance(sub, str) else None
                        if event_type == "rate_limit_event":
                            watch.rate_limit_seen_at = chunk.received_at
                else:
                    watch.stdout.add(line)
            else:
                watch.stderr.add(line)
            out.add(stream, line, size, at, event_type, subtype, keep=event_type == "result")
        if chunk.cut_bytes and end >= len(chunk.lines):
            out.cut(chunk.cut_bytes)

    def _heartbeat(self, run: Run) -> bool:
        return runs.heartbeat(self.store, run, self.instance, self.clock(),
                              timedelta(seconds=self.config.lease_s))

    def _stop(self, proc: subprocess.Popen[bytes], watch: _Watch, status: RunStatus,
              reason: str) -> None:
        watch.stop_status, watch.stop_reason = status, reason
        threading.Thread(target=self._kill, args=(proc,), daemon=True).start()

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM the whole process group, then SIGKILL after the grace period."""
        signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=self.config.kill_grace_s)
        signal_group(proc.pid, signal.SIGKILL)

    # -- the outcome ------------------------------------------------------------------------

    def _result(self, run: Run, proc: subprocess.Popen[bytes], watch: _Watch) -> RunResult:
        code = proc.returncode
        stderr_tail = watch.stderr.text() or None
        if run.settings.executor == ExecutorKind.SHELL:
            return self._shell_result(code, watch, stderr_tail)
        s = watch.summary
        result = RunResult(
            status=RunStatus.FAILED, exit_code=code, session_id=s.session_id, model=s.model,
            num_turns=s.num_turns, duration_ms=s.duration_ms, duration_api_ms=s.duration_api_ms,
            total_cost_usd=s.total_cost_usd, input_tokens=s.input_tokens,
            output_tokens=s.output_tokens, cache_creation_tokens=s.cache_creation_tokens,
            cache_read_tokens=s.cache_read_tokens, permission_denials=s.permission_denials,
            terminal_reason=s.terminal_reason, api_error_status=s.api_error_status,
            result_text=(s.result_text or s.last_assistant_text or "")[:RESULT_TEXT_LIMIT] or None,
            stderr_tail=stderr_tail,
        )
        if s.rate_limit_windows:
            result.quota_windows = quota.windows_of(
                s.rate_limit_windows, watch.rate_limit_seen_at or self.clock(),
                s.rate_limit_status)
            result.quota_account = quota.account_of(self._child_env())
        if watch.stop_reason is not None:
            assert watch.stop_status is not None
            result.status, result.reason = watch.stop_status, watch.stop_reason
            # A timeout may pass on another attempt; a cancel or a shutdown is not retried.
            result.transient = watch.stop_status == RunStatus.FAILED
        elif s.succeeded and code == 0:
            result.status = RunStatus.COMPLETED
        else:
            result.reason = s.failure_reason(code)
            if stderr_tail and not s.result_seen:
                result.reason += f"; stderr: {stderr_tail.strip().splitlines()[-1][:300]}"
            result.permanent = s.permanent(code, stderr_tail)
            result.transient = s.transient and result.permanent is None
            limit = detect_limit(s, self.clock(), self.config.local_zone or system_timezone())
            if limit is not None:
                result.transient = False  # waited out, not retried (see runs.finish)
                result.limit_kind = limit.kind
                result.limit_reset_at = limit.wait_until(self.clock())
                when = f"{result.limit_reset_at:%Y-%m-%d %H:%M:%S} UTC"
                result.reason = (f"usage limit reached ({limit.kind}), resets {when}: "
                                 f"{limit.message}")
        return result

    def _shell_result(self, code: int | None, watch: _Watch,
                      stderr_tail: str | None) -> RunResult:
        result = RunResult(status=RunStatus.FAILED, exit_code=code, stderr_tail=stderr_tail,
                           result_text=watch.stdout.text() or None,
                           duration_ms=int(watch.ran_s * 1000))
        if watch.stop_reason is not None:
            assert watch.stop_status is not None
            result.status, result.reason = watch.stop_status, watch.stop_reason
            result.transient = watch.stop_status == RunStatus.FAILED
        elif code == 0:
            result.status = RunStatus.COMPLETED
        else:
            result.reason = f"the script exited {code}"
        return result


class _Permanent(CnpError):
    """A run that cannot start, and would not on another attempt; `permanent` says why."""

    def __init__(self, message: str, permanent: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.permanent = permanent


def claude_argv(claude: str, run: Run, *, resume: str | None = None) -> list[str]:
    """The CLI's argument list: headless, streaming JSON, the job's options. No shell, and the
    prompt is not here: it goes to stdin (argv is capped and a leading '-' would be an option).
    `resume` (else the run's own setting) is the session to continue."""
    o = run.settings.options
    argv = [claude, "-p", "--output-format", "stream-json", "--verbose"]
    if o.model:
        argv += ["--model", o.model]
    if o.max_turns is not None:
        argv += ["--max-turns", str(o.max_turns)]
    if o.max_budget_usd is not None:
        argv += ["--max-budget-usd", f"{o.max_budget_usd:g}"]
    if o.allowed_tools:
        argv += ["--allowedTools", ",".join(o.allowed_tools)]
    if o.disallowed_tools:
        argv += ["--disallowedTools", ",".join(o.disallowed_tools)]
    if o.permission_mode:
        argv += ["--permission-mode", o.permission_mode]
    if o.append_system_prompt:
        argv += ["--append-system-prompt", o.append_system_prompt]
    if o.mcp_config:
        argv += ["--mcp-config", o.mcp_config]
    for d in o.add_dirs:
        argv += ["--add-dir", d]
    session = resume or run.settings.resume_session_id
    if session:
        argv += ["--resume", session]
    return argv


_SECRET_VALUE = re.compile(r"sk-ant-[A-Za-z0-9_\-]+")
_SECRET_FIELD = re.compile(r'(?i)((?:api[_-]?key|token|secret|password)"?\s*[:=]\s*"?)[^\s",}]+')


def redact_argv(argv: list[str]) -> list[str]:
    """The argv as recorded: API keys and token-looking values replaced by ***."""
    return [_SECRET_FIELD.sub(r"\1***", _SECRET_VALUE.sub("sk-ant-***", a)) for a in argv]


def _feed(stdin: object, prompt: str) -> None:
    """Write the prompt to the child's stdin and close it; a child that exits early is fine."""
    assert hasattr(stdin, "write") and hasattr(stdin, "close")
    try:
        stdin.write(prompt.encode())
        stdin.close()
    except (BrokenPipeError, OSError):
        pass
