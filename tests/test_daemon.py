"""The daemon as a real process: it fires jobs created while it runs, stops politely, refuses
to double up on one SQLite file, and survives kill -9 at every awkward moment — on SQLite and
(except the single-daemon lock, which is SQLite's) on PostgreSQL."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cli_runner import cnp
from conftest import StandinClaude
from daemon_proc import DaemonProcess, wait_until
from night_pilot.procs import group_members

pytestmark = pytest.mark.slow

TERMINAL = {"completed", "failed", "cancelled", "missed", "skipped", "interrupted"}


Db = Path | str  # an SQLite file or a PostgreSQL URL


@pytest.fixture
def db(backend: str, tmp_path: Path) -> Db:
    """The database the test's daemon and CLI calls use, on each backend."""
    if backend == "postgres":
        return os.environ["CNP_DB"]
    return tmp_path / "night.db"


def rows(db: Db, sql: str, *args: object) -> list[Any]:
    if isinstance(db, str):
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(db, autocommit=True, row_factory=dict_row) as pg:
            return pg.execute(sql.replace("?", "%s"), args).fetchall()  # type: ignore[arg-type]
    with sqlite3.connect(db, timeout=30) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, args).fetchall()


def daemon(db: Db, tmp_path: Path, *args: str, env: dict[str, str] | None = None,
           ) -> DaemonProcess:
    return DaemonProcess(db, *args, env=env, log=tmp_path / f"daemon-{time.monotonic_ns()}.log")


def shell_job(db: Db, script: str, cron: str, *extra: str) -> int:
    res = cnp("prompt", "create", "script", "--stdin", "--db", str(db), "--format", "json",
              input=script)
    assert res.exit_code == 0, res.stderr
    res = cnp("job", "create", str(res.json["id"]), cron, "--executor", "shell", "--tz", "UTC",
              "--db", str(db), "--format", "json", *extra)
    assert res.exit_code == 0, res.stderr
    return int(res.json["id"])


def seconds_ahead(n: int) -> tuple[str, datetime]:
    """A 6-field cron that fires once a minute at the second `n` seconds from now."""
    at = (datetime.now(UTC) + timedelta(seconds=n)).replace(microsecond=0)
    return f"{at.second} {at.minute} * * * *", at


def test_registers_job_with_executor(db: Db, tmp_path: Path) -> None:
    cnp("init", "--db", str(db))
    with daemon(db, tmp_path):
        cron, at = seconds_ahead(3)
        job_id = shell_job(db, "echo fired", cron)
        run = wait_until(lambda: rows(db, "SELECT * FROM job_executions WHERE job_id = ? AND"
                                          " status = 'completed'", job_id), 15, "the run")[0]
    started = datetime.fromisoformat(run["started_at"])
    assert datetime.fromisoformat(run["scheduled_for"]) == at
    assert timedelta(0) <= started - at < timedelta(seconds=1)
    assert run["result_text"] == "fired"


@pytest.mark.parametrize(("prefetch", "queued"), [(["--prefetch", "1"], 1), ([], 4)])
def test_a_burst_is_claimed_as_far_as_the_prefetch_goes(
    db: Db, tmp_path: Path, prefetch: list[str], queued: int,
) -> None:
    """Five slow runs due at once and one slot: the daemon holds as many waiting (queued) as
    its prefetch allows, the rest stay pending; by default it takes the whole burst."""
    cnp("init", "--db", str(db))
    cron, at = seconds_ahead(4)
    jobs = [shell_job(db, "sleep 3", cron) for _ in range(5)]
    with daemon(db, tmp_path, "--concurrency", "1", *prefetch):
        time.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()) + 1.5)
        counts = Counter(r["status"] for r in rows(
            db, "SELECT status FROM job_executions WHERE job_id IN (?, ?, ?, ?, ?)", *jobs))
    assert (counts["running"], counts["queued"], counts["pending"]) == (1, queued, 4 - queued)


def test_sigterm_gives_running_runs_a_grace_period_then_records_it(db: Db, tmp_path: Path,
                                                                   ) -> None:
    cnp("init", "--db", str(db))
    running_daemon = daemon(db, tmp_path, "--shutdown-grace", "1").start()
    job_id = shell_job(db, "echo working\nsleep 60 &\nsleep 60\n", "@yearly")
    assert cnp("job", "trigger", str(job_id), "--db", str(db)).exit_code == 0
    run = wait_until(lambda: rows(db, "SELECT * FROM job_executions WHERE status = 'running'"),
                     15, "a running run")[0]
    assert running_daemon.stop() == 0
    [after] = rows(db, "SELECT * FROM job_executions WHERE id = ?", run["id"])
    assert after["status"] == "interrupted"
    assert "daemon stopped" in after["reason"]
    assert group_members(run["pid"]) == []
    assert rows(db, "SELECT stopped_at FROM daemons")[0]["stopped_at"] is not None


def test_ctrl_c_and_a_storm_of_signals_stop_the_daemon_once(tmp_path: Path) -> None:
    """Each signal only wakes a thread that sets the stop flags: a hundred of them, arriving
    while the loop takes and releases its locks, stop the daemon cleanly, as one Ctrl-C does."""
    db = tmp_path / "night.db"
    cnp("init", "--db", str(db))
    assert daemon(db, tmp_path).start().stop() == 0
    interrupted = daemon(db, tmp_path).start()
    interrupted.proc.send_signal(signal.SIGINT)  # type: ignore[union-attr]
    assert interrupted.wait_exit(timeout=15) == 0
    stormed = daemon(db, tmp_path).start()
    for _ in range(100):
        stormed.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    assert stormed.wait_exit(timeout=15) == 0
    stopped = rows(db, "SELECT stopped_at FROM daemons")
    assert len(stopped) == 3 and all(r["stopped_at"] is not None for r in stopped)
    assert "Traceback" not in stormed.output() + interrupted.output()


def test_a_second_daemon_refuses_or_stands_by(tmp_path: Path) -> None:
    db = tmp_path / "night.db"
    cnp("init", "--db", str(db))
    first = DaemonProcess(db).start()
    refused = DaemonProcess(db, "--no-standby").start(wait_registered=False)
    assert refused.wait_exit(30) == 1
    assert "another daemon" in refused.output()
    standby = DaemonProcess(db).start()  # registers as a standby
    assert wait_until(lambda: rows(db, "SELECT role FROM daemons WHERE pid = ?", standby.pid),
                      10, "the standby row")[0]["role"] == "standby"
    job_id = shell_job(db, "echo hi", "* * * * * *")
    wait_until(lambda: rows(db, "SELECT 1 FROM job_executions WHERE status = 'completed'"), 10,
               "a run by the first daemon")
    first.kill9()
    taken = wait_until(lambda: [e for e in standby.events() if e.get("event") ==
                                "daemon_takeover"], 10, "the takeover")
    assert taken
    count = len(rows(db, "SELECT 1 FROM job_executions WHERE status = 'completed'"))
    wait_until(lambda: len(rows(db, "SELECT 1 FROM job_executions WHERE status = 'completed'"))
               > count + 1, 10, "runs by the standby")
    standby.stop()
    keys = Counter((r["job_id"], r["scheduled_for"], r["attempt"])
                   for r in rows(db, "SELECT * FROM job_executions WHERE job_id = ?", job_id))
    assert max(keys.values()) == 1


@pytest.mark.parametrize("point", ["after_claim", "after_spawn", "mid_run",
                                   "before_final_commit"])
def test_kill_9_and_restart(db: Db, tmp_path: Path, point: str) -> None:
    cnp("init", "--db", str(db))
    marker = tmp_path / "child.pid"
    script = f"echo begin\nsleep 300 &\necho $! > {marker}\nsleep 1\necho end\n"
    job_id = shell_job(db, script, "@yearly")
    assert cnp("job", "trigger", str(job_id), "--db", str(db)).exit_code == 0
    crashing = daemon(db, tmp_path, "--lease", "3", env={"CNP_FAULT": point}).start(
        wait_registered=False)
    assert crashing.wait_exit(30) == -9, crashing.output()
    time.sleep(0.3)
    # Whatever the daemon had started died with it (parent-death signal)…
    leftovers = rows(db, "SELECT pid FROM job_executions WHERE pid IS NOT NULL")
    with daemon(db, tmp_path, "--lease", "3"):
        wait_until(lambda: all(r["status"] in TERMINAL for r in
                               rows(db, "SELECT status FROM job_executions")), 30,
                   "every run to end")
    # …and what it left behind in the process group was killed on restart.
    for r in leftovers:
        assert group_members(r["pid"]) == []
    if marker.exists():
        child = int(marker.read_text())
        assert not Path(f"/proc/{child}").exists() or _state(child) == "Z"
    runs = rows(db, "SELECT * FROM job_executions ORDER BY id")
    keys = Counter((r["job_id"], r["scheduled_for"], r["attempt"]) for r in runs)
    assert max(keys.values()) == 1
    assert all(r["status"] in TERMINAL for r in runs)
    final = [r["status"] for r in runs]
    if point == "after_claim":
        # Never started: interrupted, then retried and completed.
        assert final == ["interrupted", "completed"]
    else:
        # It had started (side effects possible): interrupted and, by default, not retried.
        assert final == ["interrupted"]
        assert "stopped heartbeating" in runs[0]["reason"]


@pytest.mark.parametrize("kill", ["between-batches", "inside-a-batch"])
def test_kill_9_while_a_long_run_streams(db: Db, tmp_path: Path, kill: str,
                                         standin_claude: StandinClaude) -> None:
    """A crash loses at most the batch being written: what was stored stays, numbered without
    a gap or a repeat, and the run is reaped and retried by its policy."""
    standin_claude.configure(lines=50_000, rate=12_000)  # about four seconds of output
    cnp("init", "--db", str(db))
    prompt = cnp("prompt", "create", "long", "stream it", "--db", str(db), "--format", "json")
    job = cnp("job", "create", str(prompt.json["id"]), "@yearly", "--on-interrupt", "always",
              "--db", str(db), "--format", "json")
    assert job.exit_code == 0, job.stderr
    assert cnp("job", "trigger", str(job.json["id"]), "--db", str(db)).exit_code == 0
    fault = {"CNP_FAULT": "event_batch:4"} if kill == "inside-a-batch" else {}
    crashing = daemon(db, tmp_path, "--lease", "3", env=fault).start(wait_registered=False)
    if fault:
        assert crashing.wait_exit(60) == -9, crashing.output()
    else:
        wait_until(lambda: rows(db, "SELECT count(*) AS n FROM execution_events")[0]["n"]
                   >= 2000, 60, "a few batches stored")
        crashing.kill9()
    with daemon(db, tmp_path, "--lease", "3"):
        wait_until(lambda: [r["status"] for r in rows(
            db, "SELECT status FROM job_executions ORDER BY id")] == ["interrupted",
                                                                      "completed"],
                   90, "the interrupted run to be retried to the end")
    first, retry = (r["id"] for r in rows(db, "SELECT id FROM job_executions ORDER BY id"))
    stored = [r["seq"] for r in rows(
        db, "SELECT seq FROM execution_events WHERE execution_id = ? ORDER BY seq", first)]
    assert 0 < len(stored) < 50_002
    assert stored == list(range(len(stored)))  # no gap inside what was stored, no repeat
    whole = [r["seq"] for r in rows(
        db, "SELECT seq FROM execution_events WHERE execution_id = ? ORDER BY seq", retry)]
    assert whole == list(range(50_002))
    reason = rows(db, "SELECT reason FROM job_executions WHERE id = ?", first)[0]["reason"]
    assert "stopped heartbeating" in reason


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
