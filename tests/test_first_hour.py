"""Where a new user would stall: warnings before a start that cannot succeed, the daemon's
start-up summary, and the next command after `init`, an empty listing, a trigger nobody
starts, a run left deferred and a limit that has just reset."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cli_runner import cnp
from daemon_proc import DaemonProcess
from night_pilot.cli.guide import daemon_summary, relative
from night_pilot.config import resolve_db
from night_pilot.health import preflight
from night_pilot.store import Store, open_store


@pytest.fixture
def bare_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shell with no `claude` anywhere and no credential."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    for name in ("CNP_CLAUDE_BIN", "CLAUDE_CONFIG_DIR", "ANTHROPIC_API_KEY",
                 "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_USE_BEDROCK",
                 "CLAUDE_CODE_USE_VERTEX"):
        monkeypatch.delenv(name, raising=False)
    return home


def test_preflight_names_a_missing_claude_and_a_missing_credential(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    bare = {"HOME": str(home), "PATH": str(tmp_path)}
    missing_cli, missing_login = preflight(bare)
    assert "no claude CLI found" in missing_cli and "CNP_CLAUDE_BIN" in missing_cli
    assert "claude setup-token" in missing_login and "ANTHROPIC_API_KEY" in missing_login
    fake = tmp_path / "claude"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert preflight({**bare, "CNP_CLAUDE_BIN": str(fake), "ANTHROPIC_API_KEY": "k"}) == []
    (home / ".claude" / ".credentials.json").write_text("{}")
    assert preflight({**bare, "PATH": str(tmp_path)}) == []
    (home / ".claude" / ".credentials.json").unlink()
    (home / ".claude.json").write_text('{"oauthAccount": {"emailAddress": "a@b"}}')
    assert preflight({**bare, "PATH": str(tmp_path)}) == []  # the macOS Keychain login


def test_init_warns_and_says_what_to_run_next(bare_shell: Path) -> None:
    res = cnp("init")
    assert res.exit_code == 0
    warnings = res.stderr.splitlines()
    assert len(warnings) == 2 and all(w.startswith("Warning: ") for w in warnings)
    assert "no claude CLI found" in warnings[0] and "no Claude credential" in warnings[1]
    assert "Next:" in res.stdout and "cnp prompt create" in res.stdout
    doc = cnp("init", "--format", "json").json
    assert {"database", "created", "schema_version"} <= doc.keys()
    assert len(doc["warnings"]) == 2 and doc["next_steps"][0].startswith("cnp prompt create")
    cnp("prompt", "create", "p", "hello")
    assert "cnp job create" in cnp("init").stdout


def test_an_empty_job_list_says_how_to_create_one() -> None:
    res = cnp("job", "list")
    assert "(none)" in res.stdout and "cnp job create PROMPT_ID" in res.stdout
    assert cnp("job", "list", "--format", "json").json == {"jobs": []}


def test_relative_times() -> None:
    assert relative(timedelta(hours=13, minutes=20)) == "in 13h"
    assert relative(timedelta(hours=2, minutes=5)) == "in 2h 5m"
    assert relative(timedelta(days=2, hours=4)) == "in 2d 4h"
    assert relative(timedelta(minutes=45)) == "in 45m"
    assert relative(timedelta(seconds=20)) == "in 20s"
    assert relative(timedelta(seconds=-5)) == "now"


def test_the_daemon_summary_lists_each_enabled_job_by_its_next_fire_time() -> None:
    assert "No jobs yet" in daemon_summary(_store(), datetime.now(UTC))[0]
    pid = cnp("prompt", "create", "p", "hello", "--format", "json").json["id"]
    cnp("job", "create", str(pid), "0 3 * * *", "--tz", "Asia/Tokyo", "--name", "nightly")
    cnp("job", "create", str(pid), "*/5 * * * *", "--name", "often")
    cnp("job", "create", str(pid), "@yearly", "--name", "idle", "--no-register")
    store = _store()
    job = store.jobs.all()[0]
    assert job.next_run_at is not None
    now = job.next_run_at - timedelta(hours=13, minutes=2)
    lines = daemon_summary(store, now)
    assert lines[0] == "2 jobs enabled (1 paused):"
    often, nightly = lines[1:]  # soonest first
    assert often.split()[0] == "often"
    assert nightly.split()[0] == "nightly" and "next in 13h (" in nightly and "JST)" in nightly


@pytest.mark.slow
def test_the_daemon_warns_and_prints_its_summary_at_start(bare_shell: Path,
                                                           tmp_path: Path) -> None:
    db = tmp_path / "night.db"
    pid = cnp("prompt", "create", "p", "hello", "--db", str(db), "--format", "json").json["id"]
    cnp("job", "create", str(pid), "0 3 * * *", "--name", "nightly", "--db", str(db))
    with DaemonProcess(db) as daemon:
        pass
    out = daemon.output()
    assert "Warning: no claude CLI found" in out and "Warning: no Claude credential" in out
    assert "1 job enabled:" in out and "nightly" in out and "next in " in out


def test_health_says_how_to_start_a_daemon() -> None:
    pid = cnp("prompt", "create", "p", "hello", "--format", "json").json["id"]
    cnp("job", "create", str(pid), "@daily")
    res = cnp("health", "--fast", "--format", "json")
    summary = res.json["checks"]["daemon"]["summary"]
    assert "no daemon is running" in summary
    assert "`cnp daemon`" in summary and "`cnp service install`" in summary


def test_a_trigger_without_a_daemon_says_what_starts_it() -> None:
    pid = cnp("prompt", "create", "p", "hello", "--format", "json").json["id"]
    job = cnp("job", "create", str(pid), "@yearly", "--format", "json").json["id"]
    res = cnp("job", "trigger", str(job))
    assert res.exit_code == 0 and "pending" in res.stdout
    assert "No daemon is running" in res.stdout and "`cnp daemon`" in res.stdout
    assert f"cnp job trigger {job} --wait" in res.stdout
    other = cnp("job", "create", str(pid), "@yearly", "--format", "json").json["id"]
    doc = cnp("job", "trigger", str(other), "--format", "json").json
    assert doc["status"] == "pending" and doc["daemon_running"] is False
    assert "cnp daemon" in doc["next_steps"][0]


LIMITED_CLAUDE = """#!{python}
import json, os, sys
sys.stdin.read()
print(json.dumps({{"type": "system", "subtype": "init", "session_id": "s", "model": "m"}}))
print(json.dumps({{"type": "rate_limit_event", "rate_limit_info": {{"status": "rejected",
                  "resetsAt": int(os.environ["FAKE_RESET"]), "rateLimitType": "five_hour"}},
                  "session_id": "s"}}))
print(json.dumps({{"type": "result", "subtype": "success", "is_error": True,
                  "api_error_status": 429, "result": "You've hit your limit",
                  "session_id": "s"}}))
sys.exit(1)
"""


def test_an_execute_that_hit_a_limit_names_its_deferred_rerun(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "claude"
    fake.write_text(LIMITED_CLAUDE.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setenv("CNP_CLAUDE_BIN", str(fake))
    monkeypatch.setenv("FAKE_RESET", str(int(time.time()) + 3600))
    res = cnp("execute", "--prompt", "hello", "--retries", "0")
    assert res.exit_code == 1
    follow = _store().runs.next_attempt_of(1)
    assert follow is not None and follow.status == "deferred"
    assert f"run {follow.id} reruns it after the usage limit resets" in res.stdout
    assert f"`cnp run cancel {follow.id}`" in res.stdout
    cnp("cooldown", "clear")
    monkeypatch.setenv("FAKE_RESET", str(int(time.time()) + 3600))
    doc = cnp("execute", "--prompt", "again", "--retries", "0", "--format", "json").json
    assert doc["status"] == "failed" and "cnp run cancel" in doc["next_steps"][0]


def test_cooldown_says_when_runs_resume_after_the_reset() -> None:
    now = datetime.now(UTC)
    store = _store()
    store.cooldowns.insert(kind="five_hour", reset_at=now - timedelta(seconds=20),
                           detected_at=now - timedelta(hours=1), source_execution_id=None,
                           message="limit")
    res = cnp("cooldown")
    resume = (now - timedelta(seconds=20) + timedelta(seconds=60)).astimezone()
    assert "No usage limit in force." in res.stdout
    assert f"runs resume at {resume:%H:%M}" in res.stdout
    doc = cnp("cooldown", "--format", "json").json
    assert doc["active"] is False and "runs resume at" in doc["hint"]
    store.cooldowns.clear(now)
    assert cnp("cooldown").stdout.strip() == "No usage limit in force."


def _store() -> Store:
    return open_store(resolve_db(None))



def test_cooldown_shows_its_times_in_the_users_zone_and_from_now(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    from night_pilot.cli.output import user_zone

    user_zone.cache_clear()
    now = datetime.now(UTC)
    reset = (now + timedelta(hours=3)).replace(microsecond=0)
    _store().cooldowns.insert(kind="five_hour", reset_at=reset,
                              detected_at=now - timedelta(hours=1), source_execution_id=None,
                              message="limit")
    try:
        shown = cnp("cooldown").stdout
    finally:
        user_zone.cache_clear()
    local = reset.astimezone(ZoneInfo("Europe/Berlin"))
    [line] = [x for x in shown.splitlines() if x.startswith("resets at")]
    # Less than three hours are left by the time it is shown: the largest whole unit is 2h.
    assert line.split(None, 2)[2] == f"{local:%Y-%m-%d %H:%M:%S %Z} (in 2h)"
