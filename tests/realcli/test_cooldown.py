"""Waiting out a usage limit unattended, through the real CLI (subscription mode, so it emits
rate_limit_event): recorded, reported, no request before the reset, then done by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon_proc import wait_until
from standin_api import StandinAPI, not_usage_limit_429, text, usage_limit
from world import World

pytestmark = [pytest.mark.realcli, pytest.mark.slow]
MARGIN = 2


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with StandinAPI(default=text("All done after the reset")) as api:
        yield World(tmp_path, api, oauth=True)


@pytest.mark.parametrize("on_limit", ["rerun", "resume"])
def test_a_usage_limit_is_waited_out_and_the_job_completes(world: World, on_limit: str) -> None:
    reset = int(time.time()) + 20
    world.api.push(usage_limit(reset_at=reset))
    limited_job = world.cnp("job", "create", str(world.prompt("A long task.")), "@yearly",
                            "--on-limit", on_limit, "--format", "json").json
    other_job = world.cnp("job", "create", str(world.prompt("Another task.")), "@yearly",
                          "--format", "json").json
    with world.daemon("--cooldown-margin", str(MARGIN)):
        run_id = world.cnp("job", "trigger", str(limited_job["id"]), "--format", "json").json["id"]
        [limited] = wait_until(lambda: world.rows(
            "SELECT * FROM job_executions WHERE id = ? AND status = 'failed'", run_id), 60,
            "the limited run")
        limited_at = time.time()
        assert limited["limit_kind"] == "session"
        assert datetime.fromisoformat(limited["limit_reset_at"]) == datetime.fromtimestamp(
            reset, UTC)
        assert "usage limit reached" in limited["reason"]
        state = world.cnp("cooldown", "--format", "json").json
        assert state["active"] is True and state["kind"] == "session"
        assert datetime.fromisoformat(state["reset_at"]) == datetime.fromtimestamp(reset, UTC)
        assert state["source_execution_id"] == run_id
        # Another job due during the cooldown is deferred, not started.
        other_run = world.cnp("job", "trigger", str(other_job["id"]), "--format", "json").json
        wait_until(lambda: world.rows("SELECT 1 FROM job_executions WHERE id = ? AND status ="
                                      " 'deferred'", other_run["id"]), 10, "the deferral")
        done = wait_until(lambda: world.rows(
            "SELECT * FROM job_executions WHERE status = 'completed' ORDER BY id"), 90,
            "the runs after the reset")
        wait_until(lambda: len(world.rows("SELECT 1 FROM job_executions WHERE status ="
                                          " 'completed'")) == 2, 30, "both runs")
    done = world.rows("SELECT * FROM job_executions WHERE status = 'completed' ORDER BY id")
    followup = next(r for r in done if r["job_id"] == limited_job["id"])
    assert followup["attempt"] == 2
    # Nothing reached the API between the limit and its reset plus the margin.
    requests = world.api.main_requests()
    assert len(requests) == 3
    assert requests[0].received_at < limited_at
    assert all(r.received_at >= reset + MARGIN - 0.5 for r in requests[1:])
    for row in done:
        started = datetime.fromisoformat(row["started_at"])
        assert started >= datetime.fromtimestamp(reset + MARGIN, UTC) - timedelta(seconds=0.5)
    assert followup["result_text"] == "All done after the reset"
    resumed = next(r for r in requests[1:] if "A long task." in r.all_text())
    if on_limit == "resume":
        # The follow-up resumed the limited session: same session, the earlier prompt sent
        # again, and the continue prompt on top.
        assert followup["session_id"] == limited["session_id"]
        assert "usage limit was reached" in resumed.prompt_text()
        assert "--resume" in followup["argv"]
    else:
        assert resumed.prompt_text() == "A long task."
        assert followup["session_id"] != limited["session_id"]
    assert world.cnp("cooldown", "--format", "json").json["active"] is False


def test_a_server_side_429_is_retried_without_a_cooldown(world: World) -> None:
    world.api.push(not_usage_limit_429())
    out = world.cnp("execute", "--prompt", "hello", "--retries", "2", "--format", "json")
    # The first attempt failed transiently; the foreground runner retried it after a backoff.
    assert out.code == 0, out.stdout + out.stderr
    assert out.json["status"] == "completed" and out.json["attempt"] == 2
    runs = world.rows("SELECT status, reason, limit_kind FROM job_executions ORDER BY id")
    assert runs[0]["status"] == "failed" and runs[0]["limit_kind"] is None
    assert "not your usage limit" in runs[0]["reason"]
    assert world.rows("SELECT * FROM cooldowns") == []
    assert world.cnp("cooldown", "--format", "json").json["active"] is False


def test_execute_refuses_during_a_cooldown_unless_forced(world: World) -> None:
    world.api.push(usage_limit(reset_at=int(time.time()) + 3600))
    first = world.cnp("execute", "--prompt", "hello", "--format", "json")
    assert first.code == 1 and first.json["limit_kind"] == "session"
    before = len(world.api.main_requests())
    refused = world.cnp("execute", "--prompt", "again", "--format", "json")
    assert refused.code == 1
    assert "usage limit (session) is in force" in refused.error_message()
    assert len(world.api.main_requests()) == before
    forced = world.cnp("execute", "--prompt", "again", "--force", "--format", "json")
    assert forced.code == 0 and forced.json["status"] == "completed"
