"""Scheduling decisions with an injected clock: misfires after a suspend, clock steps, overlap,
claims with fencing tokens, and reaping runs whose owner vanished."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from night_pilot.catalog import JobSpec, build_job, make_prompt, schedule_of
from night_pilot.config import resolve_db
from night_pilot.execution import RunResult
from night_pilot.models import Job, RunStatus
from night_pilot.scheduler import (
    MAX_FIRES_PER_PASS,
    claim_runs,
    materialize_due,
    materialize_some,
    plan_fires,
    reap,
    trigger_job,
)
from night_pilot.store import Store, open_store

T0 = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@pytest.fixture
def store(backend: str) -> Iterator[Store]:
    """Every test here runs on SQLite and on PostgreSQL."""
    s = open_store(resolve_db())
    s.insert_prompts([make_prompt("p", "do the thing", [])], T0)
    yield s
    s.close()


def add_job(store: Store, cron: str, now: datetime = T0, **spec: object) -> Job:
    job = build_job(JobSpec(prompt_id=1, cron=cron, timezone="UTC", **spec),  # type: ignore[arg-type]
                    store.get_prompt(1), now, Path.cwd())
    return store.get_job(store.insert_job(job, now))


def statuses(store: Store, job_id: int) -> list[str]:
    return [str(r.status) for r in reversed(store.list_runs(job_id=job_id, limit=10_000))]


# -- misfire policies after a suspend -----------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("latest", ["missed"] * 7 + ["pending"]),
        ("skip", ["missed"] * 8),
        ("all", ["pending"] * 8),
    ],
)
def test_an_eight_hour_suspend(store: Store, policy: str, expected: list[str]) -> None:
    job = add_job(store, "0 * * * *", misfire=policy, misfire_grace="12h")
    assert job.next_run_at == T0 + timedelta(hours=1)
    wake = T0 + timedelta(hours=8, minutes=30)  # asleep from 00:00 to 08:30
    materialize_due(store, wake)
    assert statuses(store, job.id or 0) == expected
    runs = list(reversed(store.list_runs(job_id=job.id)))
    assert [r.scheduled_for.hour for r in runs] == list(range(1, 9))
    assert all(r.reason for r in runs if r.status == RunStatus.MISSED)
    assert store.get_job(job.id or 0).next_run_at == T0 + timedelta(hours=9)


def test_fires_older_than_the_grace_window_are_missed_with_the_reason(store: Store) -> None:
    job = add_job(store, "0 * * * *", misfire="all", misfire_grace="2h")
    materialize_due(store, T0 + timedelta(hours=5, minutes=1))
    runs = list(reversed(store.list_runs(job_id=job.id)))
    assert [str(r.status) for r in runs] == ["missed", "missed", "missed", "pending", "pending"]
    assert "beyond the 2h grace window" in (runs[0].reason or "")


def test_an_on_time_fire_runs_whatever_the_policy(store: Store) -> None:
    for policy in ("skip", "latest", "all"):
        add_job(store, "*/5 * * * *", misfire=policy)
    created = materialize_due(store, T0 + timedelta(minutes=5, milliseconds=3))
    assert len(created) == 3


def test_materializing_twice_creates_nothing_new(store: Store) -> None:
    job = add_job(store, "* * * * *")
    now = T0 + timedelta(minutes=1)
    assert len(materialize_due(store, now)) == 1
    assert materialize_due(store, now) == []
    assert materialize_due(store, now + timedelta(seconds=30)) == []
    assert len(store.list_runs(job_id=job.id)) == 1


def test_the_clock_stepping_back_runs_nothing_twice(store: Store) -> None:
    job = add_job(store, "*/10 * * * *", overlap="queue")
    for minutes in (10, 20, 30):
        materialize_due(store, T0 + timedelta(minutes=minutes))
    before = statuses(store, job.id or 0)
    # The clock is set back an hour, then runs forward again over the same times.
    for minutes in range(-30, 31, 5):
        materialize_due(store, T0 + timedelta(minutes=minutes))
    assert statuses(store, job.id or 0) == before == ["pending", "pending", "pending"]
    seen = [(r.scheduled_for, r.attempt) for r in store.list_runs(job_id=job.id)]
    assert len(seen) == len(set(seen))


def test_a_clock_jump_of_two_hundred_years_does_not_hang(store: Store) -> None:
    job = add_job(store, "* * * * * *")  # every second: billions of fire times in 200 years
    future = T0.replace(year=2226)
    started = time.monotonic()
    materialize_due(store, future)
    assert time.monotonic() - started < 10
    runs = store.list_runs(job_id=job.id, limit=10_000)
    assert len(runs) <= MAX_FIRES_PER_PASS + 1
    assert any("not listed one by one" in (r.reason or "") for r in runs)
    assert store.get_job(job.id or 0).next_run_at == future + timedelta(seconds=1)


def test_a_one_shot_job_fires_once(store: Store) -> None:
    job = build_job(JobSpec(prompt_id=1, at="2026-11-28T00:00:30", timezone="UTC"),
                    store.get_prompt(1), T0, Path.cwd())
    job_id = store.insert_job(job, T0)
    assert len(materialize_due(store, T0 + timedelta(seconds=31))) == 1
    assert store.get_job(job_id).next_run_at is None
    assert materialize_due(store, T0 + timedelta(days=1)) == []


def test_plan_is_bounded_and_increasing() -> None:
    job = Job(prompt_id=1, name="j", timezone="UTC", cron_expr="* * * * * *",
              next_run_at=T0 + timedelta(seconds=1))
    plan = plan_fires(job, schedule_of(job), T0 + timedelta(days=3), busy=False)
    times = [r.scheduled_for for r in plan.runs]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert len(times) <= MAX_FIRES_PER_PASS + 1


# -- overlap and claims -------------------------------------------------------------------------


def test_overlap_skip_records_a_skipped_run(store: Store) -> None:
    job = add_job(store, "* * * * *", overlap="skip")
    materialize_due(store, T0 + timedelta(minutes=1))
    [first] = claim_runs(store, T0 + timedelta(minutes=1), instance="a", host="h", slots=2,
                         lease=LEASE)
    materialize_due(store, T0 + timedelta(minutes=2))
    runs = store.list_runs(job_id=job.id)
    assert [str(r.status) for r in runs] == ["skipped", "queued"]
    assert "still active" in (runs[0].reason or "")
    assert first.id == runs[1].id


def test_overlap_queue_waits_and_allow_runs_together(store: Store) -> None:
    queued = add_job(store, "* * * * *", overlap="queue")
    allowed = add_job(store, "* * * * *", overlap="allow")
    for minute in (1, 2):
        now = T0 + timedelta(minutes=minute)
        materialize_due(store, now)
        claim_runs(store, now, instance="a", host="h", slots=10, lease=LEASE)
    assert statuses(store, queued.id or 0) == ["queued", "pending"]
    assert statuses(store, allowed.id or 0) == ["queued", "queued"]


def test_claims_respect_the_free_slots_and_number_each_claim(store: Store) -> None:
    for _ in range(5):
        add_job(store, "* * * * *")
    now = T0 + timedelta(minutes=1)
    materialize_due(store, now)
    first = claim_runs(store, now, instance="a", host="h", slots=2, lease=LEASE)
    second = claim_runs(store, now, instance="b", host="h", slots=2, lease=LEASE)
    assert len(first) == len(second) == 2
    tokens = [r.fencing_token for r in first + second]
    assert tokens == sorted(tokens) and len(set(tokens)) == 4
    assert not {r.id for r in first} & {r.id for r in second}


def test_a_stale_owner_cannot_record_a_result(store: Store) -> None:
    add_job(store, "* * * * *")
    now = T0 + timedelta(minutes=1)
    materialize_due(store, now)
    [run] = claim_runs(store, now, instance="a", host="h", slots=1, lease=LEASE)
    assert run.fencing_token is not None
    reap(store, now + timedelta(minutes=5), host="h")  # a's lease ran out: reaped
    done = RunResult(RunStatus.COMPLETED)
    assert not store.finish_run(run.id, "a", run.fencing_token, done, now)
    assert store.get_run(run.id).status == RunStatus.INTERRUPTED


# -- reaping ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "started", "retried"),
    [
        ("retry-unstarted", False, True),
        ("retry-unstarted", True, False),
        ("always", True, True),
        ("never", False, False),
    ],
)
def test_reaping_follows_the_interrupt_policy(
    store: Store, policy: str, started: bool, retried: bool
) -> None:
    job = add_job(store, "* * * * *", on_interrupt=policy)
    now = T0 + timedelta(minutes=1)
    materialize_due(store, now)
    [run] = claim_runs(store, now, instance="gone", host="elsewhere", slots=1, lease=LEASE)
    assert run.fencing_token is not None
    if started:
        assert store.mark_running(run.id, "gone", run.fencing_token, now, pid=999_999,
                                  process_start=None, argv=["x"], prompt_text=None,
                                  prompt_sha256=None)
    assert reap(store, now + timedelta(seconds=10), host="h") == []  # lease still valid
    reap(store, now + timedelta(seconds=31), host="h")
    runs = list(reversed(store.list_runs(job_id=job.id)))
    assert runs[0].status == RunStatus.INTERRUPTED
    assert "stopped heartbeating" in (runs[0].reason or "")
    assert [(r.attempt, str(r.status)) for r in runs[1:]] == ([(2, "pending")] if retried else [])


def test_reaping_decides_on_the_run_as_it_is_not_as_it_was_listed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between listing expired leases and interrupting one, its owner may heartbeat (then it
    is not reaped) or start the run (then retry-unstarted must not rerun it)."""
    job = add_job(store, "* * * * *", overlap="allow")
    now = T0 + timedelta(minutes=1)
    materialize_due(store, now)
    trigger_job(store, job.id or 0, now + timedelta(seconds=1))
    first, second = claim_runs(store, now, instance="busy", host="h", slots=2, lease=LEASE)
    late = now + timedelta(seconds=31)
    listed = store.expired_runs(late)
    assert {r.id for r in listed} == {first.id, second.id}
    assert first.fencing_token is not None and second.fencing_token is not None
    # The owner, still alive, renews the first lease and starts the second run.
    assert store.heartbeat_run(first.id, "busy", first.fencing_token, late,
                               late + LEASE)
    assert store.mark_running(second.id, "busy", second.fencing_token, late, pid=999_999,
                              process_start=None, argv=["x"], prompt_text=None,
                              prompt_sha256=None)
    monkeypatch.setattr(store, "expired_runs", lambda _now: listed)
    reaped = reap(store, late, host="elsewhere")
    assert [r.id for r in reaped] == [second.id]
    assert store.get_run(first.id).status == RunStatus.QUEUED
    assert store.get_run(second.id).status == RunStatus.INTERRUPTED
    assert store.next_attempt_of(second.id) is None  # it had started: no rerun


def test_a_pass_materializes_a_bounded_number_of_batches(store: Store) -> None:
    batch = store.materialize_batch
    jobs = [add_job(store, "0 * * * *") for _ in range(2 * batch + 5)]
    now = T0 + timedelta(hours=1)
    first, more = materialize_some(store, now, batches=1)
    assert len(first) == batch and more
    rest, more = materialize_some(store, now, batches=None)
    assert len(rest) == batch + 5 and not more
    assert sorted(first + rest) == sorted(r.id for j in jobs for r in store.list_runs(job_id=j.id))
    assert materialize_some(store, now, batches=1) == ([], False)


def test_a_manual_trigger_is_recorded_like_a_scheduled_run(store: Store) -> None:
    job = add_job(store, "@yearly")
    run = trigger_job(store, job.id or 0, T0)
    assert (run.status, str(run.trigger), run.job_id) == (RunStatus.PENDING, "manual", job.id)
    [claimed] = claim_runs(store, T0, instance="a", host="h", slots=1, lease=LEASE)
    assert claimed.id == run.id
    again = trigger_job(store, job.id or 0, T0 + timedelta(seconds=1))
    assert again.status == RunStatus.SKIPPED  # overlap skip: the first is still queued


def test_a_broken_job_is_paused_and_the_others_still_fire(store: Store) -> None:
    broken = add_job(store, "* * * * *")
    healthy = add_job(store, "* * * * *")
    store.db.execute("UPDATE jobs SET cron_expr = '99 * * * *' WHERE id = ?", (broken.id,))
    created = materialize_due(store, T0 + timedelta(minutes=1))
    assert [store.get_run(i).job_id for i in created] == [healthy.id]
    assert store.get_job(broken.id or 0).enabled is False
    assert store.list_runs(job_id=broken.id) == []
