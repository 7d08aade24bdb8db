"""Notifications delivered with apprise to a local JSON webhook: failures, opt-in successes,
missed runs and usage limits; a receiver that is down never fails a run."""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli_runner import cnp
from daemon_proc import DaemonProcess, wait_until
from night_pilot.catalog import JobSpec, create_job, make_prompt
from night_pilot.notify import deliver, redact
from night_pilot.scheduler import materialize_due
from night_pilot.store import SqliteStore
from webhook import Receiver

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_a_failed_run_is_notified_with_a_summary(receiver: Receiver) -> None:
    assert cnp("notify", "add", receiver.url).exit_code == 0
    res = cnp("execute", "--prompt", "echo oops >&2; exit 3", "--executor", "shell",
              "--retries", "0", "--format", "json")
    assert res.exit_code == 1
    [note] = receiver.wait(1)
    assert "failed" in note["title"] and f"run {res.json['id']}" in note["title"]
    assert "the script exited 3" in note["message"]
    assert note["type"] == "failure"


def test_success_is_notified_only_when_asked(receiver: Receiver) -> None:
    cnp("notify", "add", receiver.url)  # default events: no success
    # `cnp execute` delivers before it exits, and the receiver records before it answers.
    assert cnp("execute", "--prompt", "true", "--executor", "shell").exit_code == 0
    assert receiver.received == []
    cnp("notify", "add", receiver.url, "--on", "success")
    assert cnp("execute", "--prompt", "true", "--executor", "shell").exit_code == 0
    [note] = receiver.wait(1)
    assert "completed" in note["title"] and note["type"] == "success"


def test_per_job_targets_hear_only_their_job(receiver: Receiver) -> None:
    pid = cnp("prompt", "create", "p", "exit 1", "--format", "json").json["id"]
    mine = cnp("job", "create", str(pid), "@yearly", "--name", "mine", "--executor", "shell",
               "--retries", "0", "--format", "json").json["id"]
    other = cnp("job", "create", str(pid), "@yearly", "--name", "other", "--executor", "shell",
                "--retries", "0", "--format", "json").json["id"]
    cnp("notify", "add", receiver.url, "--job", str(mine))
    assert cnp("job", "trigger", str(other), "--wait").exit_code == 1
    assert cnp("job", "trigger", str(mine), "--wait").exit_code == 1
    # Each trigger delivered before it returned: a wrong delivery would be here already.
    assert [n["title"].split(":")[0] for n in receiver.received] == ["[cnp] mine"]
    assert other != mine


def test_missed_runs_are_notified(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.db")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    [pid] = store.prompts.insert_many([make_prompt("p", "x", [])], t0)
    job = create_job(store, JobSpec(prompt_id=pid, cron="0 * * * *", timezone="UTC",
                                    misfire="skip"), t0, tmp_path)
    store.notifications.add_target("json://example.invalid/x", ["missed"], None, t0)
    materialize_due(store, t0 + timedelta(hours=5, minutes=30))
    sent: list[tuple[list[str], str, str, str]] = []
    assert deliver(store, t0 + timedelta(hours=6),
                   lambda u, t, b, k: sent.append((u, t, b, k))) == 1
    [(urls, title, body, kind)] = sent
    assert urls == ["json://example.invalid/x"] and kind == "warning"
    assert f"{job.name}: 5 run(s) missed" in title and "misfire policy skip" in body


def test_a_receiver_that_is_down_never_fails_the_run() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cnp("notify", "add", f"json://127.0.0.1:{port}/hook", "--on", "failure,success")
    res = cnp("execute", "--prompt", "echo fine", "--executor", "shell", "--format", "json")
    assert res.exit_code == 0 and res.json["status"] == "completed"
    db = Path(cnp("status", "--format", "json").json["database"])
    with sqlite3.connect(db) as conn:
        [(attempts, error, sent)] = conn.execute(
            "SELECT attempts, last_error, sent_at FROM notifications").fetchall()
    assert attempts == 1 and error and sent is None


def test_target_urls_are_shown_masked() -> None:
    res = cnp("notify", "add", "json://user:hunter2@example.com/secret-token", "--format",
              "json")
    assert "hunter2" not in res.stdout and "secret-token" not in res.stdout
    listed = cnp("notify", "list", "--format", "json")
    assert "hunter2" not in listed.stdout
    assert redact("mailto://a:b@c.example/x") == "mailto://***@c.example/***"
    assert cnp("notify", "add", "json://x", "--on", "sometimes").exit_code == 2


FAKE_CLAUDE = """#!{python}
import json, os, sys, time
sys.stdin.read()
state = os.environ["FAKE_CLAUDE_STATE"]
calls = int(open(state).read()) if os.path.exists(state) else 0
open(state, "w").write(str(calls + 1))
session = "s-%d" % calls
print(json.dumps({{"type": "system", "subtype": "init", "session_id": session,
                  "model": "fake"}}))
if calls == 0:
    reset = int(os.environ["FAKE_CLAUDE_RESET"])
    print(json.dumps({{"type": "rate_limit_event", "rate_limit_info": {{"status": "rejected",
                      "resetsAt": reset, "rateLimitType": "five_hour"}}, "session_id": session}}))
    print(json.dumps({{"type": "result", "subtype": "success", "is_error": True,
                      "api_error_status": 429, "result": "You've hit your 5-hour limit",
                      "session_id": session}}))
    sys.exit(1)
print(json.dumps({{"type": "result", "subtype": "success", "is_error": False, "result": "ok",
                  "session_id": session, "usage": {{"input_tokens": 1, "output_tokens": 1}},
                  "total_cost_usd": 0.01}}))
"""


@pytest.mark.slow
def test_cooldown_start_and_end_are_notified(receiver: Receiver, tmp_path: Path) -> None:
    fake = tmp_path / "claude"
    fake.write_text(FAKE_CLAUDE.format(python=sys.executable))
    fake.chmod(0o755)
    db = tmp_path / "night.db"
    cnp("notify", "add", receiver.url, "--db", str(db))
    pid = cnp("prompt", "create", "p", "hello", "--db", str(db), "--format", "json").json["id"]
    job = cnp("job", "create", str(pid), "@yearly", "--db", str(db), "--format", "json").json
    env = {"CNP_CLAUDE_BIN": str(fake), "FAKE_CLAUDE_STATE": str(tmp_path / "calls"),
           "FAKE_CLAUDE_RESET": str(int(time.time()) + 4)}
    with DaemonProcess(db, "--cooldown-margin", "0", env=env):
        cnp("job", "trigger", str(job["id"]), "--db", str(db))
        notes = receiver.wait(2, timeout=30)
        wait_until(lambda: sqlite3.connect(db).execute(
            "SELECT 1 FROM job_executions WHERE status = 'completed'").fetchall(), 30,
            "the run after the reset")
    titles = [n["title"] for n in notes]
    assert any("usage limit reached (session)" in t for t in titles), titles
    assert any("usage limit over" in t for t in titles), titles
    assert {n["type"] for n in notes if "reached" in n["title"]} == {"warning"}
    assert {n["type"] for n in notes if "over" in n["title"]} == {"info"}
    assert not any("failed" in t for t in titles)  # the limited run is continued, not a failure
    assert json.loads(json.dumps(notes))  # plain JSON bodies


def test_a_test_message_is_of_type_info(receiver: Receiver) -> None:
    assert cnp("notify", "test", receiver.url).exit_code == 0
    [note] = receiver.wait(1)
    assert note["title"] == "[cnp] test notification" and note["type"] == "info"
