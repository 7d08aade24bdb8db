"""A run's output is stored whole and in order, in batches, up to a cap; its outcome is
decided from the whole stream; the timeouts judge the CLI, never how long storing takes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cli_runner import cnp
from conftest import StandinClaude
from night_pilot.config import resolve_db
from night_pilot.models import ExecutorKind, RunSettings, RunStatus, Trigger
from night_pilot.runner import Runner, RunnerConfig
from night_pilot.runs import claim_one
from night_pilot.store import SqliteStore, open_store
from night_pilot.store.events import EventQueries

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database


def now() -> datetime:
    return datetime.now(UTC)


def events(store: Any, run_id: int) -> list[dict[str, Any]]:
    return store.events.read(run_id)


def assert_whole(rows: list[dict[str, Any]]) -> None:
    """Numbered from 0 with no gap and no repeat."""
    assert [r["seq"] for r in rows] == list(range(len(rows)))


def execute(*args: str) -> dict[str, Any]:
    res = cnp("execute", "--prompt", "hi", "--format", "json", *args)
    assert res.stdout, res.stderr
    data: dict[str, Any] = res.json
    return data


def start_run(store: SqliteStore, script: str, **settings: Any) -> tuple[int, threading.Thread]:
    """A shell run claimed and executed on a thread of its own."""
    s = RunSettings(executor=ExecutorKind.SHELL, work_dir=str(store.path.parent),
                    prompt_text=script, **settings)
    run_id = store.runs.insert(job_id=None, scheduled_for=now(), trigger=Trigger.EXECUTE,
                              status=RunStatus.PENDING, settings=s, now=now())
    path = store.path

    def work() -> None:
        with SqliteStore(path) as own:
            run = claim_one(own, run_id, now(), instance="t:1:x", host="t",
                            lease=timedelta(seconds=30))
            assert run is not None
            Runner(own, "t:1:x", now, RunnerConfig(kill_grace_s=1)).run(run)

    thread = threading.Thread(target=work)
    thread.start()
    return run_id, thread


@pytest.mark.slow
def test_a_hundred_thousand_lines_then_the_result_is_one_completed_run(
        backend: str, standin_claude: StandinClaude) -> None:
    standin_claude.configure(lines=100_000)
    run = execute()
    assert (run["status"], run["reason"], run["attempt"]) == ("completed", None, 1)
    assert len(standin_claude.calls()) == 1  # executed once: no retry of a finished run
    with open_store(resolve_db()) as store:
        rows = events(store, run["id"])
        assert len(store.runs.recent()) == 1
    assert_whole(rows)
    assert len(rows) == 100_002  # init, the lines, the result
    assert rows[-1]["type"] == "result"
    assert run["output"] == {"max_bytes": None, "truncated": False, "dropped_lines": None,
                             "dropped_bytes": None}


def test_lines_are_stored_a_batch_to_a_transaction(
        standin_claude: StandinClaude, monkeypatch: pytest.MonkeyPatch) -> None:
    standin_claude.configure(lines=5000)
    batches: list[int] = []
    real = EventQueries.append

    def counted(self: EventQueries, run_id: int, rows: list[Any], **kw: Any) -> bool:
        batches.append(len(rows))
        return real(self, run_id, rows, **kw)

    monkeypatch.setattr(EventQueries, "append", counted)
    run = execute()
    assert run["status"] == "completed"
    assert sum(batches) == 5002
    # Full batches of 500 at most, and a few cut short by the 100 ms timer: never one a line.
    assert max(batches) <= 500 and 11 <= len(batches) <= 40, batches


@pytest.mark.slow
@pytest.mark.parametrize("lines", [
    # The CLI has printed everything and exited long before its lines are stored.
    {"lines": 20_000},
    # 40 MB: far more than the read-ahead holds, so the CLI waits on its pipe for seconds.
    {"lines": 40_000, "line_bytes": 1000},
], ids=["exited-early", "held-by-the-pipe"])
def test_storing_slower_than_the_cli_prints_never_fails_the_run(
        standin_claude: StandinClaude, monkeypatch: pytest.MonkeyPatch,
        lines: dict[str, int]) -> None:
    standin_claude.configure(**lines)
    real = EventQueries.append

    def slow(self: EventQueries, run_id: int, rows: list[Any], **kw: Any) -> bool:
        time.sleep(0.06)  # a disk busy with other work
        return real(self, run_id, rows, **kw)

    monkeypatch.setattr(EventQueries, "append", slow)
    started = time.monotonic()
    run = execute("--timeout", "2s", "--idle-timeout", "1s", "--retries", "0")
    took = time.monotonic() - started
    assert took > 2.5, "storing was meant to take longer than both timeouts"
    assert (run["status"], run["reason"]) == ("completed", None)
    with open_store(resolve_db()) as store:
        assert len(events(store, run["id"])) == lines["lines"] + 2


@pytest.mark.slow
def test_a_cli_that_is_silent_still_meets_the_idle_timeout(
        standin_claude: StandinClaude) -> None:
    standin_claude.configure(lines=10, sleep=5)
    run = execute("--idle-timeout", "1s", "--retries", "0")
    assert run["status"] == "failed"
    assert run["reason"].startswith("no output for 1s (idle timeout)")


@pytest.mark.slow
def test_a_background_child_holding_the_pipe_loses_no_line(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.db")
    script = f"seq 1 50000\nsleep 60 &\necho $! > {tmp_path / 'child'}\n"
    started = time.monotonic()
    run_id, thread = start_run(store, script)
    thread.join(30)
    assert time.monotonic() - started < 10
    run = store.runs.get(run_id)
    assert run.status == RunStatus.COMPLETED
    rows = events(store, run_id)
    assert_whole(rows)
    assert [r["line"] for r in rows] == [str(i) for i in range(1, 50001)]
    child = int((tmp_path / "child").read_text())
    assert not Path(f"/proc/{child}").exists() or _state(child) == "Z"


@pytest.mark.slow
def test_a_pipe_held_outside_the_process_group_is_given_up_after_the_drain(
        tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.db")
    pid_file = tmp_path / "escaped"
    script = f"seq 1 1000\nsetsid sleep 30 &\necho $! > {pid_file}\n"
    try:
        run_id, thread = start_run(store, script)
        thread.join(30)
        run = store.runs.get(run_id)
        assert run.status == RunStatus.COMPLETED
        assert [r["line"] for r in events(store, run_id)] == [str(i) for i in range(1, 1001)]
    finally:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_output_past_the_cap_is_read_for_the_result_but_not_stored(
        standin_claude: StandinClaude) -> None:
    standin_claude.configure(lines=200, line_bytes=100)
    run = execute("--max-output", "4K")
    assert run["status"] == "completed"
    assert run["total_cost_usd"] == 0.0123 and run["tokens"]["output"] == 20
    assert run["output"]["max_bytes"] == 4096 and run["output"]["truncated"]
    with open_store(resolve_db()) as store:
        rows = events(store, run["id"])
    assert_whole(rows)
    [marker] = [r for r in rows if r["stream"] == "cnp"]
    assert marker["type"] == "truncated"
    kept = rows[:marker["seq"]]
    assert sum(len(r["line"]) for r in kept) <= 4096
    dropped = 201 - len(kept)  # init and 200 assistant lines, less those kept
    assert run["output"]["dropped_lines"] == dropped
    assert f"{dropped:,} lines" in marker["line"] and "4K cap" in marker["line"]
    # The result is kept past the cap: the run's outcome is on record.
    assert rows[-1]["type"] == "result" and rows[-1]["seq"] == marker["seq"] + 1
    assert "output truncated" in run["reason"]
    shown = cnp("run", "show", str(run["id"]), "--events")
    assert "output truncated at the 4K cap" in shown.stdout


def test_a_bad_output_cap_is_refused_naming_it() -> None:
    res = cnp("execute", "--prompt", "hi", "--max-output", "lots", "--format", "json")
    assert res.exit_code == 2
    assert res.error["message"] == "--max-output 'lots' is not a size (e.g. 64M, 512K, 1G)"
    assert cnp("runs", "--format", "json").json["runs"] == []


@pytest.mark.slow
def test_stored_lines_are_visible_within_a_second_while_the_run_goes_on(
        tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.db")
    run_id, thread = start_run(store, "echo first\nsleep 3\necho second\n")
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and store.runs.get(run_id).started_at is None:
            time.sleep(0.02)
        started = time.monotonic()
        seen = None
        while time.monotonic() - started < 2:
            rows = events(store, run_id)
            if rows:
                seen = time.monotonic() - started
                break
            time.sleep(0.02)
        assert seen is not None and seen < 1.0
        assert [r["line"] for r in rows] == ["first"]
        assert store.runs.get(run_id).status == RunStatus.RUNNING
    finally:
        thread.join(30)
    assert [r["line"] for r in events(store, run_id)] == ["first", "second"]


@pytest.mark.slow
def test_execution_show_follow_prints_lines_until_the_run_ends(tmp_path: Path) -> None:
    db = tmp_path / "db.db"
    store = SqliteStore(db)
    run_id, thread = start_run(store, "echo one\nsleep 1\necho two\n")
    res = cnp("run", "show", str(run_id), "--follow", "--db", str(db))
    thread.join(30)
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[:2] == ["[   0 stdout] one", "[   1 stdout] two"]
    assert any(line.split() == ["status", "completed"] for line in lines)
    js = cnp("run", "show", str(run_id), "--follow", "--db", str(db), "--format", "json")
    docs = [json.loads(line) for line in js.stdout.splitlines()]
    assert [d["line"] for d in docs[:2]] == ["one", "two"] and docs[2]["status"] == "completed"


def test_events_of_a_run_whose_claim_is_lost_are_not_stored(backend: str) -> None:
    with open_store(resolve_db()) as store:
        s = RunSettings(executor=ExecutorKind.SHELL, prompt_text="true")
        run_id = store.runs.insert(job_id=None, scheduled_for=now(), trigger=Trigger.EXECUTE,
                                  status=RunStatus.PENDING, settings=s, now=now())
        run = claim_one(store, run_id, now(), instance="a", host="h",
                        lease=timedelta(seconds=30))
        assert run is not None and run.fencing_token is not None
        row = (0, "2026-12-04T00:00:00.000000Z", "stdout", None, None, "x")
        assert not store.events.append(run_id, [row], owner=("b", run.fencing_token))
        assert not store.events.append(run_id, [row], owner=("a", run.fencing_token + 1))
        assert store.events.read(run_id) == []
        assert store.events.append(run_id, [row], owner=("a", run.fencing_token))
        assert [e["line"] for e in store.events.read(run_id)] == ["x"]


@pytest.mark.slow
def test_a_gigabyte_with_the_default_cap_completes_and_keeps_the_daemon_small(
        tmp_path: Path, standin_claude: StandinClaude) -> None:
    from daemon_proc import DaemonProcess, wait_until

    db = tmp_path / "night.db"
    standin_claude.configure(total_bytes=1 << 30, line_bytes=10_000)
    prompt = cnp("prompt", "create", "big", "hi", "--db", str(db), "--format", "json").json
    job = cnp("job", "create", str(prompt["id"]), "@yearly", "--db", str(db),
              "--format", "json").json
    with DaemonProcess(db) as daemon:
        assert cnp("job", "trigger", str(job["id"]), "--db", str(db)).exit_code == 0

        def status() -> str | None:
            with sqlite3.connect(db) as conn:
                row = conn.execute("SELECT status FROM job_executions").fetchone()
            return row[0] if row and row[0] in ("completed", "failed") else None

        assert wait_until(status, 120, "the run to end") == "completed"
        peak_kb = _peak_rss_kb(daemon.pid)
    assert peak_kb <= 200 * 1024, f"daemon peak RSS {peak_kb} kB"
    with sqlite3.connect(db) as conn:
        stored, marker, result = conn.execute(
            "SELECT sum(length(line)) FILTER (WHERE stream = 'stdout'),"
            " count(*) FILTER (WHERE type = 'truncated'),"
            " count(*) FILTER (WHERE type = 'result') FROM execution_events").fetchone()
        reason, dropped = conn.execute(
            "SELECT reason, output_dropped_bytes FROM job_executions").fetchone()
    assert 64 * 2**20 - 20_000 < stored <= 64 * 2**20
    assert (marker, result) == (1, 1)
    assert dropped > 950 * 2**20 and "output truncated" in reason


def _peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
