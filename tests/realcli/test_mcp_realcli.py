"""Claude Code as cnp's client, through the real CLI and the stand-in API: the model (scripted)
calls the night-pilot MCP server's `create_job`, is answered the dry run, confirms it with its
digest, and the job exists; and the durable tasks the CLI's own CronCreate writes are what
`cnp import claude-code` imports."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from claude_env import claude_bin, claude_env
from cli_runner import cnp
from standin_api import Dynamic, RecordedRequest, StandinAPI, ToolUse, text, tool_use

pytestmark = pytest.mark.realcli

RUN_TIMEOUT_S = 90  # the CLI starts the MCP server (a Python process) before the first turn
TOOL = "mcp__night-pilot__create_job"
REQUEST = {"prompt": "Summarize the day's commits into NOTES.md", "cron": "0 3 * * *",
           "name": "nightly notes", "allowed_tools": "Read,Edit"}


def run_claude(api: StandinAPI, home: Path, work: Path, prompt: str, *args: str) -> list[Any]:
    proc = subprocess.run(
        [claude_bin(), "-p", "--output-format", "stream-json", "--verbose", *args],
        input=prompt.encode(), capture_output=True, env=claude_env(home, api.url),
        cwd=work, timeout=RUN_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return [json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()]


def result_text(block: dict[str, Any]) -> str:
    content = block["content"]
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if isinstance(b, dict))


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    return home, work, tmp_path / "cnp.db"


def test_claude_creates_a_job_through_the_mcp_server_after_its_dry_run(
        dirs: tuple[Path, Path, Path]) -> None:
    home, work, db = dirs
    config = cnp("mcp", "--print-config", "--db", str(db))
    assert config.exit_code == 0, config.stderr
    config_file = home / "mcp.json"
    config_file.write_text(config.stdout)
    dry_runs: list[dict[str, Any]] = []

    def confirm(req: RecordedRequest) -> ToolUse:
        [answer] = req.tool_results()
        dry_runs.append(json.loads(result_text(answer)))
        return tool_use(TOOL, {**REQUEST, "confirm": True, "digest": dry_runs[0]["digest"]})

    with StandinAPI(default=text("done")) as api:
        api.push(tool_use(TOOL, REQUEST), Dynamic(confirm), text("Scheduled for 03:00."))
        lines = run_claude(api, home, work, "schedule this every night",
                           "--mcp-config", str(config_file), "--strict-mcp-config",
                           "--allowedTools", TOOL)
        requests = api.main_requests()

    init = lines[0]
    assert [(s["name"], s["status"]) for s in init["mcp_servers"]] == [
        ("night-pilot", "connected")]
    assert TOOL in init["tools"]
    assert lines[-1]["subtype"] == "success" and lines[-1]["result"] == "Scheduled for 03:00."
    # The dry run reached the model: nothing stored, the job, its risk and its fire times.
    [dry] = dry_runs
    assert dry["dry_run"] is True and dry["stored"] is False
    assert dry["job"]["cron_expr"] == "0 3 * * *" and dry["job"]["work_dir"] == str(work)
    assert dry["risk"]["level"] == "medium"  # Edit is granted: files change without asking
    assert len(dry["next_fire_times"]) == 5
    # The confirmation was answered with the stored job.
    created = json.loads(result_text(requests[2].tool_results()[-1]))
    assert created["stored"] is True and created["name"] == "nightly notes"
    listed = cnp("--db", str(db), "job", "list", "--format", "json").json["jobs"]
    assert [(j["id"], j["name"], j["cron_expr"], j["options"]) for j in listed] == [
        (created["id"], "nightly notes", "0 3 * * *", {"allowed_tools": ["Read", "Edit"]})]


def test_tasks_claude_codes_cron_create_persists_are_imported_and_removed(
        dirs: tuple[Path, Path, Path]) -> None:
    home, work, db = dirs
    with StandinAPI(default=text("done")) as api:
        api.push(
            tool_use("CronCreate", {"cron": "0 3 * * *", "prompt": "Summarize the day",
                                    "recurring": True, "durable": True}),
            tool_use("CronCreate", {"cron": "30 14 28 2 *", "prompt": "Send the report",
                                    "recurring": False, "durable": True}),
            text("ok"))
        run_claude(api, home, work, "schedule two things", "--allowedTools", "CronCreate")
    file = work / ".claude" / "scheduled_tasks.json"
    written = json.loads(file.read_text())["tasks"]
    assert [t["cron"] for t in written] == ["0 3 * * *", "30 14 28 2 *"]

    res = cnp("--db", str(db), "import", "claude-code", str(work), "--remove",
              "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert [c["task_id"] for c in res.json["created"]] == [t["id"] for t in written]
    assert res.json["removed"] == 2 and json.loads(file.read_text())["tasks"] == []
    jobs = {j["name"]: j for j in cnp("--db", str(db), "job", "list", "--format",
                                      "json").json["jobs"]}
    assert jobs["Summarize the day"]["cron_expr"] == "0 3 * * *"
    assert jobs["Send the report"]["run_at"] is not None
