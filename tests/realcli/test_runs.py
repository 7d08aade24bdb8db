"""Runs through the real Claude CLI against the stand-in API: what reaches the API, what is
recorded, and how failures are told apart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon_proc import wait_until
from night_pilot.procs import group_members
from standin_api import StandinAPI, overloaded, stall, text, tool_use
from world import World

pytestmark = pytest.mark.realcli


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with StandinAPI(default=text("Hello from the stand-in")) as api:
        yield World(tmp_path, api)


def test_triggers_and_records_execution(world: World) -> None:
    prompt_id = world.prompt("Say hello.")
    with world.daemon():
        at = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
        created = world.cnp("job", "create", str(prompt_id), f"{at.second} {at.minute} * * * *",
                            "--tz", "UTC", "--work-dir", str(world.work), "--format", "json")
        assert created.code == 0, created.stderr
        job_id = created.json["id"]
        [run] = wait_until(lambda: world.rows(
            "SELECT * FROM job_executions WHERE job_id = ? AND status IN ('completed', 'failed')",
            job_id), 60, "the scheduled run")
    assert run["status"] == "completed", run["reason"]
    assert datetime.fromisoformat(run["scheduled_for"]) == at
    started = datetime.fromisoformat(run["started_at"])
    assert timedelta(0) <= started - at < timedelta(seconds=1)  # fired on time
    assert run["result_text"] == "Hello from the stand-in"
    assert run["duration_ms"] > 0 and run["num_turns"] == 1
    assert (run["input_tokens"], run["output_tokens"]) == (12, 7)
    assert (run["cache_creation_tokens"], run["cache_read_tokens"]) == (100, 200)
    assert run["total_cost_usd"] > 0
    assert run["session_id"] and run["model"]
    assert run["exit_code"] == 0
    assert run["prompt_text"] == "Say hello." and len(run["prompt_sha256"]) == 64
    # Every line the CLI printed is stored, in order, with its type.
    events = world.rows("SELECT * FROM execution_events WHERE execution_id = ? ORDER BY seq",
                        run["id"])
    types = [(e["type"], e["subtype"]) for e in events if e["stream"] == "stdout"]
    assert types[0] == ("system", "init") and types[-1] == ("result", "success")
    # The prompt reached the API as stored.
    assert world.api.main_requests()[0].prompt_text() == "Say hello."


def test_execute_prints_the_result_as_json(world: World) -> None:
    out = world.cnp("execute", "--prompt", "Hi there", "--format", "json")
    assert out.code == 0, out.stderr
    data = out.json
    assert (data["status"], data["result"]) == ("completed", "Hello from the stand-in")
    assert data["run_id"] and data["session_id"]
    assert data["tokens"] == {"input": 12, "output": 7, "cache_creation": 100, "cache_read": 200}
    assert data["total_cost_usd"] > 0


@pytest.mark.parametrize("prompt", ["-rf / is not an option, it is text", "x" * (1024 * 1024)],
                         ids=["leading-dash", "one-megabyte"])
def test_prompts_reach_the_api_intact(world: World, prompt: str) -> None:
    out = world.cnp("execute", "--stdin", "--format", "json", input=prompt)
    assert out.code == 0, out.stderr
    assert world.api.main_requests()[0].prompt_text() == prompt


def test_a_tool_without_a_grant_is_denied_and_recorded(world: World) -> None:
    world.api.push(tool_use("Bash", {"command": "echo night > night.txt"}), text("tried"))
    out = world.cnp("execute", "--prompt", "write night.txt", "--format", "json")
    assert out.code == 0, out.stderr
    assert not (world.work / "night.txt").exists()
    [denial] = out.json["permission_denials"]
    assert denial["tool_name"] == "Bash"
    shown = world.cnp("run", "show", str(out.json["id"]))
    assert "permission denials  1" in shown.stdout


def test_a_granted_tool_runs_in_the_working_directory(world: World) -> None:
    world.api.push(tool_use("Bash", {"command": "echo night > night.txt"}), text("done"))
    out = world.cnp("execute", "--prompt", "write night.txt", "--allowed-tools", "Bash",
                    "--format", "json")
    assert out.code == 0, out.stderr
    assert (world.work / "night.txt").read_text() == "night\n"
    assert out.json["permission_denials"] == []
    assert "--allowedTools" in out.json["argv"]


def test_overloaded_is_retried_with_backoff_then_completes(world: World) -> None:
    world.api.push(overloaded(), overloaded())
    prompt_id = world.prompt("try hard")
    job = world.cnp("job", "create", str(prompt_id), "@yearly", "--retries", "3",
                    "--format", "json").json
    with world.daemon("--retry-base-delay", "1"):
        trig = world.cnp("job", "trigger", str(job["id"]), "--wait", "--format", "json")
    assert trig.code == 0, trig.stderr
    runs = world.rows("SELECT * FROM job_executions WHERE job_id = ? ORDER BY attempt",
                      job["id"])
    assert [(r["attempt"], r["status"]) for r in runs] == [
        (1, "failed"), (2, "failed"), (3, "completed")]
    assert runs[0]["api_error_status"] == 529 and "attempt 2" in runs[0]["reason"]
    gap = (datetime.fromisoformat(runs[2]["started_at"])
           - datetime.fromisoformat(runs[1]["finished_at"]))
    assert gap >= timedelta(seconds=1.5)  # the second delay doubled (1 s, then ~2 s)
    assert trig.json["status"] == "completed" and trig.json["attempt"] == 3


def test_a_stalled_api_trips_the_idle_timeout(world: World) -> None:
    world.api.push(stall(None, after_message_start=True))
    started = time.monotonic()
    out = world.cnp("execute", "--prompt", "hang", "--idle-timeout", "3", "--retries", "0",
                    "--format", "json")
    assert time.monotonic() - started < 30
    assert out.code == 1
    data = out.json
    assert data["status"] == "failed" and "idle timeout" in data["reason"]
    assert group_members(data["pid"]) == []  # no orphan left behind


def test_the_cli_missing_is_a_clear_error_on_the_run(world: World) -> None:
    world.env["CNP_CLAUDE_BIN"] = str(world.root / "no-such-claude")
    world.env["PATH"] = "/usr/bin:/bin"
    out = world.cnp("execute", "--prompt", "hello", "--format", "json")
    assert out.code == 1
    assert out.json["status"] == "failed"
    assert "claude CLI was not found" in out.json["reason"]
    assert world.api.requests == []
