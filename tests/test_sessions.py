"""Sessions without the real CLI: a stand-in `claude` script that reports a session (the one it
was asked to --resume, else a new one), so recording, --continue-session, `execute --resume` and
`cnp session list|show` can be checked in the fast tier. tests/realcli/test_integration.py
shows the same against the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_runner import cnp

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database

FAKE_CLAUDE = r"""#!/bin/sh
# Report the session given with --resume, else a new one; record the argv and the prompt.
session="s-$(cat /proc/sys/kernel/random/uuid)"
while [ $# -gt 0 ]; do
  if [ "$1" = "--resume" ]; then session="$2"; fi
  shift
done
prompt=$(cat)
printf '%s\n' "$session $prompt" >> "$FAKE_CLAUDE_LOG"
printf '{"type":"system","subtype":"init","session_id":"%s","model":"m"}\n' "$session"
printf '{"type":"result","subtype":"success","is_error":false,"session_id":"%s",' "$session"
printf '"num_turns":1,"result":"ok","total_cost_usd":0.25,"usage":{"input_tokens":10,'
printf '"output_tokens":5,"cache_creation_input_tokens":1,"cache_read_input_tokens":2}}\n'
"""


@pytest.fixture
def fake_claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "claude"
    script.write_text(FAKE_CLAUDE)
    script.chmod(0o755)
    log = tmp_path / "claude.log"
    monkeypatch.setenv("CNP_CLAUDE_BIN", str(script))
    monkeypatch.setenv("FAKE_CLAUDE_LOG", str(log))
    return log


def _prompt(content: str) -> int:
    res = cnp("prompt", "create", "t", "--stdin", "--format", "json", input=content)
    assert res.exit_code == 0, res.stderr
    return int(res.json["id"])


def test_execute_records_the_session_and_resume_continues_it(fake_claude: Path,
                                                             tmp_path: Path) -> None:
    first = cnp("execute", "--prompt", "remember 42", "--work-dir", str(tmp_path),
                "--format", "json").json
    sid = first["session_id"]
    assert sid.startswith("s-") and first["resume_session_id"] is None
    again = cnp("execute", "--prompt", "which number?", "--resume", sid, "--work-dir",
                str(tmp_path), "--format", "json").json
    assert again["status"] == "completed"
    assert again["session_id"] == sid and again["resume_session_id"] == sid
    assert again["argv"][-2:] == ["--resume", sid]
    assert fake_claude.read_text().splitlines() == [f"{sid} remember 42",
                                                     f"{sid} which number?"]


def test_resume_is_checked(tmp_path: Path) -> None:
    for bad in ("", "-x", "a b"):
        res = cnp("execute", "--prompt", "hi", "--resume", bad, "--format", "json")
        assert res.exit_code == 2 and "--resume" in res.error["message"]
    res = cnp("execute", "--prompt", "echo hi", "--executor", "shell", "--resume", "abc",
              "--format", "json")
    assert res.exit_code == 2 and "claude executor" in res.error["message"]


def test_continue_session_resumes_the_jobs_previous_session(fake_claude: Path,
                                                            tmp_path: Path) -> None:
    pid = _prompt("next step")
    job = cnp("job", "create", str(pid), "@yearly", "--continue-session", "--work-dir",
              str(tmp_path), "--format", "json").json
    assert job["continue_session"] is True
    runs = [cnp("job", "trigger", str(job["id"]), "--wait", "--format", "json").json
            for _ in range(3)]
    sid = runs[0]["session_id"]
    assert runs[0]["resume_session_id"] is None and "--resume" not in runs[0]["argv"]
    for later in runs[1:]:
        assert later["session_id"] == sid and later["resume_session_id"] == sid
        assert later["argv"][-2:] == ["--resume", sid]
    # Without the flag every run starts a session of its own.
    other = cnp("job", "create", str(pid), "@yearly", "--work-dir", str(tmp_path),
                "--format", "json").json
    sessions = {cnp("job", "trigger", str(other["id"]), "--wait", "--format",
                    "json").json["session_id"] for _ in range(2)}
    assert len(sessions) == 2


def test_continue_session_needs_claude(tmp_path: Path) -> None:
    pid = _prompt("echo hi")
    res = cnp("job", "create", str(pid), "@daily", "--continue-session", "--executor", "shell",
              "--work-dir", str(tmp_path), "--format", "json")
    assert res.exit_code == 2 and "claude executor" in res.error["message"]


def test_session_list_and_show(fake_claude: Path, tmp_path: Path) -> None:
    pid = _prompt("go on")
    job = cnp("job", "create", str(pid), "@yearly", "--continue-session", "--name", "saga",
              "--work-dir", str(tmp_path), "--format", "json").json
    for _ in range(2):
        cnp("job", "trigger", str(job["id"]), "--wait")
    lone = cnp("execute", "--prompt", "alone", "--work-dir", str(tmp_path),
               "--format", "json").json
    listed = cnp("session", "list", "--format", "json").json["sessions"]
    assert listed[0]["session_id"] == lone["session_id"]
    saga = next(s for s in listed if s["session_id"] != lone["session_id"])
    assert saga["runs"] == 2 and saga["job_ids"] == [job["id"]]
    assert (saga["input_tokens"], saga["output_tokens"]) == (20, 10)
    assert saga["cost_usd"] == pytest.approx(0.5)
    assert saga["last_status"] == "completed"
    only_job = cnp("session", "list", "--job", str(job["id"]), "--format", "json").json
    assert [s["session_id"] for s in only_job["sessions"]] == [saga["session_id"]]

    shown = cnp("session", "show", saga["session_id"][:8], "--format", "json").json
    assert shown["session_id"] == saga["session_id"]
    assert [r["resumed"] for r in shown["runs"]] == [False, True]
    assert shown["totals"]["input_tokens"] == 20 and shown["totals"]["cost_usd"] == 0.5
    pretty = cnp("session", "show", saga["session_id"])
    assert "tokens   20 in / 10 out / cache 2+4" in pretty.stdout
    assert "saga" in pretty.stdout and "resumed" in pretty.stdout
    assert "$0.5000" in cnp("session", "list").stdout


def test_session_show_names_unknown_and_ambiguous_ids(fake_claude: Path,
                                                      tmp_path: Path) -> None:
    for _ in range(2):
        cnp("execute", "--prompt", "x", "--work-dir", str(tmp_path))
    missing = cnp("session", "show", "zzz", "--format", "json")
    assert missing.exit_code == 1 and missing.error["error"] == "not_found"
    ambiguous = cnp("session", "show", "s-", "--format", "json")
    assert ambiguous.exit_code == 2 and "ambiguous" in ambiguous.error["message"]
