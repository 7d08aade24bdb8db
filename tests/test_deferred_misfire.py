"""The fire times a usage limit deferred follow the job's misfire policy when the limit
lifts, as after an outage: `latest` keeps one, `all` keeps them all, `skip` drops them; each
dropped one is a `missed` row naming the limit. With an injected clock, on both backends."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from night_pilot.catalog import JobSpec, build_job, make_prompt
from night_pilot.config import resolve_db
from night_pilot.models import Job, RunStatus
from night_pilot.runs import claim_runs
from night_pilot.scheduler import materialize_due
from night_pilot.store import Store, open_store

T0 = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
RESET = T0 + timedelta(hours=5, minutes=30)  # a 5-hour limit from 00:30 to 05:30


@pytest.fixture
def store(backend: str) -> Iterator[Store]:
    s = open_store(resolve_db())
    s.prompts.insert_many([make_prompt("p", "do the thing", [])], T0)
    yield s
    s.close()


def hourly(store: Store, **spec: object) -> Job:
    """An hourly job whose fire times queue behind each other (with overlap `skip`, the
    default, the later ones are recorded as skipped while the first waits)."""
    spec.setdefault("overlap", "queue")
    job = build_job(JobSpec(prompt_id=1, cron="0 * * * *", timezone="UTC", **spec),  # type: ignore[arg-type]
                    store.prompts.get(1), T0, Path.cwd())
    return store.jobs.get(store.jobs.insert(job, T0))


def through_the_limit(store: Store, job: Job) -> list[tuple[str, int, str]]:
    """Fire the job every hour through the limit and claim once it has lifted; returns each
    run's (status, hour it was due, reason)."""
    store.cooldowns.insert(kind="session", reset_at=RESET, detected_at=T0 + timedelta(minutes=30),
                           source_execution_id=None, message="limit")
    for hour in range(1, 6):
        now = T0 + timedelta(hours=hour, seconds=1)
        materialize_due(store, now)
        assert claim_runs(store, now, instance="d:1:x", host="h", slots=4, lease=LEASE) == []
    after = RESET + timedelta(minutes=2)
    claim_runs(store, after, instance="d:1:x", host="h", slots=4, lease=LEASE)
    runs = reversed(store.runs.recent(job_id=job.id, limit=100))
    return [(str(r.status), r.scheduled_for.hour, r.reason or "") for r in runs]


def test_latest_keeps_one_run_of_the_deferred_fires(store: Store) -> None:
    job = hourly(store, misfire="latest")
    runs = through_the_limit(store, job)
    assert [(s, h) for s, h, _ in runs] == [
        ("missed", 1), ("missed", 2), ("missed", 3), ("missed", 4), ("queued", 5)]
    kept = store.runs.recent(job_id=job.id, status="queued")[0].id
    for _, _, reason in runs[:4]:
        assert reason == ("missed: a usage limit was in force until 2026-11-28 05:31:00 UTC; "
                          f"coalesced into run {kept}, the latest deferred one "
                          "(misfire policy latest)")


def test_all_keeps_every_deferred_fire(store: Store) -> None:
    job = hourly(store, misfire="all", misfire_grace="12h")
    runs = through_the_limit(store, job)
    # One at a time (the job forbids overlap): the first is claimed, the others wait.
    assert [s for s, _, _ in runs] == ["queued", "deferred", "deferred", "deferred", "deferred"]


def test_all_drops_the_fires_beyond_the_grace_window(store: Store) -> None:
    job = hourly(store, misfire="all", misfire_grace="3h")
    runs = through_the_limit(store, job)
    assert [s for s, _, _ in runs] == ["missed", "missed", "queued", "deferred", "deferred"]
    assert "beyond the 3h grace window" in runs[0][2]
    assert "a usage limit was in force until" in runs[0][2]


def test_skip_drops_every_deferred_fire(store: Store) -> None:
    job = hourly(store, misfire="skip")
    runs = through_the_limit(store, job)
    assert [s for s, _, _ in runs] == ["missed"] * 5
    assert all(r == "missed: a usage limit was in force until 2026-11-28 05:31:00 UTC "
                    "(misfire policy skip)" for _, _, r in runs)


def test_a_fire_deferred_for_less_than_a_minute_is_on_time_even_under_skip(
        store: Store) -> None:
    job = hourly(store, misfire="skip")
    # Resets at 00:59:30; with the minute's margin, runs resume at 01:00:30.
    store.cooldowns.insert(kind="session", reset_at=T0 + timedelta(minutes=59, seconds=30),
                           detected_at=T0, source_execution_id=None, message="limit")
    now = T0 + timedelta(hours=1, seconds=1)
    materialize_due(store, now)
    claim_runs(store, now, instance="d:1:x", host="h", slots=4, lease=LEASE)
    [run] = store.runs.recent(job_id=job.id)
    assert run.status == RunStatus.DEFERRED
    claim_runs(store, now + timedelta(seconds=30), instance="d:1:x", host="h", slots=4,
               lease=LEASE)
    assert store.runs.get(run.id).status == RunStatus.QUEUED


@pytest.mark.slow
def test_the_daemon_coalesces_what_a_limit_deferred(tmp_path: Path, standin_claude: object,
                                                    cnp_home: Path) -> None:
    """On the real path: a per-second job fires through a four-second limit in a running
    daemon; once the limit lifts, one run of the deferred fire times starts and the others are
    missed, naming the limit."""
    import sqlite3
    import time

    from daemon_proc import DaemonProcess

    db = cnp_home / "claude-night-pilot.db"
    store = open_store(resolve_db())
    store.prompts.insert_many([make_prompt("p", "hi", [])], T0)
    now = datetime.now(UTC)
    job = build_job(JobSpec(prompt_id=1, cron="* * * * * *", timezone="UTC", overlap="queue",
                            misfire="latest"), store.prompts.get(1), now, tmp_path)
    store.jobs.insert(job, now)
    reset = now + timedelta(seconds=4)
    store.cooldowns.insert(kind="session", reset_at=reset, detected_at=now,
                           source_execution_id=None, message="limit")
    store.close()
    with DaemonProcess(db, "--cooldown-margin", "0"):
        time.sleep(max(0.0, (reset - datetime.now(UTC)).total_seconds()) + 3)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, status, scheduled_for, reason FROM job_executions"
                            " WHERE attempt = 1 ORDER BY scheduled_for").fetchall()
    missed = [r for r in rows if r[1] == "missed"]
    assert len(missed) >= 2, rows
    kept = {int(re.search(r"coalesced into run (\d+)", r[3]).group(1)) for r in missed}  # type: ignore[union-attr]
    assert len(kept) == 1, missed
    [latest] = [r for r in rows if r[0] in kept]
    assert latest[1] == "completed", latest
    assert latest[2] > max(r[2] for r in missed)
    assert datetime.fromisoformat(latest[2]) < reset  # due while the limit was in force
    assert all(r[3].startswith("missed: a usage limit was in force until") for r in missed)
    # Every fire time of the limit is accounted for: missed, or the one kept.
    during = [r for r in rows if datetime.fromisoformat(r[2]) <= datetime.fromisoformat(latest[2])
              and datetime.fromisoformat(r[2]) >= datetime.fromisoformat(missed[0][2])]
    assert len(during) == len(missed) + 1, rows
