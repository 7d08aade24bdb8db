"""The Claude Code integration through the real CLI and the stand-in API (docs/integration.md):
worktree isolation, resumed sessions, templates, risk refusal and audit, and the concurrency
bound of a batch, each checked on both sides: what `cnp` recorded and what the API received."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from claude_env import claude_bin
from standin_api import RecordedRequest, StandinAPI, Text, text, tool_use
from world import World

pytestmark = pytest.mark.realcli

GIT_ID = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with StandinAPI(default=text("Hello from the stand-in")) as api:
        yield World(tmp_path, api)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *GIT_ID, *args], check=True,
                          capture_output=True, text=True).stdout


def make_repo(path: Path) -> None:
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("project\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "first")


def test_a_worktree_run_writes_in_the_worktree_not_the_main_tree(world: World) -> None:
    make_repo(world.work)
    world.api.push(tool_use("Bash", {"command": "echo night > night.txt && pwd"}),
                   text("wrote it"))
    prompt_id = world.prompt("Write night.txt")
    job = world.cnp("job", "create", str(prompt_id), "@yearly", "--name", "nightly",
                    "--worktree", "--allowed-tools", "Bash", "--format", "json")
    assert job.code == 0, job.stderr
    out = world.cnp("job", "trigger", str(job.json["id"]), "--wait", "--format", "json")
    assert out.code == 0, out.stderr
    run = out.json
    tree = Path(run["worktree_path"])
    assert run["status"] == "completed" and run["permission_denials"] == []
    assert (tree / "night.txt").read_text() == "night\n"
    assert not (world.work / "night.txt").exists()
    assert git(world.work, "status", "--porcelain") == ""
    assert run["worktree_state"] == "kept"
    assert run["worktree_branch"].startswith(f"cnp/{job.json['id']}-nightly/")
    assert run["worktree_branch"] in git(world.work, "branch", "--format=%(refname:short)")
    # The tool ran in the worktree, and the CLI was told that is where it works.
    [result] = world.api.main_requests()[1].tool_results()
    assert str(tree) in json.dumps(result["content"])
    assert str(tree) in world.api.main_requests()[0].all_text()
    # A run that changes nothing leaves no worktree behind.
    again = world.cnp("job", "trigger", str(job.json["id"]), "--wait", "--format", "json").json
    assert again["status"] == "completed" and again["worktree_state"] == "removed"
    assert not Path(again["worktree_path"]).exists()
    assert again["worktree_branch"] not in git(world.work, "branch")


def _conversation(req: RecordedRequest) -> list[tuple[str, str]]:
    """(role, text) of the user's and the assistant's text blocks, in order (the CLI's system
    reminders and its environment message left out)."""
    out = []
    for message in req.messages():
        if message.get("role") not in ("user", "assistant"):
            continue
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for block in blocks or []:
            if block.get("type") == "text" and not block["text"].startswith("<system-reminder>"):
                out.append((message["role"], block["text"]))
    return out


def test_a_resumed_session_sends_the_earlier_conversation(world: World) -> None:
    world.api.push(text("Noted: 42."), text("It was 42."))
    first = world.cnp("execute", "--prompt", "Remember the number 42.", "--format", "json")
    assert first.code == 0, first.stderr
    sid = first.json["session_id"]
    second = world.cnp("execute", "--prompt", "Which number?", "--resume", sid,
                       "--format", "json")
    assert second.code == 0, second.stderr
    assert second.json["session_id"] == sid and second.json["resume_session_id"] == sid
    assert second.json["argv"][-2:] == ["--resume", sid]
    assert second.json["result"] == "It was 42."
    first_req, second_req = world.api.main_requests()
    assert _conversation(first_req) == [("user", "Remember the number 42.")]
    assert _conversation(second_req) == [("user", "Remember the number 42."),
                                         ("assistant", "Noted: 42."), ("user", "Which number?")]
    listed = world.cnp("session", "list", "--format", "json").json["sessions"]
    assert [(s["session_id"], s["runs"]) for s in listed] == [(sid, 2)]
    assert listed[0]["input_tokens"] == 24 and listed[0]["cost_usd"] > 0


def test_a_job_that_continues_its_session(world: World) -> None:
    world.api.push(text("Step one done."), text("Step two done."))
    prompt_id = world.prompt("Do the next step.")
    job = world.cnp("job", "create", str(prompt_id), "@yearly", "--continue-session",
                    "--format", "json").json
    runs = [world.cnp("job", "trigger", str(job["id"]), "--wait", "--format", "json").json
            for _ in range(2)]
    assert [r["status"] for r in runs] == ["completed", "completed"]
    assert runs[1]["session_id"] == runs[0]["session_id"] == runs[1]["resume_session_id"]
    later = world.api.main_requests()[1]
    assert _conversation(later) == [("user", "Do the next step."),
                                    ("assistant", "Step one done."),
                                    ("user", "Do the next step.")]
    shown = world.cnp("session", "show", runs[0]["session_id"], "--format", "json").json
    assert [r["run_id"] for r in shown["runs"]] == [runs[0]["id"], runs[1]["id"]]


def test_a_template_renders_into_the_prompt_the_api_receives(world: World) -> None:
    prompt_id = world.prompt(
        "Review {{project}} on {{date}} for {{job_name}} ({{previous_status}}), "
        "tone: {{tone|brief}}.")
    missing = world.cnp("job", "create", str(prompt_id), "@yearly", "--format", "json")
    assert missing.code == 2 and "{{project}}" in missing.error_message()
    job = world.cnp("job", "create", str(prompt_id), "@yearly", "--name", "nightly", "--tz",
                    "UTC", "--var", "project=night-pilot", "--format", "json").json
    runs = [world.cnp("job", "trigger", str(job["id"]), "--wait", "--format", "json").json
            for _ in range(2)]
    sent = [r.prompt_text() for r in world.api.main_requests()]
    for run, previous, prompt in zip(runs, ("none", "completed"), sent, strict=True):
        day = datetime.fromisoformat(run["started_at"]).strftime("%Y-%m-%d")
        assert prompt == (f"Review night-pilot on {day} for nightly ({previous}), "
                          "tone: brief.")
        assert run["rendered"] is True
        assert run["prompt_sha256"] == hashlib.sha256(prompt.encode()).hexdigest()
    stored = world.rows("SELECT prompt_text FROM job_executions WHERE id = ?", runs[0]["id"])
    assert stored[0]["prompt_text"] == sent[0]


def test_a_critical_risk_job_is_refused_without_the_flag(world: World) -> None:
    prompt_id = world.prompt("Free some space: sudo rm -rf /var/cache/app")
    args = ["job", "create", str(prompt_id), "@yearly", "--allowed-tools", "Bash",
            "--format", "json"]
    refused = world.cnp(*args)
    assert refused.code == 2
    error = json.loads(refused.stderr)
    assert error["error"] == "risk" and error["risk"]["level"] == "critical"
    assert "--i-understand-the-risk" in error["hint"]
    assert world.rows("SELECT * FROM jobs") == []
    refused_run = world.cnp("execute", "--prompt", "sudo rm -rf /var/cache/app",
                            "--allowed-tools", "Bash", "--format", "json")
    assert refused_run.code == 2 and world.api.requests == []

    job = world.cnp(*args, "--i-understand-the-risk")
    assert job.code == 0, job.stderr
    assert job.json["risk_level"] == "critical"
    run = world.cnp("job", "trigger", str(job.json["id"]), "--wait", "--format", "json").json
    assert run["status"] == "completed" and run["risk_level"] == "critical"
    [entry] = world.cnp("audit", "--job", str(job.json["id"]), "--action", "run",
                        "--format", "json").json["entries"]
    details = entry["details"]
    sent = world.api.main_requests()[0].prompt_text()
    assert details["prompt_sha256"] == hashlib.sha256(sent.encode()).hexdigest()
    assert details["argv"][0] == claude_bin() and "--allowedTools" in details["argv"]
    assert details["risk_level"] == "critical" and details["risk_accepted"] is True
    assert {t["trigger"] for t in details["risk_triggers"]} >= {
        "--allowed-tools Bash", "sudo", "rm -rf /var/cache/app"}


class InFlight:
    """Answers every main request after `hold` seconds and counts requests in flight."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.lock = threading.Lock()
        self.now = self.peak = self.total = 0

    def __call__(self, req: RecordedRequest) -> Text:
        with self.lock:
            self.now += 1
            self.total += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.hold)
        with self.lock:
            self.now -= 1
        return Text(f"answer to {req.prompt_text()}")


def claude_processes(exe: str, cwd: Path) -> int:
    """`claude` processes working in `cwd` that cnp started. The CLI forks itself for a moment
    before it execs a helper; such a fork runs the same executable but its parent is a `claude`
    process, so it is not counted."""
    def exe_of(pid: str) -> str:
        try:
            return os.readlink(f"/proc/{pid}/exe")
        except OSError:
            return ""

    count = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or exe_of(pid) != exe:
            continue
        try:
            if os.readlink(f"/proc/{pid}/cwd") != str(cwd):
                continue
            with open(f"/proc/{pid}/stat") as stat:
                parent = stat.read().rsplit(")", 1)[1].split()[1]
        except OSError:
            continue
        if exe_of(parent) != exe:
            count += 1
    return count


def test_a_batch_of_five_never_has_more_than_two_claude_processes(world: World) -> None:
    gauge = InFlight(hold=1.5)
    world.api.default = gauge
    prompts = world.root / "prompts.txt"
    prompts.write_text("".join(f"Prompt number {i}\n" for i in range(5)))
    exe = os.path.realpath(claude_bin())
    seen: list[int] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            seen.append(claude_processes(exe, world.work))
            time.sleep(0.02)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    try:
        out = world.cnp("batch", "--file", str(prompts), "--concurrent", "2",
                        "--format", "json", timeout=300)
    finally:
        done.set()
        watcher.join()
    assert out.code == 0, out.stderr
    data = out.json
    assert data["totals"]["completed"] == 5
    assert sorted(i["run"]["result"] for i in data["items"]) == [
        f"answer to Prompt number {i}" for i in range(5)]
    assert gauge.total == 5
    assert gauge.peak == 2  # the API saw two at once, never three
    assert max(seen) == 2  # and so did /proc
    assert claude_processes(exe, world.work) == 0
    assert len({i["run"]["session_id"] for i in data["items"]}) == 5
