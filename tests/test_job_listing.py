"""`cnp job list`, pinned byte for byte on both backends: the JSON document and the table, for a
handful of varied jobs (cron and one-shot, paused and deleted, every kind of option, an inline
MCP configuration with secrets, template variables, non-ASCII text, times with and without
microseconds, jobs with no runs, with finished runs, with a newer run that has not started).

The listing is read by scripts; a faster way of producing it must not change a byte of it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from cli_runner import cnp
from night_pilot.config import resolve_db
from night_pilot.models import (
    ClaudeOptions,
    ExecutorKind,
    InterruptPolicy,
    Job,
    MisfirePolicy,
    OnLimit,
    OverlapPolicy,
    Prompt,
    RunResult,
    RunSettings,
    RunStatus,
    Trigger,
)
from night_pilot.shapes import iso, iso_text, job_dict, job_dicts
from night_pilot.store import Store, open_store
from night_pilot.store.timefmt import from_db, to_db

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 28, 5, 30, 15, 250000, tzinfo=UTC)
SHELL = RunSettings(executor=ExecutorKind.SHELL, prompt_text="true")
MCP = ('{"mcpServers": {"gh": {"command": "gh-mcp", "env": {"GH_TOKEN": "ghp_secret"},'
       ' "args": ["--api-key", "k"]}}, "auth_token": "t0p"}')


def run(store: Store, job_id: int, at: datetime, status: RunStatus, *, start: bool = True) -> None:
    """A run of `job_id`: pending only, or claimed, started at `at` and finished as `status`."""
    run_id = store.runs.insert(job_id=job_id, scheduled_for=at, trigger=Trigger.SCHEDULE,
                              status=RunStatus.PENDING, settings=SHELL, now=at)
    if not start:
        return
    token = store.claims.next_token()
    assert store.claims.claim(run_id, "d1", "host-a", token, at, at + timedelta(seconds=30))
    assert store.claims.mark_running(run_id, "d1", token, at, pid=1, process_start="1",
                              argv=["/bin/sh"], prompt_text=None, prompt_sha256=None)
    assert store.claims.finish(run_id, "d1", token, RunResult(status=status), at)


@pytest.fixture
def listed(backend: str) -> Iterator[None]:
    with open_store(resolve_db()) as store:
        [p1, p2] = store.prompts.insert_many(
            [Prompt("Nightly review", "Review the changes."),
             Prompt("Deps", "Update {{PKG}}.", tags=["deps"])], NOW)
        j1 = store.jobs.insert(Job(
            prompt_id=p1, name="nightly", timezone="Europe/Berlin", cron_expr="0 2 * * *",
            next_run_at=datetime(2026, 11, 29, 1, 0, tzinfo=UTC), work_dir="/srv/api"), NOW)
        j2 = store.jobs.insert(Job(
            prompt_id=p2, name="Wöchentlich «deps»", timezone="Asia/Tokyo",
            cron_expr="30 */10 * * * *", description="line one\nline two — ünïcode",
            next_run_at=LATER, work_dir="/srv/web", executor=ExecutorKind.CLAUDE,
            options=ClaudeOptions(model="opus", allowed_tools=("Read", "Bash(git diff:*)"),
                                  disallowed_tools=("WebFetch",), permission_mode="plan",
                                  max_turns=30, max_budget_usd=2.5,
                                  append_system_prompt="Be brief.", mcp_config=MCP,
                                  add_dirs=("/srv/shared",)),
            timeout_s=7200, idle_timeout_s=300, retries=0, misfire=MisfirePolicy.ALL,
            misfire_grace_s=0, overlap=OverlapPolicy.QUEUE,
            on_interrupt=InterruptPolicy.ALWAYS, on_limit=OnLimit.RESUME, worktree=True,
            continue_session=True, template_vars={"PKG": "click", "Ä": "ß"},
            risk_level="critical", risk_accepted=True), LATER)
        j3 = store.jobs.insert(Job(
            prompt_id=p1, name="once", timezone="America/New_York",
            run_at=datetime(2026, 12, 24, 23, 59, 59, 1, tzinfo=UTC),
            next_run_at=datetime(2026, 12, 24, 23, 59, 59, 1, tzinfo=UTC), enabled=True,
            executor=ExecutorKind.SHELL, options=ClaudeOptions(mcp_config="/etc/mcp.json"),
            misfire=MisfirePolicy.SKIP, overlap=OverlapPolicy.ALLOW,
            on_interrupt=InterruptPolicy.NEVER), NOW)
        j4 = store.jobs.insert(Job(
            prompt_id=p2, name="paused", timezone="UTC", cron_expr="@daily", enabled=False,
            options=ClaudeOptions(mcp_config="{not json"), risk_level="medium"), NOW)
        j5 = store.jobs.insert(Job(
            prompt_id=p1, name="gone", timezone="UTC", cron_expr="*/15 * * * *",
            next_run_at=NOW + timedelta(minutes=15)), NOW)
        store.jobs.delete(j5, LATER)
        run(store, j1, NOW - timedelta(days=1), RunStatus.COMPLETED)
        run(store, j1, NOW - timedelta(hours=1), RunStatus.FAILED)
        run(store, j2, NOW - timedelta(days=2), RunStatus.COMPLETED)
        run(store, j2, NOW, RunStatus.PENDING, start=False)  # newest: not started
        run(store, j5, NOW - timedelta(days=3), RunStatus.COMPLETED)
        assert (j3, j4) == (3, 4)
    yield


JSON_LIVE = (
    '{"jobs": [{"id": 1, "name": "nightly", "description": "", "prompt_id": 1, '
    '"cron_expr": "0 2 * * *", "run_at": null, "timezone": "Europe/Berlin", "enabled": true, '
    '"next_run_at": "2026-11-29T01:00:00+00:00", "last_status": "failed", '
    '"last_run_at": "2026-11-28T03:00:00+00:00", "work_dir": "/srv/api", '
    '"executor": "claude", "options": {}, "timeout_s": 3600, "idle_timeout_s": 600, '
    '"max_output_bytes": null, '
    '"retries": 2, "misfire": "latest", "misfire_grace_s": 21600, "overlap": "skip", '
    '"on_interrupt": "retry-unstarted", "on_limit": "rerun", '
    '"quota_ceiling": null, "weekly_ceiling": null, "spare_window_s": null, '
    '"created_at": "2026-11-28T04:00:00+00:00", "updated_at": "2026-11-28T04:00:00+00:00", '
    '"deleted_at": null, "worktree": false, "continue_session": false, "template_vars": {}, '
    '"risk_level": "low", "risk_accepted": false}, '
    '{"id": 2, "name": "Wöchentlich «deps»", "description": "line one\\nline two — ünïcode", '
    '"prompt_id": 2, "cron_expr": "30 */10 * * * *", "run_at": null, '
    '"timezone": "Asia/Tokyo", "enabled": true, "next_run_at": "2026-11-28T05:30:15.250000+00:00", '
    '"last_status": "pending", "last_run_at": "2026-11-26T04:00:00+00:00", '
    '"work_dir": "/srv/web", "executor": "claude", "options": {"add_dirs": ["/srv/shared"], '
    '"allowed_tools": ["Read", "Bash(git diff:*)"], "append_system_prompt": "Be brief.", '
    '"disallowed_tools": ["WebFetch"], "max_budget_usd": 2.5, "max_turns": 30, '
    '"mcp_config": "{\\"auth_token\\": \\"***\\", '
    '\\"mcpServers\\": {\\"gh\\": {\\"args\\": [\\"--api-key\\", \\"k\\"], '
    '\\"command\\": \\"gh-mcp\\", \\"env\\": {\\"GH_TOKEN\\": \\"***\\"}}}}", '
    '"model": "opus", "permission_mode": "plan"}, "timeout_s": 7200, "idle_timeout_s": 300, '
    '"max_output_bytes": null, '
    '"retries": 0, '
    '"misfire": "all", "misfire_grace_s": 0, "overlap": "queue", "on_interrupt": "always", '
    '"on_limit": "resume", '
    '"quota_ceiling": null, "weekly_ceiling": null, "spare_window_s": null, '
    '"created_at": "2026-11-28T05:30:15.250000+00:00", '
    '"updated_at": "2026-11-28T05:30:15.250000+00:00", "deleted_at": null, "worktree": true, '
    '"continue_session": true, "template_vars": {"PKG": "click", "Ä": "ß"}, '
    '"risk_level": "critical", "risk_accepted": true}, '
    '{"id": 3, "name": "once", "description": "", "prompt_id": 1, "cron_expr": null, '
    '"run_at": "2026-12-24T23:59:59.000001+00:00", "timezone": "America/New_York", '
    '"enabled": true, "next_run_at": "2026-12-24T23:59:59.000001+00:00", '
    '"last_status": null, "last_run_at": null, "work_dir": null, "executor": "shell", '
    '"options": {"mcp_config": "/etc/mcp.json"}, "timeout_s": 3600, "idle_timeout_s": 600, '
    '"max_output_bytes": null, '
    '"retries": 2, "misfire": "skip", "misfire_grace_s": 21600, "overlap": "allow", '
    '"on_interrupt": "never", "on_limit": "rerun", '
    '"quota_ceiling": null, "weekly_ceiling": null, "spare_window_s": null, '
    '"created_at": "2026-11-28T04:00:00+00:00", '
    '"updated_at": "2026-11-28T04:00:00+00:00", "deleted_at": null, "worktree": false, '
    '"continue_session": false, "template_vars": {}, "risk_level": "low", '
    '"risk_accepted": false}, '
    '{"id": 4, "name": "paused", "description": "", "prompt_id": 2, "cron_expr": "@daily", '
    '"run_at": null, "timezone": "UTC", "enabled": false, "next_run_at": null, '
    '"last_status": null, "last_run_at": null, "work_dir": null, "executor": "claude", '
    '"options": {"mcp_config": "***"}, "timeout_s": 3600, "idle_timeout_s": 600, '
    '"max_output_bytes": null, '
    '"retries": 2, "misfire": "latest", "misfire_grace_s": 21600, "overlap": "skip", '
    '"on_interrupt": "retry-unstarted", "on_limit": "rerun", '
    '"quota_ceiling": null, "weekly_ceiling": null, "spare_window_s": null, '
    '"created_at": "2026-11-28T04:00:00+00:00", "updated_at": "2026-11-28T04:00:00+00:00", '
    '"deleted_at": null, "worktree": false, "continue_session": false, "template_vars": {}, '
    '"risk_level": "medium", "risk_accepted": false}'
)
JSON_DELETED = (
    '{"id": 5, "name": "gone", "description": "", "prompt_id": 1, '
    '"cron_expr": "*/15 * * * *", "run_at": null, "timezone": "UTC", "enabled": false, '
    '"next_run_at": null, "last_status": "completed", '
    '"last_run_at": "2026-11-25T04:00:00+00:00", "work_dir": null, "executor": "claude", '
    '"options": {}, "timeout_s": 3600, "idle_timeout_s": 600, '
    '"max_output_bytes": null, "retries": 2, '
    '"misfire": "latest", "misfire_grace_s": 21600, "overlap": "skip", '
    '"on_interrupt": "retry-unstarted", "on_limit": "rerun", '
    '"quota_ceiling": null, "weekly_ceiling": null, "spare_window_s": null, '
    '"created_at": "2026-11-28T04:00:00+00:00", '
    '"updated_at": "2026-11-28T05:30:15.250000+00:00", '
    '"deleted_at": "2026-11-28T05:30:15.250000+00:00", "worktree": false, '
    '"continue_session": false, "template_vars": {}, "risk_level": "low", '
    '"risk_accepted": false}'
)

TABLE_LIVE = """\
ID  NAME                SCHEDULE                              TZ                ENABLED  NEXT RUN                          LAST
1   nightly             0 2 * * *                             Europe/Berlin     yes      2026-11-29 02:00:00 CET (in 21h)  failed
2   Wöchentlich «deps»  30 */10 * * * *                       Asia/Tokyo        yes      2026-11-28 14:30:15 JST (in 90m)  pending
3   once                @at 2026-12-24T23:59:59.000001+00:00  America/New_York  yes      2026-12-24 18:59:59 EST (in 26d)  -
4   paused              @daily                                UTC               no       -                                 -
"""  # noqa: E501


def test_json_listing_is_pinned(listed: None) -> None:
    out = cnp("job", "list", "--format", "json")
    assert out.exit_code == 0, out.stderr
    assert out.stdout == JSON_LIVE + "]}\n"


def test_json_listing_with_deleted_jobs_is_pinned(listed: None) -> None:
    out = cnp("job", "list", "--all", "--format", "json")
    assert out.exit_code == 0, out.stderr
    assert out.stdout == JSON_LIVE + ", " + JSON_DELETED + "]}\n"


@pytest.fixture
def at_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table's relative times count from NOW."""
    monkeypatch.setattr("night_pilot.cli.jobs.clock", lambda: NOW)


def test_table_listing_is_pinned(listed: None, at_now: None) -> None:
    out = cnp("job", "list")
    assert out.exit_code == 0, out.stderr
    assert out.stdout == TABLE_LIVE


def test_table_listing_with_deleted_jobs_shows_them(listed: None, at_now: None) -> None:
    out = cnp("job", "list", "--all")
    assert out.exit_code == 0, out.stderr
    assert out.stdout.splitlines()[:-1] == TABLE_LIVE.splitlines()
    assert out.stdout.splitlines()[-1].split() == [
        "5", "gone", "*/15", "*", "*", "*", "*", "UTC", "deleted", "-", "completed"]


def test_empty_listing(backend: str) -> None:
    assert cnp("job", "list", "--format", "json").stdout == '{"jobs": []}\n'
    table, hint = cnp("job", "list").stdout.split("(none)\n")
    assert table == "ID  NAME  SCHEDULE  TZ  ENABLED  NEXT RUN  LAST\n"
    assert hint.startswith("No jobs yet. Create one: cnp job create PROMPT_ID")


# The console script's own process, as `cnp` runs: main() without argv, printing to a pipe.
# It reports which of the modules a listing does not need were loaded.
CONSOLE = """if True:
    import sys
    from night_pilot.cli import main
    sys.argv = ["cnp", *sys.argv[1:]]
    rc = main()
    sys.stdout.flush()
    unneeded = ["pathlib", "platformdirs", "night_pilot.store.runs", "night_pilot.store.legacy",
                "night_pilot.store.claims", "night_pilot.store.usage",
                "night_pilot.store.notifications", "night_pilot.store.sessions",
                "night_pilot.catalog",
                "night_pilot.cron", "zoneinfo", "night_pilot.models", "dataclasses",
                "shutil"]
    print(",".join(m for m in unneeded if m in sys.modules), file=sys.stderr)
    sys.exit(rc)
"""


def console(*args: str) -> tuple[str, list[str]]:
    """What `cnp ARGS` prints when run as a program, and the unneeded modules it loaded."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    out = subprocess.run([sys.executable, "-c", CONSOLE, *args], capture_output=True, env=env,
                         check=True)
    loaded = out.stderr.decode().splitlines()[-1]
    return out.stdout.decode("utf-8"), loaded.split(",") if loaded else []


def cells(table: str) -> list[list[str]]:
    """A table's cells, without the relative times ("(in 21h)")."""
    return [re.sub(r" \((in \S+|\S+ ago|now)\)", "", line).split()
            for line in table.splitlines()]


def test_the_console_process_prints_the_pinned_listing(listed: None, backend: str) -> None:
    """The same bytes from the program as from the in-process runner the pins use; a JSON
    listing from SQLite loads neither pathlib, the domain's dataclasses nor the store's run,
    web or legacy queries."""
    out, loaded = console("job", "list", "--format", "json")
    assert out == JSON_LIVE + "]}\n"
    if backend == "sqlite":
        assert loaded == []
    assert console("job", "list", "--all", "--format", "json")[0] == (
        JSON_LIVE + ", " + JSON_DELETED + "]}\n")
    assert console("--format", "json", "job", "list")[0] == JSON_LIVE + "]}\n"
    # The program counts relative times from the real clock: the rest is the same.
    assert cells(console("job", "list")[0]) == cells(TABLE_LIVE)


def test_rows_and_jobs_give_the_same_documents(listed: None) -> None:
    """`job_dicts` over stored rows is `job_dict` over `Job`s, with and without settings."""
    with open_store(resolve_db()) as store:
        for deleted in (False, True):
            jobs = store.jobs.all(include_deleted=deleted)
            for settings in (False, True):
                assert job_dicts(*store.jobs.rows(include_deleted=deleted),
                                 settings=settings) == [
                    job_dict(j, settings=settings) for j in jobs]


@given(st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.timezones()))
def test_iso_text_of_a_stored_time_is_iso_of_the_time(value: datetime) -> None:
    stored = to_db(value)
    assert iso_text(stored) == iso(from_db(stored))


@pytest.mark.parametrize("text", [
    None, "2026-11-28T03:00:00.000000Z", "2026-11-28T03:00:00.000100Z",
    "2026-11-28T03:00:00+02:00", "2026-11-28T03:00:00.5+00:00", "2026-11-28T03:00:00",
    "2026-11-28T03:00:00.12345+00:00", "2026-11-28 03:00:00.000000Z",
])
def test_iso_text_parses_any_other_form(text: str | None) -> None:
    assert iso_text(text) == iso(from_db(text))


def test_the_listing_reads_no_run_it_does_not_need(tmp_path: Path) -> None:
    """With a long history the listing's query finds runs written ahead through their own
    index (m004, whose terms must stay those of `store.schedule.AHEAD`) and the last run through
    the job's: no step reads every run."""
    with open_store(resolve_db(str(tmp_path / "plan.db"))) as store:
        plan = [row[3] for row in store.db.execute(
            "EXPLAIN QUERY PLAN " + store.jobs._JOB_SELECT + " WHERE j.deleted_at IS NULL")]
    assert any("USING INDEX job_executions_ahead" in step for step in plan), plan
    assert not [step for step in plan if step.startswith("SCAN") and "job_executions" in step
                and "job_executions_ahead" not in step], plan
