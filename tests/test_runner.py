"""The runner with the shell executor and a missing Claude CLI: recording, timeouts that kill
the whole process group, cancellation, retries, and the empty-prompt guard."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli_runner import cnp
from night_pilot.models import ExecutorKind, RunSettings, RunStatus, Trigger
from night_pilot.procs import group_members
from night_pilot.runner import Runner, RunnerConfig, StopSignal, claude_argv, redact_argv
from night_pilot.runs import claim_one
from night_pilot.store import SqliteStore


def now() -> datetime:
    return datetime.now(UTC)


def run_script(store: SqliteStore, script: str, *, executor: ExecutorKind = ExecutorKind.SHELL,
               config: RunnerConfig | None = None, stop: StopSignal | None = None,
               **settings: object) -> int:
    s = RunSettings(executor=executor, work_dir=str(store.path.parent), prompt_text=script,
                    **settings)  # type: ignore[arg-type]
    run_id = store.runs.insert(job_id=None, scheduled_for=now(), trigger=Trigger.EXECUTE,
                              status=RunStatus.PENDING, settings=s, now=now())
    run = claim_one(store, run_id, now(), instance="test:1:x", host="test",
                    lease=timedelta(seconds=30))
    assert run is not None
    Runner(store, "test:1:x", now, config or RunnerConfig(kill_grace_s=1)).run(run, stop)
    return run_id


def test_a_shell_run_is_recorded_line_by_line(store: SqliteStore) -> None:
    run_id = run_script(store, "echo one\necho two >&2\necho three\n")
    run = store.runs.get(run_id)
    assert run.status == RunStatus.COMPLETED and run.exit_code == 0
    assert run.result_text == "one\nthree"
    assert run.stderr_tail == "two"
    events = store.events.read(run_id)
    assert sorted((e["stream"], e["line"]) for e in events) == [
        ("stderr", "two"), ("stdout", "one"), ("stdout", "three")]
    assert run.prompt_sha256 is not None and run.started_at and run.finished_at


def test_a_failing_script_is_failed_and_not_retried(store: SqliteStore) -> None:
    run_id = run_script(store, "exit 3")
    run = store.runs.get(run_id)
    assert (run.status, run.exit_code, run.reason) == (RunStatus.FAILED, 3, "the script exited 3")
    assert len(store.runs.recent()) == 1


def test_handles_empty_prompt_safely(store: SqliteStore) -> None:
    # At the door: an empty prompt is refused and nothing is stored.
    res = cnp("execute", "--prompt", " \n ", "--format", "json")
    assert res.exit_code == 2 and "empty" in res.error["message"]
    assert cnp("runs", "--format", "json").json["runs"] == []
    # And if one reaches the runner anyway, no process starts and the run says why.
    run_id = run_script(store, "   \n\t", executor=ExecutorKind.CLAUDE)
    run = store.runs.get(run_id)
    assert run.status == RunStatus.FAILED
    assert run.reason == "the prompt is empty; nothing was sent"
    assert run.pid is None and run.started_at is None


@pytest.mark.slow  # a real timeout: a second (the smallest) of silence, then the kill
def test_the_idle_timeout_kills_the_whole_process_group(store: SqliteStore) -> None:
    script = "echo started\nsleep 60 &\necho $! > child.pid\nsleep 60\n"
    started = time.monotonic()
    run_id = run_script(store, script, idle_timeout_s=1, timeout_s=60, max_attempts=1)
    assert time.monotonic() - started < 15
    run = store.runs.get(run_id)
    assert run.status == RunStatus.FAILED
    assert "idle timeout" in (run.reason or "")
    assert run.pid is not None
    child = int((store.path.parent / "child.pid").read_text())
    time.sleep(0.2)
    assert group_members(run.pid) == []
    assert process_state(child) in (None, "Z")  # gone, or a corpse awaiting its reaper


def process_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


@pytest.mark.slow  # a real timeout: a second (the smallest) of running
def test_the_hard_timeout_fails_the_run_and_schedules_a_retry(store: SqliteStore) -> None:
    script = "while true; do echo tick; sleep 0.1; done\n"
    run_id = run_script(store, script, timeout_s=1, idle_timeout_s=30, max_attempts=2)
    run = store.runs.get(run_id)
    assert run.status == RunStatus.FAILED and "hard timeout" in (run.reason or "")
    [retry] = [r for r in store.runs.recent() if r.id != run_id]
    assert (retry.status, retry.attempt, str(retry.trigger)) == (RunStatus.RETRY_WAIT, 2, "retry")
    assert retry.retry_at is not None and retry.retry_at > run.finished_at  # type: ignore[operator]
    assert retry.settings.prompt_text == script


def when_running(store: SqliteStore, act: Callable[[SqliteStore, int], None]) -> None:
    """In another thread, on another connection: once the run is running, `act` on it."""
    def watch() -> None:
        other = SqliteStore(store.path)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            runs = other.runs.recent()
            if runs and runs[0].status == RunStatus.RUNNING:
                act(other, runs[0].id)
                return
            time.sleep(0.01)

    threading.Thread(target=watch).start()


def test_a_running_run_can_be_cancelled(store: SqliteStore) -> None:
    stop = StopSignal()
    when_running(store, lambda _, __: stop.stop(RunStatus.CANCELLED, "cancelled on request"))
    run_id = run_script(store, "echo hi\nsleep 30\n", stop=stop)
    run = store.runs.get(run_id)
    assert (run.status, run.reason) == (RunStatus.CANCELLED, "cancelled on request")
    assert len(store.runs.recent()) == 1  # a cancel is never retried


def test_cancel_from_the_cli_reaches_the_running_process(store: SqliteStore) -> None:
    when_running(store, lambda other, run_id: other.runs.request_cancel(run_id, now()))
    run_id = run_script(store, "echo hi\nsleep 30\n", config=RunnerConfig(lease_s=0.6,
                                                                          kill_grace_s=1))
    assert store.runs.get(run_id).status == RunStatus.CANCELLED


def test_a_missing_claude_cli_is_a_clear_error_on_the_run(store: SqliteStore) -> None:
    config = RunnerConfig(env={"PATH": "/nonexistent", "CNP_CLAUDE_BIN": "/no/such/claude"})
    run_id = run_script(store, "hello", executor=ExecutorKind.CLAUDE, config=config)
    run = store.runs.get(run_id)
    assert run.status == RunStatus.FAILED
    assert "claude CLI was not found" in (run.reason or "")
    assert "CNP_CLAUDE_BIN=/no/such/claude" in (run.reason or "")
    assert "PATH=/nonexistent" in (run.reason or "")


def test_claude_argv_never_carries_the_prompt(store: SqliteStore) -> None:
    from night_pilot.catalog import validate_claude_options

    options = validate_claude_options(model="opus", allowed_tools="Bash(git *),Edit",
                                      permission_mode="acceptEdits", max_turns=3)
    run_id = store.runs.insert(
        job_id=None, scheduled_for=now(), trigger=Trigger.EXECUTE, status=RunStatus.PENDING,
        settings=RunSettings(options=options, prompt_text="-rf secret prompt"), now=now())
    argv = claude_argv("/usr/bin/claude", store.runs.get(run_id))
    assert argv[:5] == ["/usr/bin/claude", "-p", "--output-format", "stream-json", "--verbose"]
    assert "--allowedTools" in argv and "Bash(git *),Edit" in argv
    assert not any("secret" in a for a in argv)


def test_secrets_are_redacted_from_the_recorded_argv() -> None:
    argv = ["claude", "--mcp-config", '{"env": {"API_KEY": "abc123", "token": "t0k"}}',
            "--append-system-prompt", "use sk-ant-api03-XYZ please"]
    red = redact_argv(argv)
    assert "abc123" not in " ".join(red) and "t0k" not in " ".join(red)
    assert "sk-ant-***" in red[4] and "XYZ" not in red[4]


def test_the_child_environment_drops_claudecode(store: SqliteStore, monkeypatch: pytest.MonkeyPatch
                                                ) -> None:
    monkeypatch.setenv("CLAUDECODE", "1")
    run_id = run_script(store, 'echo "nested=${CLAUDECODE:-unset}"')
    assert store.runs.get(run_id).result_text == "nested=unset"
    assert os.environ["CLAUDECODE"] == "1"
