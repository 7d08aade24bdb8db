"""The subscription windows with an injected clock: what the stream reports, how it is recorded
per run and per account, the ceilings applied at claim time, spare-capacity runs, pacing, and
the `cnp quota` report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli_runner import cnp
from night_pilot import quota
from night_pilot.catalog import JobSpec, build_job, make_prompt
from night_pilot.claude_stream import StreamSummary
from night_pilot.config import resolve_db
from night_pilot.errors import InvalidInput
from night_pilot.models import ExecutorKind, Job, RunResult, RunSettings, RunStatus, Trigger
from night_pilot.quota import Ceilings, Window
from night_pilot.runs import Outcome, claim_one, claim_runs, finish, trigger_job
from night_pilot.scheduler import materialize_spare
from night_pilot.store import Store, open_store

T0 = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
MARGIN = timedelta(seconds=60)
ACCOUNT = "CLAUDE_CODE_OAUTH_TOKEN"
DATA = Path(__file__).parent / "data" / "claude-cli-2.1.328"


@pytest.fixture
def store(backend: str) -> Iterator[Store]:
    s = open_store(resolve_db())
    s.prompts.insert_many([make_prompt("p", "do the thing", [])], T0)
    yield s
    s.close()


def add_job(store: Store, cron: str | None = "@yearly", **spec: object) -> Job:
    job = build_job(JobSpec(prompt_id=1, cron=cron, timezone="UTC", **spec),  # type: ignore[arg-type]
                    store.prompts.get(1), T0, Path.cwd())
    return store.jobs.get(store.jobs.insert(job, T0))


def seen(store: Store, five: float | None, seven: float | None = None, *,
         five_reset: datetime = T0 + timedelta(hours=2),
         seven_reset: datetime = T0 + timedelta(days=3), at: datetime = T0) -> None:
    windows = []
    if five is not None:
        windows.append(Window("five_hour", five, five_reset, at, "allowed"))
    if seven is not None:
        windows.append(Window("seven_day", seven, seven_reset, at, "allowed"))
    store.quota.observe(ACCOUNT, windows, None)


def claim(store: Store, now: datetime, **kw: object) -> list[int]:
    return [c.id for c in claim_runs(store, now, instance="d1", host="h", slots=10, lease=LEASE,
                                     cooldown_margin=MARGIN, account=ACCOUNT, **kw)]  # type: ignore[arg-type]


# -- what the stream says -----------------------------------------------------------------------


ALLOWED = ('{"type":"rate_limit_event","rate_limit_info":{"status":"allowed",'
           '"isUsingOverage":false,"unifiedWindows":{"five_hour":{"utilization":0.85,'
           '"resetsAt":1796419285},"seven_day":{"utilization":0.4,"resetsAt":1796674885}}},'
           '"uuid":"u","session_id":"s"}')


def test_every_rate_limit_event_is_folded_into_the_last_figures_of_each_window() -> None:
    s = StreamSummary()
    s.feed(ALLOWED.replace("0.85", "0.80"))
    s.feed(ALLOWED)
    assert s.rate_limit_windows == {
        "five_hour": {"utilization": 0.85, "resets_at": 1796419285.0},
        "seven_day": {"utilization": 0.4, "resets_at": 1796674885.0}}
    assert s.rate_limit_status == "allowed" and s.rate_limit_rejections == []
    [five, seven] = quota.windows_of(s.rate_limit_windows, T0, s.rate_limit_status)
    assert (five.name, five.utilization, five.resets_at) == (
        "five_hour", 0.85, datetime.fromtimestamp(1796419285, UTC))
    assert seven.name == "seven_day" and seven.seen_at == T0


def test_a_rejection_still_counts_as_one_and_fills_its_window() -> None:
    s = StreamSummary()
    for line in (DATA / "usage-limit-5h.jsonl").read_text().splitlines():
        s.feed(line)
    assert len(s.rate_limit_rejections) >= 1
    assert s.rate_limit_windows["five_hour"]["utilization"] == 1.0
    assert s.rate_limit_status == "rejected"


def test_a_stream_without_rate_limit_events_reports_no_window() -> None:
    s = StreamSummary()
    s.feed('{"type":"result","subtype":"success","is_error":false,"result":"ok"}')
    assert s.rate_limit_windows == {} and s.rate_limit_status is None


# -- the decisions, pure ------------------------------------------------------------------------


def windows(five: float | None, seven: float | None = None, *,
            five_reset: datetime = T0 + timedelta(hours=2)) -> dict[str, Window]:
    found = {}
    if five is not None:
        found["five_hour"] = Window("five_hour", five, five_reset, T0)
    if seven is not None:
        found["seven_day"] = Window("seven_day", seven, T0 + timedelta(days=3), T0)
    return found


def test_a_ceiling_holds_at_and_above_it_until_the_reset_plus_the_margin() -> None:
    ceilings = Ceilings().over(80.0, None)
    assert quota.hold(windows(0.79), ceilings, T0) is None
    at = quota.hold(windows(0.80), ceilings, T0, margin=MARGIN)
    assert at is not None and at.until == T0 + timedelta(hours=2) + MARGIN
    why = quota.hold(windows(0.85), ceilings, T0)
    assert why is not None
    assert why.reason == ("deferred: the five-hour window is at 85%, at or above the job's "
                          "five-hour quota ceiling of 80%, until it resets at 2026-11-28 "
                          "03:00:00 UTC")
    # Once the window has reset the figure says nothing: the run starts.
    assert quota.hold(windows(0.85), ceilings, T0 + timedelta(hours=2)) is None
    assert quota.hold({}, ceilings, T0) is None


def test_the_later_of_two_held_windows_decides_and_the_daemons_default_is_named() -> None:
    ceilings = Ceilings(70.0, 50.0).over(None, None)
    why = quota.hold(windows(0.75, 0.6), ceilings, T0)
    assert why is not None and why.window.name == "seven_day"
    assert why.until == T0 + timedelta(days=3)
    assert "the daemon's seven-day quota ceiling of 50%" in why.reason
    # A job's own ceiling wins over the default.
    assert quota.hold(windows(0.75, 0.6), Ceilings(70.0, 50.0).over(90.0, 65.0), T0) is None


def test_spare_capacity_opens_only_in_the_lead_time_before_the_reset() -> None:
    lead = timedelta(minutes=45)
    reset = T0 + timedelta(minutes=30)
    assert quota.spare_opening(windows(0.4, five_reset=reset), 100.0, lead, T0) is not None
    assert quota.spare_opening(windows(0.4, five_reset=T0 + timedelta(hours=1)), 100.0, lead,
                               T0) is None  # too early: the capacity is not expiring yet
    assert quota.spare_opening(windows(0.9, five_reset=reset), 80.0, lead, T0) is None
    assert quota.spare_opening(windows(0.4, five_reset=reset), 100.0, lead,
                               reset) is None  # reset: the figure is gone
    assert quota.spare_opening({}, 100.0, lead, T0) is None


@pytest.mark.parametrize(("text", "value"), [("80", 80.0), ("80%", 80.0), (" 12.5 % ", 12.5),
                                             (0, 0.0), (None, None)])
def test_percentages_are_read_as_the_cli_takes_them(text: str | None, value: float | None,
                                                    ) -> None:
    assert quota.parse_percent(text, "--quota-ceiling") == value


@pytest.mark.parametrize("text", ["eighty", "101", "-1"])
def test_a_bad_percentage_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="--quota-ceiling"):
        quota.parse_percent(text, "--quota-ceiling")


# -- recording ----------------------------------------------------------------------------------


def test_a_finished_run_records_its_windows_and_the_accounts_latest(store: Store) -> None:
    job = add_job(store)
    run = trigger_job(store, job.id or 0, T0)
    claimed = claim_one(store, run.id, T0, instance="d1", host="h", lease=LEASE)
    assert claimed is not None
    result = RunResult(RunStatus.COMPLETED, exit_code=0, quota_account=ACCOUNT,
                       quota_windows=list(windows(0.85, 0.4).values()))
    finish(store, claimed, Outcome(result), instance="d1", now=T0 + timedelta(minutes=1))
    row = store.runs.get(run.id)
    assert (row.quota_5h_utilization, row.quota_5h_resets_at) == (0.85, T0 + timedelta(hours=2))
    assert (row.quota_7d_utilization, row.quota_7d_resets_at) == (0.4, T0 + timedelta(days=3))
    assert row.quota_seen_at == T0
    latest = store.quota.latest(ACCOUNT)
    assert latest["five_hour"].utilization == 0.85 and latest["seven_day"].utilization == 0.4
    assert store.quota.latest(None) == latest
    assert store.quota.latest("ANTHROPIC_API_KEY") == {}


def test_an_older_figure_never_replaces_a_newer_one(store: Store) -> None:
    seen(store, 0.5, at=T0 + timedelta(minutes=10))
    seen(store, 0.3, at=T0)
    assert store.quota.latest(ACCOUNT)["five_hour"].utilization == 0.5
    seen(store, 0.6, at=T0 + timedelta(minutes=20))
    assert store.quota.latest(ACCOUNT)["five_hour"].utilization == 0.6


# -- ceilings at claim time ---------------------------------------------------------------------


def test_a_run_over_its_ceiling_is_deferred_to_the_reset_then_claimed(store: Store) -> None:
    capped = add_job(store, quota_ceiling="80")
    free = add_job(store)
    seen(store, 0.85)
    held = trigger_job(store, capped.id or 0, T0)
    other = trigger_job(store, free.id or 0, T0)
    assert claim(store, T0) == [other.id]
    row = store.runs.get(held.id)
    assert row.status == RunStatus.DEFERRED
    assert row.retry_at == T0 + timedelta(hours=2) + MARGIN
    assert "five-hour window is at 85%" in (row.reason or "")
    assert "job's five-hour quota ceiling of 80%" in (row.reason or "")
    # Nothing is claimed before the reset plus the margin; then it is.
    assert claim(store, T0 + timedelta(hours=2)) == []
    assert claim(store, T0 + timedelta(hours=2) + MARGIN) == [held.id]


def test_a_deferred_run_due_again_under_a_new_figure_is_deferred_again(store: Store) -> None:
    capped = add_job(store, quota_ceiling="80")
    seen(store, 0.85)
    held = trigger_job(store, capped.id or 0, T0)
    claim(store, T0)
    later = T0 + timedelta(hours=2) + MARGIN
    seen(store, 0.95, five_reset=T0 + timedelta(hours=7), at=later)
    assert claim(store, later) == []
    row = store.runs.get(held.id)
    assert row.status == RunStatus.DEFERRED and row.retry_at == T0 + timedelta(hours=7) + MARGIN


def test_the_daemons_ceilings_apply_to_jobs_without_their_own(store: Store) -> None:
    plain = add_job(store)
    own = add_job(store, quota_ceiling="95")
    seen(store, 0.75, 0.55)
    a = trigger_job(store, plain.id or 0, T0)
    b = trigger_job(store, own.id or 0, T0)
    assert claim(store, T0, ceilings=Ceilings(70.0, None)) == [b.id]
    assert "the daemon's five-hour quota ceiling of 70%" in (store.runs.get(a.id).reason or "")
    weekly = add_job(store, weekly_ceiling="50")
    c = trigger_job(store, weekly.id or 0, T0)
    assert claim(store, T0) == []
    row = store.runs.get(c.id)
    assert row.status == RunStatus.DEFERRED and row.retry_at == T0 + timedelta(days=3) + MARGIN
    assert "seven-day quota ceiling of 50%" in (row.reason or "")


def test_shell_runs_and_unknown_windows_are_never_held(store: Store) -> None:
    capped = add_job(store, quota_ceiling="10")
    shell = store.runs.insert(job_id=None, scheduled_for=T0, trigger=Trigger.EXECUTE,
                              status=RunStatus.PENDING, now=T0,
                              settings=RunSettings(executor=ExecutorKind.SHELL,
                                                   prompt_text="true"))
    run = trigger_job(store, capped.id or 0, T0)
    # No figure known (an API-key account): everything starts as it always did.
    assert sorted(claim(store, T0)) == sorted([shell, run.id])


def test_runs_held_by_a_ceiling_are_coalesced_per_the_misfire_policy(store: Store) -> None:
    latest = add_job(store, quota_ceiling="80", overlap="allow")
    every = add_job(store, quota_ceiling="80", overlap="allow", misfire="all")
    seen(store, 0.9)
    runs = [trigger_job(store, j.id or 0, T0 + timedelta(minutes=m))
            for m in (0, 10) for j in (latest, every)]
    claim(store, T0 + timedelta(minutes=10))
    first_latest, first_every, second_latest, second_every = (store.runs.get(r.id) for r in runs)
    assert first_latest.status == RunStatus.MISSED
    assert f"coalesced into run {second_latest.id}" in (first_latest.reason or "")
    assert second_latest.status == RunStatus.DEFERRED
    assert first_every.status == second_every.status == RunStatus.DEFERRED


# -- spare capacity -----------------------------------------------------------------------------


def test_a_spare_job_runs_once_per_window_inside_its_lead_time(store: Store) -> None:
    job = add_job(store, cron=None, when="spare", spare_window="45m", overlap="allow")
    assert job.spare_window_s == 2700 and job.next_run_at is None
    assert job.schedule_text == "@spare 45m"
    reset = T0 + timedelta(hours=2)
    assert materialize_spare(store, T0) == []  # nothing known yet
    seen(store, 0.4, five_reset=reset)
    assert materialize_spare(store, T0) == []  # two hours ahead: not expiring yet
    inside = reset - timedelta(minutes=30)
    [run_id] = materialize_spare(store, inside, account=ACCOUNT)
    run = store.runs.get(run_id)
    assert run.status == RunStatus.PENDING and run.scheduled_for == inside
    assert run.quota_basis == {"window": "five_hour", "utilization": 0.4,
                               "resets_at": reset.isoformat(), "seen_at": T0.isoformat(),
                               "ceiling": 100.0, "decided_at": inside.isoformat()}
    assert claim(store, inside) == [run_id]
    assert materialize_spare(store, inside + timedelta(minutes=5)) == []  # one per window
    # The next window, seen after the reset, opens again in its own lead time.
    next_reset = reset + timedelta(hours=5)
    seen(store, 0.2, five_reset=next_reset, at=reset + timedelta(minutes=1))
    assert len(materialize_spare(store, next_reset - timedelta(minutes=10))) == 1


def test_a_spare_job_waits_while_the_window_is_over_its_ceiling(store: Store) -> None:
    add_job(store, cron=None, when="spare", quota_ceiling="60")
    reset = T0 + timedelta(minutes=20)
    seen(store, 0.7, five_reset=reset)
    assert materialize_spare(store, T0) == []
    assert materialize_spare(store, T0, ceilings=Ceilings(80.0, None)) == []  # its own wins
    add_job(store, cron=None, when="spare")
    assert len(materialize_spare(store, T0, ceilings=Ceilings(80.0, None))) == 1


def test_a_spare_job_takes_no_fixed_time(store: Store) -> None:
    with pytest.raises(InvalidInput, match="no cron expression"):
        add_job(store, cron="@daily", when="spare")
    with pytest.raises(InvalidInput, match="--spare-window is for"):
        add_job(store, spare_window="30m")


# -- the report and the plan --------------------------------------------------------------------


def test_the_report_says_unknown_without_figures(store: Store) -> None:
    data = quota.report(store, T0, None)
    assert data["windows"] == {"five_hour": None, "seven_day": None}
    assert data["known"] is False and data["message"] == quota.UNKNOWN_MESSAGE


def test_the_report_gives_each_window_and_what_the_ceilings_do(store: Store) -> None:
    capped = add_job(store, quota_ceiling="80")
    add_job(store)
    seen(store, 0.85, 0.4)
    data = quota.report(store, T0 + timedelta(minutes=5), ACCOUNT)
    assert data["windows"]["five_hour"] == {
        "utilization": 0.85, "resets_at": (T0 + timedelta(hours=2)).isoformat(),
        "seen_at": T0.isoformat()}
    assert data["details"]["five_hour"]["age_s"] == 300
    assert data["details"]["five_hour"]["percent"] == 85.0
    [held] = data["held"]
    assert held["job_id"] == capped.id and held["window"] == "five_hour"
    assert held["until"] == (T0 + timedelta(hours=2)).isoformat()
    after = quota.report(store, T0 + timedelta(hours=3), ACCOUNT)
    assert after["held"] == []
    assert after["message"] == "below every ceiling: runs start as scheduled"
    assert after["details"]["five_hour"]["current"] is False


def test_the_plan_projects_the_week_from_what_each_jobs_runs_added(store: Store) -> None:
    hourly = add_job(store, cron="0 * * * *", weekly_ceiling="60")
    reset = T0 + timedelta(hours=10, minutes=30)
    for i, used in enumerate((0.40, 0.42, 0.44)):  # each run added two points
        run = trigger_job(store, hourly.id or 0, T0 - timedelta(hours=3 - i))
        got = claim_one(store, run.id, T0, instance="d1", host="h", lease=LEASE)
        assert got is not None
        result = RunResult(RunStatus.COMPLETED, exit_code=0, total_cost_usd=0.5,
                           quota_account=ACCOUNT)
        result.quota_windows = [Window("seven_day", used, reset, T0)]
        finish(store, got, Outcome(result), instance="d1",
               now=T0 - timedelta(hours=3 - i) + timedelta(minutes=1))
    data = quota.plan(store, T0, ACCOUNT)
    [j] = data["jobs"]
    assert j["sampled_runs"] == 2 and j["per_run_percent"] == 2.0
    assert j["per_run_cost_usd"] == 0.5
    assert j["runs_before_reset"] == 10  # 01:00 is now; 02:00 … 11:00 before 11:30
    # 44 % now, +2 a run: 46 … 60 after eight runs, and the ninth is held at the 60 % ceiling.
    assert j["held_runs"] == 2 and j["first_held_at"] == (T0 + timedelta(hours=9)).isoformat()
    assert data["projected_percent"] == 60.0
    assert "How this is computed" in data["method"]
    assert quota.plan(store, reset, ACCOUNT)["seven_day"] is None


# -- the command line ---------------------------------------------------------------------------


def test_cnp_quota_without_figures_says_unknown() -> None:
    out = cnp("quota", "--format", "json")
    assert out.exit_code == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["windows"] == {"five_hour": None, "seven_day": None}
    assert "unknown" in data["message"]
    text = cnp("quota")
    assert "five-hour: unknown" in text.stdout and "seven-day: unknown" in text.stdout


def test_job_create_takes_the_ceilings_and_spare_capacity() -> None:
    assert cnp("prompt", "create", "t", "hello").exit_code == 0
    out = cnp("job", "create", "1", "@daily", "--quota-ceiling", "70%", "--weekly-ceiling", "50",
              "--format", "json")
    assert out.exit_code == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["quota_ceiling"], data["weekly_ceiling"], data["spare_window_s"]) == (
        70.0, 50.0, None)
    spare = cnp("job", "create", "1", "--when", "spare", "--spare-window", "30m", "--format",
                "json")
    assert spare.exit_code == 0, spare.stderr
    made = json.loads(spare.stdout)
    assert made["spare_window_s"] == 1800 and made["next_run_at"] is None
    assert "spare capacity" in made["schedule_description"]
    bad = cnp("job", "create", "1", "@daily", "--quota-ceiling", "150")
    assert bad.exit_code == 2 and "between 0 and 100" in bad.stderr
