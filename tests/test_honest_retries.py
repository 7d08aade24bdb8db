"""Honest retries: a failure another attempt would repeat (arguments the CLI refuses, an
unknown model, a missing work dir or CLI) is not retried and says why; a foreground run tells
each failed attempt and the wait on stderr; the CLI's own API retries show on the run."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from cli_runner import cnp
from night_pilot.claude_stream import StreamSummary, api_retry_text
from night_pilot.runs.finish import FollowUpPolicy

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database

ROOT_REFUSAL = ("--dangerously-skip-permissions cannot be used with root/sudo privileges for "
                "security reasons")
# What the pinned CLI prints for a model the API answers 404 not_found_error to (trimmed).
UNKNOWN_MODEL = [
    {"type": "system", "subtype": "init", "session_id": "s-1", "model": "claude-nope"},
    {"type": "assistant", "session_id": "s-1", "error": "model_not_found",
     "api_error_status": 404, "message": {"model": "<synthetic>", "content": [
         {"type": "text", "text": "There's an issue with the selected model (claude-nope)."}]}},
    {"type": "result", "subtype": "success", "is_error": True, "session_id": "s-1",
     "api_error_status": 404, "api_error_type": "not_found_error", "num_turns": 1,
     "result": "There's an issue with the selected model (claude-nope). It may not exist or "
               "you may not have access to it. Run --model to pick a different model."},
]


def fake_claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    script = tmp_path / "claude"
    script.write_text("#!/bin/sh\ncat > /dev/null\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CNP_CLAUDE_BIN", str(script))
    return script


def printing(lines: list[dict[str, object]], code: int) -> str:
    text = "".join(json.dumps(line) + "\n" for line in lines)
    return f"cat <<'JSON'\n{text}JSON\nexit {code}\n"


def runs() -> list[dict[str, object]]:
    return list(cnp("runs", "--format", "json").json["runs"])


def test_the_summary_tells_a_permanent_failure_from_a_transient_one() -> None:
    refused = StreamSummary()
    assert refused.permanent(1, ROOT_REFUSAL) == "the CLI refused to start with these arguments"
    assert StreamSummary().permanent(1, "") is None  # a silent crash: worth another try
    assert StreamSummary().permanent(-9, "killed") is None  # a signal, not a refusal
    started = StreamSummary()
    started.feed(json.dumps(UNKNOWN_MODEL[0]))
    assert started.permanent(1, "boom") is None  # it got as far as a session: a crash
    for line in UNKNOWN_MODEL[1:]:
        started.feed(json.dumps(line))
    assert started.permanent(1, None) == (
        "the model or resource does not exist (HTTP 404 not_found_error)")
    overloaded = StreamSummary()
    overloaded.feed(json.dumps({"type": "result", "is_error": True, "api_error_status": 529}))
    assert overloaded.permanent(1, None) is None and overloaded.transient


def test_arguments_the_cli_refuses_are_not_retried(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fake_claude(tmp_path, monkeypatch, f"echo '{ROOT_REFUSAL}' >&2\nexit 1\n")
    out = cnp("execute", "--prompt", "hi", "--retries", "2", "--format", "json")
    assert out.exit_code == 1
    assert out.json["status"] == "failed"
    reason = out.json["reason"]
    assert ROOT_REFUSAL in reason
    assert "not retried: the CLI refused to start with these arguments" in reason
    assert len(runs()) == 1
    assert "attempt" not in out.stderr  # nothing waited for


def test_an_unknown_model_is_not_retried(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    fake_claude(tmp_path, monkeypatch, printing(UNKNOWN_MODEL, 1))
    out = cnp("execute", "--prompt", "hi", "--model", "claude-nope", "--format", "json")
    assert out.exit_code == 1
    reason = out.json["reason"]
    assert reason.startswith("API error 404: There's an issue with the selected model")
    assert "not retried: the model or resource does not exist" in reason
    assert len(runs()) == 1


def test_a_missing_work_dir_is_not_retried_and_says_why(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    prompt = cnp("prompt", "create", "p", "hi", "--format", "json").json["id"]
    job = cnp("job", "create", str(prompt), "@yearly", "--work-dir", str(gone),
              "--format", "json").json["id"]
    gone.rmdir()  # the directory disappears after the job was created
    out = cnp("job", "trigger", str(job), "--wait", "--format", "json")
    assert out.exit_code == 1
    reason = out.json["reason"]
    assert f"working directory {gone} does not exist" in reason
    assert "not retried: the working directory is missing" in reason
    assert len(runs()) == 1


def test_a_foreground_run_tells_each_failed_attempt_and_the_wait(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FollowUpPolicy, "backoff", lambda self, attempt: 0.01)
    counter = tmp_path / "count"
    # Crashes twice without a word (a transient failure), then succeeds.
    fake_claude(tmp_path, monkeypatch, f"""echo x >> {counter}
if [ $(wc -l < {counter}) -lt 3 ]; then exit 1; fi
{printing([{"type": "system", "subtype": "init", "session_id": "s"},
           {"type": "result", "subtype": "success", "is_error": False, "session_id": "s",
            "result": "fine"}], 0)}""")
    out = cnp("execute", "--prompt", "hi", "--retries", "2")
    assert out.exit_code == 0, out.stderr
    assert re.search(r"^status +completed$", out.stdout, re.M)
    assert "failed" not in out.stdout  # the attempts are told on stderr only
    lines = out.stderr.splitlines()
    failed = [line for line in lines if " failed: " in line]
    waits = [line for line in lines if " starts in " in line]
    assert len(failed) == 2 and len(waits) == 2
    assert failed[0].startswith("attempt 1 (run ") and "exited 1" in failed[0]
    assert waits[0].startswith("attempt 2 (run ") and waits[0].endswith("starts in 0s")
    assert failed[1].startswith("attempt 2 ")
    # Under --format json stdout is the one result document, and stderr stays quiet.
    counter.unlink()
    out = cnp("execute", "--prompt", "hi", "--retries", "2", "--format", "json")
    assert out.json["status"] == "completed" and out.json["attempt"] == 3
    assert out.stderr == ""


def test_the_clis_own_retry_is_said_in_words() -> None:
    event = {"type": "system", "subtype": "api_retry", "attempt": 2, "max_retries": 10,
             "retry_delay_ms": 600, "error_status": 429, "error": "rate_limit"}
    assert api_retry_text(event) == "CLI retrying after 429, attempt 2/10"


RETRIED = [
    {"type": "system", "subtype": "init", "session_id": "s"},
    {"type": "system", "subtype": "api_retry", "attempt": 1, "max_retries": 10,
     "retry_delay_ms": 500, "error_status": 429, "error": "rate_limit", "session_id": "s"},
    {"type": "system", "subtype": "api_retry", "attempt": 2, "max_retries": 10,
     "retry_delay_ms": 900, "error_status": 429, "error": "rate_limit", "session_id": "s"},
    {"type": "result", "subtype": "success", "is_error": False, "session_id": "s",
     "result": "done"},
]


def test_the_clis_own_retries_show_in_listings_status_and_the_dashboard(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from fastapi.testclient import TestClient

    from night_pilot.config import resolve_db
    from night_pilot.models import RunStatus
    from night_pilot.store import open_store
    from night_pilot.web.app import create_app

    fake_claude(tmp_path, monkeypatch, printing(RETRIED, 0))
    done = cnp("execute", "--prompt", "hi", "--format", "json").json
    assert (done["api_retries"], done["api_retry"]) == (
        2, "CLI retried 2× (last: after 429, attempt 2/10)")
    assert "API retries" in cnp("execute", "--prompt", "hi").stdout
    listed = cnp("runs", "--wide").stdout
    assert "CLI retried 2× (last: after 429, attempt 2/10)" in listed
    shown = cnp("run", "show", str(done["id"]), "--format", "json").json
    assert shown["api_retries"] == 2
    # While a run is going, its latest retry is what it is doing.
    store = open_store(resolve_db(None))
    store.runs.set_status(done["id"], RunStatus.RUNNING, None, datetime.now(UTC),
                          from_statuses=(RunStatus.COMPLETED,))
    status = cnp("status", "--format", "json").json
    [running] = status["running"]
    assert running["api_retry"] == "CLI retrying after 429, attempt 2/10"
    assert "CLI retrying after 429, attempt 2/10" in cnp("status").stdout
    assert "CLI retrying after 429, attempt 2/10" in cnp("runs", "--wide").stdout
    app = create_app(resolve_db(None), token_path=tmp_path / "token", zone="UTC", cwd=tmp_path)
    token = (tmp_path / "token").read_text().strip()
    with TestClient(app, base_url="http://127.0.0.1:8765", client=("127.0.0.1", 50000),
                    headers={"Authorization": f"Bearer {token}"}) as web:
        page = web.get("/runs", headers={"accept": "text/html"}).text
        assert "CLI retrying after 429, attempt 2/10" in page
        overview = web.get("/", headers={"accept": "text/html"}).text
        assert "CLI retrying after 429, attempt 2/10" in overview
        one = web.get(f"/api/runs/{done['id']}").json()
        assert one["api_retries"] == 2
