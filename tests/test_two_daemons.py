"""Two daemons on one SQLite file, and two raw claimers racing without the daemon lock:
every fire time gets exactly one row, nothing runs twice, nothing is lost."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli_runner import cnp
from daemon_proc import DaemonProcess, wait_until
from night_pilot.catalog import JobSpec, create_job, make_prompt
from night_pilot.models import RunResult, RunStatus
from night_pilot.runs import claim_runs
from night_pilot.scheduler import materialize_due
from night_pilot.store import SqliteStore

pytestmark = pytest.mark.slow


def expected_fires(start: datetime, end: datetime, every: int) -> list[datetime]:
    t = start.replace(microsecond=0) + timedelta(seconds=1)
    out = []
    while t <= end:
        if t.second % every == 0:
            out.append(t)
        t += timedelta(seconds=1)
    return out


def test_two_daemons_for_a_minute_with_a_takeover(tmp_path: Path) -> None:
    db = tmp_path / "night.db"
    store = SqliteStore(db)
    [pid] = store.prompts.insert_many([make_prompt("noop", "true", [])], datetime.now(UTC))
    for _ in range(50):
        create_job(store, JobSpec(prompt_id=pid, cron="*/2 * * * * *", timezone="UTC",
                                  executor="shell", overlap="allow"),
                   datetime.now(UTC), tmp_path)
    store.close()
    first = DaemonProcess(db, "--concurrency", "8", "--lease", "5").start()
    second = DaemonProcess(db, "--concurrency", "8", "--lease", "5").start()
    started = datetime.now(UTC)
    time.sleep(30)
    first.kill9()  # the standby must take over without losing or doubling anything
    time.sleep(30)
    second.stop()
    ended = datetime.now(UTC)

    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT job_id, scheduled_for, attempt, status, claimed_by"
                            " FROM job_executions").fetchall()
    keys = Counter((j, s, a) for j, s, a, _, _ in runs)
    assert max(keys.values()) == 1, "a run was materialized twice"
    by_job: dict[int, set[str]] = {}
    for job_id, scheduled, _, _, _ in runs:
        by_job.setdefault(job_id, set()).add(scheduled)
    fires = expected_fires(started + timedelta(seconds=2), ended - timedelta(seconds=3), 2)
    wanted = {f.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for f in fires}
    assert len(by_job) == 50
    for job_id, seen in by_job.items():
        assert wanted <= seen, f"job {job_id} lost fire times {sorted(wanted - seen)[:5]}"
    statuses = Counter(s for _, _, _, s, _ in runs)
    assert statuses["completed"] > 0.9 * len(runs), statuses
    owners = {o for *_, o in runs if o}
    assert len(owners) == 2  # both daemons did real work, one after the other


def _claimer(db: str, name: str, seconds: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = SqliteStore(Path(db))
    finished: list[int] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = datetime.now(UTC)
        materialize_due(store, now)
        for run in claim_runs(store, now, instance=name, host="h", slots=8,
                              lease=timedelta(seconds=60)):
            assert run.fencing_token is not None
            if store.claims.finish(run.id, name, run.fencing_token,
                                RunResult(RunStatus.COMPLETED), datetime.now(UTC)):
                finished.append(run.id)
        time.sleep(0.01)
    out.put((name, finished))


def test_two_claimers_racing_on_one_file_never_double_run(tmp_path: Path) -> None:
    db = tmp_path / "race.db"
    store = SqliteStore(db)
    [pid] = store.prompts.insert_many([make_prompt("noop", "true", [])], datetime.now(UTC))
    for _ in range(50):
        create_job(store, JobSpec(prompt_id=pid, cron="* * * * * *", timezone="UTC",
                                  executor="shell", overlap="allow"), datetime.now(UTC), tmp_path)
    store.close()
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_claimer, args=(str(db), f"c{i}", 15.0, out)) for i in range(2)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    a, b = set(results["c0"]), set(results["c1"])
    assert a and b, "both claimers should have won some runs"
    assert not a & b, "a run was finished by both claimers"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT job_id, scheduled_for, attempt, status FROM job_executions"
                            ).fetchall()
    assert max(Counter((j, s, at) for j, s, at, _ in rows).values()) == 1
    assert {s for *_, s in rows} <= {"completed", "pending", "missed", "skipped"}
    assert len(a | b) == sum(1 for *_, s in rows if s == "completed")


def test_cli_sees_daemon_writes_while_it_runs(tmp_path: Path) -> None:
    """Regression: the CLI closing its connection must not delete the daemon's WAL."""
    db = tmp_path / "night.db"
    cnp("init", "--db", str(db))
    with DaemonProcess(db):
        res = cnp("prompt", "create", "s", "echo hi", "--db", str(db), "--format", "json")
        job = cnp("job", "create", str(res.json["id"]), "* * * * * *", "--executor", "shell",
                  "--db", str(db), "--format", "json").json
        for _ in range(3):
            cnp("status", "--db", str(db))  # open and close connections repeatedly
        wait_until(lambda: cnp("runs", "--job", str(job["id"]), "--db", str(db),
                               "--status", "completed", "--format", "json").json["runs"],
                   10, "a completed run visible to the CLI")
