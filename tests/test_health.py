"""`cnp health`, `cnp status` and the logging options: each problem is named and makes the
check fail; a healthy set-up exits 0."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli_runner import cnp
from legacy_fixture import build_realistic
from night_pilot.config import LEGACY_DB_FILENAME


@pytest.fixture
def fake_claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An executable that answers --version like the real CLI, and a credential in the env."""
    exe = tmp_path / "bin" / "claude"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\necho '2.1.328 (Claude Code)'\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CNP_CLAUDE_BIN", str(exe))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-value")
    monkeypatch.chdir(tmp_path)
    return exe


def health(*args: str) -> tuple[int, dict[str, object]]:
    res = cnp("health", "--format", "json", *args)
    return res.exit_code, json.loads(res.stdout)


def test_a_healthy_setup(fake_claude: Path) -> None:
    cnp("init")
    code, report = health()
    assert code == 0, report["problems"]
    checks = report["checks"]
    assert isinstance(checks, dict)
    assert checks["claude_cli"]["details"]["version"] == "2.1.328"
    assert checks["claude_cli"]["details"]["credential_source"] == "ANTHROPIC_API_KEY"
    assert checks["database"]["details"]["quick_check"] == "ok"
    assert "sk-ant-test-secret-value" not in json.dumps(report)


def test_fast_mode_uses_the_cached_cli_facts(fake_claude: Path) -> None:
    cnp("init")
    _, cold = health("--fast")
    assert cold["checks"]["claude_cli"]["details"]["version"] is None  # type: ignore[index]
    health()  # a full check runs `claude --version` once and caches the answer
    _, report = health("--fast")
    assert report["checks"]["claude_cli"]["details"]["version"] == "2.1.328"  # type: ignore[index]
    assert "quick_check" not in report["checks"]["database"]["details"]  # type: ignore[index]
    # The cache is keyed by the executable: a replaced binary is not vouched for.
    fake_claude.write_text("#!/bin/sh\necho '9.9.9 (Claude Code)'\n")
    _, report = health("--fast")
    assert report["checks"]["claude_cli"]["details"]["version"] is None  # type: ignore[index]


def test_a_missing_cli_is_unhealthy(fake_claude: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cnp("init")
    monkeypatch.setenv("CNP_CLAUDE_BIN", "/nowhere/claude")
    monkeypatch.setenv("PATH", "/nonexistent")
    code, report = health()
    assert code == 1
    [problem] = report["problems"]  # type: ignore[misc]
    assert problem.startswith("claude_cli: the claude CLI was not found")
    assert "CNP_CLAUDE_BIN=/nowhere/claude" in problem


def test_no_credentials_is_unhealthy(fake_claude: Path, monkeypatch: pytest.MonkeyPatch,
                                     tmp_path: Path) -> None:
    cnp("init")
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
    code, report = health()
    assert code == 1 and "no credentials" in str(report["problems"])


def test_a_stale_daemon_heartbeat_is_unhealthy(fake_claude: Path, cnp_home: Path) -> None:
    cnp("init")
    old = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with sqlite3.connect(cnp_home / "claude-night-pilot.db") as db:
        db.execute("INSERT INTO daemons VALUES ('h:1:x', 'h', 1, '0.1.0', 'active', ?, ?, NULL)",
                   (old, old))
    code, report = health()
    assert code == 1
    assert "heartbeat is stale" in str(report["problems"])


def test_no_daemon_with_enabled_jobs_is_unhealthy(fake_claude: Path) -> None:
    cnp("prompt", "create", "p", "x")
    cnp("job", "create", "1", "@daily")
    code, report = health()
    assert code == 1 and "enabled jobs will not fire" in str(report["problems"])


def test_an_unwritable_database_is_unhealthy(fake_claude: Path, cnp_home: Path) -> None:
    cnp("init")
    with _immutable(cnp_home):
        code, report = health("--fast")
    assert code == 1
    assert "is not writable" in str(report["problems"])


class _immutable:
    def __init__(self, home: Path) -> None:
        self.db = home / "claude-night-pilot.db"

    def __enter__(self) -> None:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i", str(self.db)], check=True)
        else:
            self.db.chmod(0o400)

    def __exit__(self, *exc: object) -> None:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(self.db)], check=True)
        self.db.chmod(0o600)


def test_a_leftover_legacy_database_is_reported(fake_claude: Path, tmp_path: Path) -> None:
    cnp("init")
    build_realistic(tmp_path / LEGACY_DB_FILENAME)
    code, report = health()
    check = report["checks"]["legacy_database"]  # type: ignore[index]
    assert check["ok"] is False and "cnp migrate legacy" in check["summary"]
    assert code == 0  # a warning: the new database works regardless


def test_a_missing_database_is_unhealthy_and_not_created(fake_claude: Path,
                                                         cnp_home: Path) -> None:
    code, report = health()
    assert code == 1 and "does not exist" in str(report["problems"])
    assert not (cnp_home / "claude-night-pilot.db").exists()


def test_status_summarizes_the_night() -> None:
    cnp("prompt", "create", "p", "exit 4")
    cnp("job", "create", "1", "@daily", "--executor", "shell", "--retries", "0")
    cnp("job", "trigger", "1", "--wait")
    data = cnp("status", "--format", "json").json
    assert data["counts"]["jobs"] == 1 and data["daemon"] is None
    [failure] = data["last_failures"]
    assert failure["reason"] == "the script exited 4"
    assert data["today"]["runs"] == 1
    text = cnp("status").stdout
    assert "not running" in text and "the script exited 4" in text


def test_json_logs_on_any_command_carry_the_ids() -> None:
    cnp("prompt", "create", "p", "true")
    cnp("job", "create", "1", "@daily", "--executor", "shell")
    res = cnp("job", "trigger", "1", "--wait", "--log-format", "json", "--log-level", "info")
    events = [json.loads(line) for line in res.stderr.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    for point in ("trigger", "claim", "spawn", "result", "persist"):
        assert point in names, names
    spawn = next(e for e in events if e["event"] == "spawn")
    assert (spawn["job_id"], spawn["attempt"]) == (1, 1) and spawn["run_id"]
