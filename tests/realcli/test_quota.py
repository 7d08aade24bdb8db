"""Quota-aware scheduling through the real CLI: the stand-in API sends the unified rate-limit
headers on successful answers, and the CLI (a subscription user: CLAUDE_CODE_OAUTH_TOKEN)
reports them in rate_limit_event lines that cnp records and schedules by."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon_proc import wait_until
from standin_api import Answer, Dynamic, RecordedRequest, StandinAPI, allowed, text
from world import World

pytestmark = [pytest.mark.realcli, pytest.mark.slow]
MARGIN = 2


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with StandinAPI(default=text("ok")) as api:
        yield World(tmp_path, api, oauth=True)


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC)


def test_the_windows_are_recorded_on_the_run_and_shown_by_cnp_quota(world: World) -> None:
    five_reset, seven_reset = int(time.time()) + 3600, int(time.time()) + 3 * 86400
    world.api.push(allowed("hello back", five_hour=0.42, five_reset=five_reset,
                           seven_day=0.17, seven_reset=seven_reset))
    out = world.cnp("execute", "--prompt", "hello", "--format", "json")
    assert out.code == 0, out.stderr
    [run] = world.rows("SELECT * FROM job_executions")
    assert run["quota_5h_utilization"] == 0.42 and run["quota_7d_utilization"] == 0.17
    assert datetime.fromisoformat(run["quota_5h_resets_at"]) == at(five_reset)
    assert datetime.fromisoformat(run["quota_7d_resets_at"]) == at(seven_reset)
    assert run["quota_seen_at"] is not None
    shown = world.cnp("quota", "--format", "json").json
    assert shown["account"] == "CLAUDE_CODE_OAUTH_TOKEN" and shown["known"] is True
    five = shown["windows"]["five_hour"]
    assert five["utilization"] == 0.42
    assert datetime.fromisoformat(five["resets_at"]) == at(five_reset)
    assert datetime.fromisoformat(five["seen_at"]) == datetime.fromisoformat(
        run["quota_seen_at"])
    assert shown["windows"]["seven_day"]["utilization"] == 0.17
    assert shown["message"] == "below every ceiling: runs start as scheduled"
    pretty = world.cnp("quota").stdout
    assert "five-hour: 42%" in pretty and "seven-day: 17%" in pretty


@pytest.mark.parametrize("window", ["five_hour", "seven_day"])
def test_a_job_over_its_ceiling_waits_for_the_reset_without_a_request(world: World,
                                                                      window: str) -> None:
    reset = int(time.time()) + 25
    far = int(time.time()) + 4 * 86400

    def figures(req: RecordedRequest) -> Answer:
        # 85 % (five-hour) or 60 % (seven-day) until the reset; a fresh window after it.
        if time.time() < reset:
            if window == "five_hour":
                return allowed("before", five_hour=0.85, five_reset=reset, seven_day=0.1,
                               seven_reset=far)
            return allowed("before", five_hour=0.1, five_reset=reset + 3600, seven_day=0.6,
                           seven_reset=reset)
        return allowed("after the reset", five_hour=0.05, five_reset=reset + 5 * 3600,
                       seven_day=0.1, seven_reset=far)

    world.api.default = Dynamic(figures)
    option = ("--quota-ceiling", "80") if window == "five_hour" else ("--weekly-ceiling", "50")
    job = world.cnp("job", "create", str(world.prompt("The nightly batch.")), "@yearly",
                    *option, "--format", "json").json
    # One run reports the figures; then the job's run waits for the reset.
    assert world.cnp("execute", "--prompt", "hello", "--format", "json").code == 0
    with world.daemon("--cooldown-margin", str(MARGIN)):
        run_id = world.cnp("job", "trigger", str(job["id"]), "--format", "json").json["id"]
        [held] = wait_until(lambda: world.rows(
            "SELECT * FROM job_executions WHERE id = ? AND status = 'deferred'", run_id), 20,
            "the deferral")
        label, figure, ceiling = (("five-hour", "85%", "80%") if window == "five_hour"
                                  else ("seven-day", "60%", "50%"))
        assert f"the {label} window is at {figure}" in held["reason"]
        assert f"job's {label} quota ceiling of {ceiling}" in held["reason"]
        assert datetime.fromisoformat(held["retry_at"]) == at(reset + MARGIN)
        shown = world.cnp("quota", "--format", "json").json
        assert [h["job_id"] for h in shown["held"]] == [job["id"]]
        assert len(world.api.main_requests()) == 1
        [done] = wait_until(lambda: world.rows(
            "SELECT * FROM job_executions WHERE job_id = ? AND status = 'completed'",
            job["id"]), 90, "the run after the reset")
    assert done["id"] == run_id and done["result_text"] == "after the reset"
    requests = world.api.main_requests()
    assert len(requests) == 2
    assert requests[1].received_at >= reset + MARGIN - 0.5
    assert done["quota_5h_utilization"] == 0.05


def test_a_spare_job_runs_only_inside_the_lead_time_before_the_reset(world: World) -> None:
    reset = int(time.time()) + 40
    world.api.default = Dynamic(lambda req: allowed(
        "spare work done", five_hour=0.3, five_reset=reset, seven_day=0.2,
        seven_reset=reset + 86400))
    job = world.cnp("job", "create", str(world.prompt("Use what would be lost.")), "--when",
                    "spare", "--spare-window", "25s", "--format", "json").json
    assert job["spare_window_s"] == 25 and job["next_run_at"] is None
    assert world.cnp("execute", "--prompt", "hello", "--format", "json").code == 0
    with world.daemon():
        [done] = wait_until(lambda: world.rows(
            "SELECT * FROM job_executions WHERE job_id = ? AND status = 'completed'",
            job["id"]), 60, "the spare run")
        time.sleep(2)  # no second run in the same window
        assert len(world.rows("SELECT * FROM job_executions WHERE job_id = ?", job["id"])) == 1
    started = datetime.fromisoformat(done["started_at"])
    assert at(reset - 25) - timedelta(seconds=0.5) <= started < at(reset)
    basis = json.loads(done["quota_basis"])
    assert basis["window"] == "five_hour" and basis["utilization"] == 0.3
    assert datetime.fromisoformat(basis["resets_at"]) == at(reset)
    assert done["result_text"] == "spare work done"
    spare_requests = [r for r in world.api.main_requests() if "Use what would be lost."
                      in r.all_text()]
    assert len(spare_requests) == 1 and spare_requests[0].received_at >= reset - 25 - 0.5


def test_without_rate_limit_events_runs_go_as_before_and_the_figures_are_unknown(
        tmp_path: Path) -> None:
    with StandinAPI(default=text("done")) as api:
        world = World(tmp_path, api)  # an API key: no window is ever reported
        job = world.cnp("job", "create", str(world.prompt("A task.")), "@yearly",
                        "--quota-ceiling", "1", "--format", "json").json
        out = world.cnp("job", "trigger", str(job["id"]), "--wait", "--format", "json")
        assert out.code == 0, out.stderr
        assert out.json["status"] == "completed"
        [run] = world.rows("SELECT * FROM job_executions")
        assert run["quota_5h_utilization"] is None and run["quota_seen_at"] is None
        assert world.rows("SELECT * FROM quota_windows") == []
        shown = world.cnp("quota", "--format", "json").json
        assert shown["windows"] == {"five_hour": None, "seven_day": None}
        assert "unknown" in shown["message"]
        assert "five-hour: unknown" in world.cnp("quota").stdout
