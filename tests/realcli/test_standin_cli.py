"""The real `claude` CLI (pinned 2.1.328) against the stand-in API, checked against the reference
streams in tests/data/claude-cli-2.1.328. Guards the test infrastructure itself: if these fail,
the stand-in or the child environment does not match what the CLI expects.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from claude_env import CLAUDE_CLI_VERSION, claude_bin, claude_env
from standin_api import (
    StandinAPI,
    not_usage_limit_429,
    overloaded,
    stall,
    text,
    tool_use,
    usage_limit,
)

pytestmark = pytest.mark.realcli

RUN_TIMEOUT_S = 30  # a case takes ~1 s; the margin is for a loaded CI machine
NIGHT_COMMAND = {"command": "echo night > night.txt", "description": "write a file"}


@dataclass
class CliRun:
    returncode: int
    lines: list[dict[str, Any]]
    stderr: str
    cwd: Path
    home: Path

    def of(self, type_: str, subtype: str | None = None) -> list[dict[str, Any]]:
        return [
            line
            for line in self.lines
            if line.get("type") == type_ and (subtype is None or line.get("subtype") == subtype)
        ]

    @property
    def init(self) -> dict[str, Any]:
        assert self.lines and self.lines[0].get("subtype") == "init", self.lines[:1]
        return self.lines[0]

    @property
    def result(self) -> dict[str, Any]:
        # One result per prompt; only a prompt_suggestion line may follow it.
        [result] = self.of("result")
        assert self.lines.index(result) >= len(self.lines) - 2, self.lines[-2:]
        return result

    def assistant_texts(self) -> list[str]:
        return [
            block["text"]
            for line in self.of("assistant")
            for block in line["message"]["content"]
            if block.get("type") == "text"
        ]


def _dirs(tmp_path: Path) -> tuple[Path, Path]:
    home, cwd = tmp_path / "home", tmp_path / "work"
    home.mkdir(exist_ok=True)
    cwd.mkdir(exist_ok=True)
    return home, cwd


def run_claude(
    api: StandinAPI,
    tmp_path: Path,
    prompt: str,
    *args: str,
    oauth: bool = False,
    max_retries: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> CliRun:
    home, cwd = _dirs(tmp_path)
    env = claude_env(home, api.url, oauth=oauth, max_retries=max_retries, extra=extra_env)
    proc = subprocess.run(
        [claude_bin(), "-p", "--output-format", "stream-json", "--verbose", *args],
        input=prompt.encode(),
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    lines = [json.loads(raw) for raw in proc.stdout.decode().splitlines() if raw.strip()]
    return CliRun(proc.returncode, lines, proc.stderr.decode(), cwd, home)


def test_text_answer(tmp_path: Path) -> None:
    with StandinAPI(text("Hello from mock")) as api:
        run = run_claude(api, tmp_path, "say hello")

    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert [line["type"] for line in run.lines] == ["system", "assistant", "result"]
    init = run.init
    assert init["claude_code_version"] == CLAUDE_CLI_VERSION
    assert init["apiKeySource"] == "ANTHROPIC_API_KEY"
    assert init["cwd"] == str(run.cwd)
    session = init["session_id"]

    [assistant] = run.of("assistant")
    assert assistant["message"]["content"] == [{"type": "text", "text": "Hello from mock"}]
    # Ids come from the stand-in's response: its message id and its request-id header.
    assert assistant["message"]["id"] == api.message_ids[0]
    assert assistant["request_id"] == api.request_ids[0]

    result = run.result
    assert result["subtype"] == "success"
    assert result["is_error"] is False
    assert result["api_error_status"] is None
    assert result["result"] == "Hello from mock"
    assert result["session_id"] == session
    assert result["num_turns"] == 1
    assert result["total_cost_usd"] > 0
    usage = result["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (12, 7)
    assert (usage["cache_creation_input_tokens"], usage["cache_read_input_tokens"]) == (100, 200)

    [request] = api.main_requests()
    assert api.requests == [request]  # nothing but the conversation, no other endpoint
    assert api.unknown_paths == []
    assert request.body["stream"] is True
    assert request.headers["x-api-key"] == "standin-api-key"
    assert request.prompt_text() == "say hello"


def test_tool_denied_without_grant(tmp_path: Path) -> None:
    with StandinAPI(tool_use("Bash", NIGHT_COMMAND), text("Wrote night.txt")) as api:
        run = run_claude(api, tmp_path, "write the file")

    assert run.returncode == 0, run.stderr
    assert not (run.cwd / "night.txt").exists()
    [tool_call] = run.of("assistant")[0]["message"]["content"]
    [denial] = run.result["permission_denials"]
    assert denial == {
        "tool_name": "Bash",
        "tool_use_id": tool_call["id"],
        "tool_input": NIGHT_COMMAND,
    }
    assert [d["tool_name"] for d in run.of("system", "permission_denied")] == ["Bash"]
    assert run.result["is_error"] is False
    assert run.result["num_turns"] == 2
    # The refusal went back to the model as an error tool_result, answered by the next answer.
    first, second = api.main_requests()
    assert first.tool_results() == []
    [tool_result] = second.tool_results()
    assert tool_result["tool_use_id"] == tool_call["id"]
    assert tool_result["is_error"] is True
    assert run.result["result"] == "Wrote night.txt"


def test_tool_allowed_runs_in_cwd(tmp_path: Path) -> None:
    with StandinAPI(tool_use("Bash", NIGHT_COMMAND), text("Wrote night.txt")) as api:
        run = run_claude(api, tmp_path, "write the file", "--allowedTools", "Bash")

    assert run.returncode == 0, run.stderr
    assert (run.cwd / "night.txt").read_text() == "night\n"
    assert run.result["permission_denials"] == []
    assert run.result["is_error"] is False
    assert run.result["result"] == "Wrote night.txt"
    [tool_result] = api.main_requests()[1].tool_results()
    assert tool_result["is_error"] is False
    # Two responses, two distinct id pairs, each copied into its assistant line.
    assistants = run.of("assistant")
    assert [a["message"]["id"] for a in assistants] == api.message_ids
    assert [a["request_id"] for a in assistants] == api.request_ids
    assert len(set(api.message_ids)) == len(set(api.request_ids)) == 2


def test_usage_limit_with_oauth_token(tmp_path: Path) -> None:
    reset = int(time.time()) + 3600
    with StandinAPI(usage_limit(reset, claim="five_hour")) as api:
        run = run_claude(api, tmp_path, "hello", oauth=True)

    assert run.returncode == 1
    assert run.init["apiKeySource"] == "none"  # subscription login, not an API key
    [event] = run.of("rate_limit_event")
    info = event["rate_limit_info"]
    assert info["status"] == "rejected"
    assert info["resetsAt"] == reset
    assert info["rateLimitType"] == "five_hour"
    [message] = run.assistant_texts()
    assert message.startswith("You've hit your 5-hour limit · resets ")
    result = run.result
    assert result["is_error"] is True
    assert result["api_error_status"] == 429
    assert result["result"] == message
    assert len(api.main_requests()) == 1  # a usage limit is not retried
    assert api.main_requests()[0].headers["authorization"] == "Bearer standin-oauth-token"


def test_server_side_429_is_not_a_usage_limit(tmp_path: Path) -> None:
    with StandinAPI(not_usage_limit_429()) as api:
        run = run_claude(api, tmp_path, "hello", oauth=True)

    assert run.returncode == 1
    assert "not your usage limit" in run.result["result"]
    assert run.result["is_error"] is True
    assert run.result["api_error_status"] == 429
    assert all("rateLimitType" not in e["rate_limit_info"] for e in run.of("rate_limit_event"))
    assert len(api.main_requests()) == 1


def test_overloaded_529_after_cli_retries(tmp_path: Path) -> None:
    with StandinAPI(default=overloaded()) as api:
        run = run_claude(api, tmp_path, "hello", max_retries=1)

    assert run.returncode == 1
    [retry] = run.of("system", "api_retry")
    assert (retry["attempt"], retry["max_retries"], retry["error_status"]) == (1, 1, 529)
    assert retry["retry_delay_ms"] > 0
    result = run.result
    assert result["is_error"] is True
    assert result["api_error_status"] == 529
    assert result["result"].startswith("API Error: 529 Overloaded.")
    assert len(api.main_requests()) == 2  # the first try and the one retry


def test_one_megabyte_prompt_arrives_intact(tmp_path: Path) -> None:
    line = "night pilot ünïcödé ✓ 0123456789 " * 3 + "\n"
    prompt = (line * (2**20 // len(line) + 1))[: 2**20]
    with StandinAPI(text("big ok")) as api:
        run = run_claude(api, tmp_path, prompt)

    assert run.returncode == 0, run.stderr
    assert run.result["result"] == "big ok"
    [request] = api.main_requests()
    assert request.prompt_text() == prompt


def test_prompt_starting_with_dash_arrives_intact(tmp_path: Path) -> None:
    prompt = "--help -p: a prompt that looks like options"
    with StandinAPI(text("dash ok")) as api:
        run = run_claude(api, tmp_path, prompt)

    assert run.returncode == 0, run.stderr
    assert run.result["result"] == "dash ok"
    assert api.main_requests()[0].prompt_text() == prompt


def test_transcript_written_under_home(tmp_path: Path) -> None:
    with StandinAPI(text("Hello from mock")) as api:
        run = run_claude(api, tmp_path, "say hello")

    assert run.returncode == 0, run.stderr
    session = run.result["session_id"]
    # Every character of cwd outside [A-Za-z0-9] becomes "-" (not only "/"): pytest's tmp_path
    # holds underscores, so this checks the rule the usage importer relies on.
    project = re.sub(r"[^A-Za-z0-9]", "-", str(run.cwd))
    transcript = run.home / ".claude" / "projects" / project / f"{session}.jsonl"
    assert transcript.is_file(), sorted(p.name for p in (run.home / ".claude").rglob("*"))
    rows = [json.loads(raw) for raw in transcript.read_text().splitlines()]
    [answer] = [r for r in rows if r.get("type") == "assistant"]
    assert answer["requestId"] == api.request_ids[0]
    assert answer["message"]["id"] == api.message_ids[0]
    assert answer["message"]["usage"]["output_tokens"] == 7
    assert answer["sessionId"] == session
    assert answer["cwd"] == str(run.cwd)


def test_resume_resends_earlier_conversation(tmp_path: Path) -> None:
    with StandinAPI(text("first answer")) as api:
        first = run_claude(api, tmp_path, "first prompt")
    session = first.result["session_id"]
    with StandinAPI(text("second answer")) as api:
        second = run_claude(api, tmp_path, "second prompt", "--resume", session)

    assert second.returncode == 0, second.stderr
    assert second.result["session_id"] == session
    [request] = api.main_requests()
    assert request.prompt_texts() == ["first prompt", "second prompt"]
    assert "first answer" in request.texts("assistant")


def test_side_request_does_not_consume_main_answers(tmp_path: Path) -> None:
    # Prompt suggestions are the side call 2.1.328 makes in -p mode; they need nonessential
    # traffic, which also makes the CLI try api.anthropic.com directly (caught by the proxy net).
    with StandinAPI(
        tool_use("Bash", {"command": "ls"}),
        text("done"),
        default=text("main default"),
        side_default=text("side suggestion"),
    ) as api:
        run = run_claude(
            api,
            tmp_path,
            "list the files",
            "--allowedTools",
            "Bash",
            "--prompt-suggestions",
            "true",
            extra_env={"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": ""},
        )

    assert run.returncode == 0, run.stderr
    assert run.result["result"] == "done"
    assert [s["suggestion"] for s in run.of("prompt_suggestion")] == ["side suggestion"]
    assert [r.kind for r in api.messages_requests()] == ["main", "main", "side"]
    [side] = api.side_requests()
    assert side.messages()[-1]["content"].startswith("[SUGGESTION MODE")
    leaks = [p for p in api.unknown_paths if p.startswith("CONNECT ")]
    assert leaks and all(p == "CONNECT api.anthropic.com:443" for p in leaks), api.unknown_paths


def test_stalled_stream_and_prompt_server_close(tmp_path: Path) -> None:
    home, cwd = _dirs(tmp_path)
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text("hello")
    with StandinAPI(default=stall(after_message_start=True)) as api, prompt_file.open() as stdin:
        proc = subprocess.Popen(
            [claude_bin(), "-p", "--output-format", "stream-json", "--verbose"],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=claude_env(home, api.url, max_retries=0),
            cwd=cwd,
        )
        try:
            assert api.wait_for_main_requests(1, timeout=RUN_TIMEOUT_S)
            time.sleep(0.5)
            assert proc.poll() is None  # the CLI is waiting on the silent stream
            started = time.monotonic()
            api.close()
            assert time.monotonic() - started < 2  # closing must not wait for the stalled handler
            out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    lines = [json.loads(raw) for raw in out.decode().splitlines() if raw.strip()]
    assert proc.returncode == 1
    assert lines[-1]["type"] == "result"
    assert lines[-1]["is_error"] is True
