"""`cnp mcp` spoken to as Claude Code speaks to it, through the MCP SDK's own client: once as a
subprocess over stdio, otherwise the same server in this process over memory streams. Every
tool, its answers compared with what the command line prints for the same request, and its
refusals: bad input, unknown ids, an unconfirmed or changed create, critical risk. Also
`--print-config` and `cnp mcp install`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.memory import create_client_server_memory_streams

from cli_runner import cnp
from night_pilot.enums import MisfirePolicy
from night_pilot.mcp.server import build
from night_pilot.store import SqliteStore

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database

TOOLS = {"list_jobs", "show_job", "create_job", "pause_job", "resume_job", "trigger_job",
         "list_runs", "show_run", "usage_daily", "quota", "quota_plan"}


class Client:
    """A connected session, with each answer as (is_error, document, text)."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session

    async def call(self, tool: str, /, **arguments: Any) -> tuple[bool, dict[str, Any], str]:
        result = await self.session.call_tool(tool, arguments)
        [content] = result.content
        assert content.type == "text"
        return bool(result.is_error), result.structured_content or {}, content.text

    async def ok(self, tool: str, /, **arguments: Any) -> dict[str, Any]:
        is_error, data, text = await self.call(tool, **arguments)
        assert not is_error, text
        assert json.loads(text) == data
        return data

    async def error(self, tool: str, /, **arguments: Any) -> dict[str, Any]:
        is_error, data, text = await self.call(tool, **arguments)
        assert is_error, text
        assert text.startswith(f"Error: {data['message']}")
        return data


def serve_stdio(db: Path, work: Path, body: Callable[[Client], Awaitable[None]]) -> None:
    """Run `cnp mcp --db DB` in `work` and hand a connected client to `body`."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "night_pilot", "mcp", "--db", str(db)],
        cwd=str(work), env={**os.environ, "TZ": "UTC"})

    async def main() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            await body(Client(session))

    anyio.run(main)


def serve(db: Path, work: Path, body: Callable[[Client], Awaitable[None]]) -> None:
    """The server `cnp mcp` runs (`build`), on DB with `work` as its directory, connected to
    the same client through memory streams instead of a subprocess's stdio: the tools'
    answers, without paying for a process start per test."""

    async def main() -> None:
        with SqliteStore(db) as store:
            server = build(store, work)
            async with create_client_server_memory_streams() as (client, server_side), \
                    anyio.create_task_group() as tasks:
                tasks.start_soon(lambda: server.run(*server_side,
                                                    server.create_initialization_options()))
                async with ClientSession(*client) as session:
                    await session.initialize()
                    await body(Client(session))
                tasks.cancel_scope.cancel()

    anyio.run(main)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TZ", "UTC")
    path = tmp_path / "cnp.db"
    res = cnp("--db", str(path), "prompt", "create", "Nightly notes", "Summarize the day.")
    assert res.exit_code == 0, res.stderr
    return path


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


def cli(db: Path, work: Path, *args: str) -> Any:
    here = os.getcwd()
    os.chdir(work)
    try:
        return cnp("--db", str(db), *args, "--format", "json")
    finally:
        os.chdir(here)


def test_tools_are_listed_with_their_input_schemas(db: Path, work: Path) -> None:
    async def body(c: Client) -> None:
        listed = {t.name: t for t in (await c.session.list_tools()).tools}
        assert set(listed) == TOOLS
        create = listed["create_job"].input_schema
        assert create["type"] == "object" and create["additionalProperties"] is False
        assert {"prompt_id", "prompt", "cron", "at", "confirm", "digest"} <= set(
            create["properties"])
        assert create["properties"]["misfire"]["enum"] == MisfirePolicy.values()
        assert listed["show_job"].input_schema["required"] == ["job_id"]
        assert listed["list_jobs"].annotations and listed["list_jobs"].annotations.read_only_hint
        assert listed["create_job"].annotations
        assert not listed["create_job"].annotations.read_only_hint
        for tool in listed.values():
            assert tool.description

    serve_stdio(db, work, body)


def test_create_answers_the_dry_run_first_and_creates_only_when_confirmed(
        db: Path, work: Path) -> None:
    request = {"prompt_id": 1, "cron": "0 3 * * *", "name": "notes", "allowed_tools": "Read"}
    expected = cli(db, work, "job", "create", "1", "0 3 * * *", "--name", "notes",
                   "--allowed-tools", "Read", "--dry-run")
    assert expected.exit_code == 0, expected.stderr

    async def body(c: Client) -> None:
        dry = await c.ok("create_job", **request)
        # What `cnp job create --dry-run` computes, plus the digest to confirm it with.
        assert dry["stored"] is False and dry["dry_run"] is True
        for key, value in expected.json.items():
            assert dry[key] == value, key
        assert len(dry["next_fire_times"]) == 5
        assert dry["job"]["work_dir"] == str(work)
        assert dry["risk"]["level"] == "low"
        assert dry["digest"] in dry["to_create"]
        assert (await c.ok("list_jobs"))["jobs"] == []

        # Confirming without the digest, or with the digest of another request, stores nothing.
        missing = await c.error("create_job", **request, confirm=True)
        assert missing["message"].startswith("confirm needs the digest")
        changed = await c.error("create_job", **{**request, "cron": "0 4 * * *"},
                                confirm=True, digest=dry["digest"])
        assert changed["error"] == "changed"
        assert changed["dry_run"]["job"]["cron_expr"] == "0 4 * * *"
        assert changed["dry_run"]["digest"] != dry["digest"]
        assert (await c.ok("list_jobs"))["jobs"] == []

        created = await c.ok("create_job", **request, confirm=True, digest=dry["digest"])
        assert created["stored"] is True and created["name"] == "notes"
        assert created["options"] == {"allowed_tools": ["Read"]}
        assert created["risk"] == dry["risk"]
        shown = await c.ok("show_job", job_id=created["id"])
        assert shown["schedule_description"] == dry["job"]["schedule_description"]

    serve(db, work, body)
    listed = cli(db, work, "job", "list").json["jobs"]
    assert [(j["name"], j["cron_expr"], j["work_dir"]) for j in listed] == [
        ("notes", "0 3 * * *", str(work))]


def test_a_job_with_its_own_prompt_text_stores_both(db: Path, work: Path) -> None:
    async def body(c: Client) -> None:
        text = "Check the backups\nand report what failed."
        dry = await c.ok("create_job", prompt=text, at="2099-01-01T03:00:00+00:00")
        assert dry["new_prompt"] == {"title": "Check the backups", "content": text}
        assert dry["next_fire_times"] == ["2099-01-01T03:00:00+00:00"]
        assert (await c.ok("list_jobs"))["jobs"] == []
        created = await c.ok("create_job", prompt=text, at="2099-01-01T03:00:00+00:00",
                             confirm=True, digest=dry["digest"])
        assert created["name"] == "Check the backups" and created["prompt_id"] == 2
        # Another text is another request.
        other = await c.error("create_job", prompt=text + "!", at="2099-01-01T03:00:00+00:00",
                              confirm=True, digest=dry["digest"])
        assert other["error"] == "changed"

    serve(db, work, body)
    prompts = cli(db, work, "prompt", "list").json
    assert [p["content"] for p in prompts["prompts"]][-1].startswith("Check the backups")


def test_bad_input_is_a_tool_error_with_the_command_lines_message(
        db: Path, work: Path) -> None:
    def cli_error(*args: str) -> str:
        res = cli(db, work, "job", "create", "1", *args, "--dry-run")
        assert res.exit_code == 2, res.stdout
        return str(res.error["message"])

    async def body(c: Client) -> None:
        bad = await c.error("create_job", prompt_id=1, cron="0 25 * * *")
        assert bad["error"] == "invalid_cron"
        assert bad["message"] == cli_error("0 25 * * *")
        zone = await c.error("create_job", prompt_id=1, cron="@daily", timezone="Mars/Base")
        assert zone["message"] == cli_error("@daily", "--tz", "Mars/Base")
        timeout = await c.error("create_job", prompt_id=1, cron="@daily", timeout="soon")
        assert timeout["message"] == cli_error("@daily", "--timeout", "soon")
        mode = await c.error("create_job", prompt_id=1, cron="@daily", permission_mode="yolo")
        assert mode["message"] == cli_error("@daily", "--permission-mode", "yolo")
        both = await c.error("create_job", prompt_id=1, cron="@daily", at="2099-01-01T00:00")
        assert both["message"] == cli_error("@daily", "--at", "2099-01-01T00:00")
        nothing = await c.error("create_job", prompt_id=1)
        assert nothing["message"] == cli_error()
        gone = await c.error("create_job", prompt_id=9, cron="@daily")
        assert gone["error"] == "not_found" and gone["message"] == "prompt 9 does not exist"

        choice = await c.error("create_job", prompt_id=1, cron="@daily", misfire="never")
        listed = ", ".join(repr(v) for v in MisfirePolicy.values())
        assert choice["message"] == (f"argument misfire: invalid choice: 'never' (choose from "
                                     f"{listed})")
        typed = await c.error("show_job", job_id="one")
        assert typed["message"] == "argument job_id: invalid int value: 'one'"
        flag = await c.error("create_job", prompt_id=1, cron="@daily", confirm="yes")
        assert flag["message"] == "argument confirm: invalid boolean value: 'yes'"
        assert (await c.error("show_job"))["message"] == (
            "the following arguments are required: job_id")
        extra = await c.error("list_jobs", colour="blue")
        assert extra["message"] == "unrecognized arguments: colour"
        limit = await c.error("list_runs", limit=0)
        assert limit["message"] == "argument limit: 0 is not in the range 1<=x<=100000"
        assert (await c.error("list_runs", status="asleep"))["message"].startswith(
            "argument status: invalid choice: 'asleep'")
        assert (await c.ok("list_jobs"))["jobs"] == []

    serve(db, work, body)


def test_critical_risk_is_refused_as_the_command_line_refuses_it(db: Path, work: Path) -> None:
    res = cnp("--db", str(db), "prompt", "create", "Clean", "Tidy up with rm -rf / now.")
    assert res.exit_code == 0, res.stderr
    refused = cli(db, work, "job", "create", "2", "@daily", "--dry-run")
    assert refused.exit_code == 2

    async def body(c: Client) -> None:
        for confirm in (False, True):
            error = await c.error("create_job", prompt_id=2, cron="@daily", confirm=confirm,
                                  digest="0" * 16)
            assert error["error"] == "risk"
            assert error["message"] == refused.error["message"]
            assert error["hint"] == refused.error["hint"]
        accepted = await c.ok("create_job", prompt_id=2, cron="@daily",
                              i_understand_the_risk=True)
        assert accepted["risk"]["level"] == "critical" and accepted["stored"] is False

    serve(db, work, body)
    assert cli(db, work, "job", "list").json["jobs"] == []


def test_pause_resume_trigger_and_the_runs_they_leave(db: Path, work: Path) -> None:
    job = cli(db, work, "job", "create", "1", "@daily", "--name", "daily").json

    async def body(c: Client) -> None:
        paused = await c.ok("pause_job", job_id=job["id"])
        assert paused["enabled"] is False and paused["next_run_at"] is None
        resumed = await c.ok("resume_job", job_id=job["id"])
        assert resumed["enabled"] is True and resumed["next_run_at"] == job["next_run_at"]
        run = await c.ok("trigger_job", job_id=job["id"])
        assert run["status"] == "pending" and run["trigger"] == "manual"
        assert run["job_id"] == job["id"]
        runs = await c.ok("list_runs", job_id=job["id"])
        assert [r["id"] for r in runs["runs"]] == [run["id"]]
        assert (await c.ok("list_runs", status="completed"))["runs"] == []
        shown = await c.ok("show_run", run_id=run["id"])
        assert {"result", "reason", "total_cost_usd", "tokens", "status"} <= set(shown)
        for tool, key in (("show_job", "job_id"), ("pause_job", "job_id"),
                          ("resume_job", "job_id"), ("trigger_job", "job_id")):
            gone = await c.error(tool, **{key: 404})
            assert gone["error"] == "not_found" and gone["message"] == "job 404 does not exist"
        assert (await c.error("show_run", run_id=404))["error"] == "not_found"

    serve(db, work, body)
    shown = cli(db, work, "run", "show", "1").json
    assert shown["trigger"] == "manual" and shown["status"] == "pending"


def test_a_run_shows_its_result_reason_and_cost(db: Path, work: Path) -> None:
    from night_pilot.models import ExecutorKind, RunResult, RunSettings, RunStatus, Trigger

    now = datetime.now(UTC)
    with SqliteStore(db) as store:
        run_id = store.runs.insert(job_id=None, scheduled_for=now, trigger=Trigger.EXECUTE,
                                  status=RunStatus.PENDING, now=now,
                                  settings=RunSettings(executor=ExecutorKind.SHELL,
                                                       prompt_text="true"))
        token = store.claims.next_token()
        assert store.claims.claim(run_id, "d1", "host", token, now, now + timedelta(seconds=30))
        assert store.claims.mark_running(run_id, "d1", token, now, pid=1, process_start="1",
                                  argv=["true"], prompt_text=None, prompt_sha256="x")
        assert store.claims.finish(run_id, "d1", token, RunResult(
            RunStatus.FAILED, exit_code=1, reason="exit 1", result_text="it broke",
            total_cost_usd=0.25, input_tokens=3, output_tokens=4), now)
    expected = cli(db, work, "executions").json["runs"][0]

    async def body(c: Client) -> None:
        shown = await c.ok("show_run", run_id=run_id)
        assert (shown["status"], shown["reason"], shown["result"], shown["total_cost_usd"]) == (
            "failed", "exit 1", "it broke", 0.25)
        assert shown["tokens"]["input"] == 3 and shown["tokens"]["output"] == 4
        listed = (await c.ok("list_runs"))["runs"]
        assert listed == [shown]
        for key, value in shown.items():
            assert expected[key] == value, key

    serve(db, work, body)


def test_usage_daily_is_the_command_lines_report(db: Path, work: Path) -> None:
    with SqliteStore(db) as store:
        store.usage.add_entries([
            (f"k{i}", f"2026-11-2{i}T02:00:00.000000Z", "s-0", "/p", "opus", f"m{i}", f"r{i}",
             0, 10 * i, 5 * i, i, 2 * i, 0.01 * i, "transcript", None) for i in range(1, 4)])
    expected = cli(db, work, "usage", "daily", "--tz", "UTC", "--no-import").json
    since = cli(db, work, "usage", "daily", "--tz", "UTC", "--since", "2026-11-22",
                "--no-import").json
    assert len(expected["groups"]) == 3

    async def body(c: Client) -> None:
        assert await c.ok("usage_daily", tz="UTC") == expected
        assert await c.ok("usage_daily", tz="UTC", since="20261122") == since
        bad = await c.error("usage_daily", since="yesterday")
        assert bad["message"].startswith("argument since: ")
        assert bad["message"].endswith("(use YYYY-MM-DD or YYYYMMDD)")
        order = await c.error("usage_daily", since="2026-11-23", until="2026-11-22")
        assert order["message"] == "since 2026-11-23 is after until 2026-11-22"
        zone = await c.error("usage_daily", tz="Nowhere/Land")
        assert zone["message"].startswith("invalid value for tz: ")

    serve(db, work, body)


def test_quota_is_the_command_lines_report(db: Path, work: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime, timedelta

    from night_pilot.quota import Window

    monkeypatch.setenv("CLAUDE_CODE_OAUTH_TOKEN", "anything")
    unknown = cli(db, work, "quota").json
    assert unknown["windows"] == {"five_hour": None, "seven_day": None}
    now = datetime.now(UTC)
    resets = (now + timedelta(hours=2)).replace(microsecond=0)

    async def before(c: Client) -> None:
        assert (await c.ok("quota"))["windows"] == unknown["windows"]
        bad = await c.error("quota", account="someone")
        assert "account" in bad["message"]

    serve(db, work, before)
    with SqliteStore(db) as store:
        store.quota.observe("CLAUDE_CODE_OAUTH_TOKEN", [
            Window("five_hour", 0.85, resets, now, "allowed"),
            Window("seven_day", 0.4, resets + timedelta(days=3), now, "allowed")], None)
    expected = cli(db, work, "quota").json
    plan = cli(db, work, "quota", "plan").json
    assert expected["windows"]["five_hour"]["utilization"] == 0.85

    async def after(c: Client) -> None:
        shown = await c.ok("quota")
        assert shown["windows"] == expected["windows"]
        assert shown["account"] == "CLAUDE_CODE_OAUTH_TOKEN"
        assert (await c.ok("quota_plan"))["seven_day"] == plan["seven_day"]

    serve(db, work, after)


def test_create_takes_ceilings_and_spare_capacity(db: Path, work: Path) -> None:
    async def body(c: Client) -> None:
        args = {"prompt": "Refactor the parser", "when": "spare", "spare_window": "20m",
                "quota_ceiling": 70}
        dry = await c.ok("create_job", **args)
        assert dry["job"]["quota_ceiling"] == 70.0 and dry["job"]["spare_window_s"] == 1200
        made = await c.ok("create_job", **args, confirm=True, digest=dry["digest"])
        assert made["stored"] and made["quota_ceiling"] == 70.0
        bad = await c.error("create_job", prompt="x", cron="0 3 * * *", quota_ceiling=120)
        assert bad["message"] == "--quota-ceiling must be between 0 and 100 (percent), not 120"

    serve(db, work, body)
    [job] = cli(db, work, "job", "list").json["jobs"]
    assert (job["spare_window_s"], job["quota_ceiling"]) == (1200, 70.0)


def test_print_config_names_this_cnp_and_database(tmp_path: Path) -> None:
    res = cnp("mcp", "--print-config", "--db", "rel.db")
    assert res.exit_code == 0, res.stderr
    entry = res.json["mcpServers"]["night-pilot"]
    assert Path(entry["command"]).is_absolute()
    assert entry["args"][-3:] == ["mcp", "--db", str(Path("rel.db").absolute())]
    assert entry["env"] == {"CNP_HOME": os.environ["CNP_HOME"]}


def test_install_copies_the_skill_into_the_projects_claude_dir(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    res = cnp("mcp", "install", "--project", str(project), "--format", "json")
    assert res.exit_code == 0, res.stderr
    skill = project / ".claude" / "skills" / "night-pilot" / "SKILL.md"
    assert res.json == {"skill": str(skill), "state": "installed"}
    text = skill.read_text()
    assert text.startswith("---\nname: night-pilot\ndescription: ")
    assert "create_job" in text
    again = cnp("mcp", "install", "--project", str(project), "--format", "json")
    assert again.json["state"] == "unchanged"
    skill.write_text("my own\n")
    refused = cnp("mcp", "install", "--project", str(project))
    assert refused.exit_code == 1 and "differs" in refused.stderr
    assert skill.read_text() == "my own\n"
    forced = cnp("mcp", "install", "--project", str(project), "--force", "--format", "json")
    assert forced.json["state"] == "updated" and skill.read_text() == text
