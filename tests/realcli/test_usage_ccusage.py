"""The usage ledger beside ccusage 18.0.11 (npm `ccusage@18.0.11`, its last pure-JavaScript
release, run as `ccusage daily --json --offline`):

- on the transcripts the real Claude CLI writes during a test (answers, tool use with two
  content blocks, a subagent, a resumed session and a forked one that copies its history), both
  report identical token totals, day by day;
- on a generated corpus, ccusage counts what the generator predicts from its (message id,
  request id) rule, and we count the truth: docs/usage-ledger.md explains the difference.

ccusage is installed like the CLI (scripts/install-ccusage.sh into $CNP_TEST_CACHE); it needs
node and npm, and a missing install fails these tests instead of skipping them.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from claude_env import REPO, cache_dir
from cli_runner import cnp
from standin_api import StandinAPI, ToolUse, text
from usage_corpus import Corpus, Tokens, generate
from world import World

pytestmark = pytest.mark.realcli

CCUSAGE_VERSION = "18.0.11"
INSTALL_SCRIPT = REPO / "scripts" / "install-ccusage.sh"
ZONE = "Asia/Kolkata"  # local time for both tools: not UTC, and a half-hour offset


@functools.lru_cache(maxsize=1)
def ccusage_bin() -> str:
    """The pinned ccusage executable, installed into the test cache when missing."""
    prefix = cache_dir() / f"ccusage-{CCUSAGE_VERSION}" / "node_modules"
    try:
        version = json.loads((prefix / "ccusage" / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        version = None
    binary = prefix / ".bin" / "ccusage"
    if version == CCUSAGE_VERSION and os.access(binary, os.X_OK):
        return str(binary)
    proc = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True,
                          timeout=600, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not os.access(lines[-1], os.X_OK):
        raise RuntimeError(f"installing ccusage {CCUSAGE_VERSION} failed (exit "
                           f"{proc.returncode}); run {INSTALL_SCRIPT} (needs node + npm)\n"
                           f"{proc.stderr[-3000:]}")
    return lines[-1]


def ccusage_daily(config_dir: Path, zone: str, home: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDE", "ANTHROPIC"))}
    env.update({"CLAUDE_CONFIG_DIR": str(config_dir), "TZ": zone, "HOME": str(home),
                "NO_COLOR": "1"})
    proc = subprocess.run([ccusage_bin(), "daily", "--json", "--offline"], env=env,
                          cwd=home, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def their_tokens(group: dict[str, Any]) -> Tokens:
    return Tokens(group["inputTokens"], group["outputTokens"], group["cacheCreationTokens"],
                  group["cacheReadTokens"])


def our_tokens(group: dict[str, Any]) -> Tokens:
    return Tokens(group["input_tokens"], group["output_tokens"],
                  group["cache_creation_tokens"], group["cache_read_tokens"])


# -- the real CLI's transcripts ----------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with StandinAPI(default=text("Hello from the stand-in")) as api:
        w = World(tmp_path, api)
        w.env["TZ"] = ZONE
        yield w


def claude(world: World, prompt: str, *args: str) -> dict[str, Any]:
    """The CLI run directly, for what `cnp execute` has no option for (--fork-session)."""
    proc = subprocess.run(
        [world.env["CNP_CLAUDE_BIN"], "-p", "--output-format", "stream-json", "--verbose",
         *args], input=prompt, env=world.env, cwd=world.work, capture_output=True, text=True,
        timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def transcript_rows(world: World) -> list[tuple[Path, dict[str, Any]]]:
    rows = []
    for path in sorted((world.home / ".claude" / "projects").rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                rows.append((path, json.loads(line)))
    return rows


def test_totals_equal_ccusage_on_the_real_clis_transcripts(world: World) -> None:
    runs = []
    out = world.cnp("execute", "--prompt", "Say hello.", "--format", "json")
    assert out.code == 0, out.stderr
    runs.append(out.json)
    # A text block and a tool_use block: two transcript rows for one API response.
    world.api.push(ToolUse("Bash", {"command": "echo night"}, text="Let me check."),
                   text("done"))
    out = world.cnp("execute", "--prompt", "Run echo.", "--allowed-tools", "Bash",
                    "--format", "json")
    assert out.code == 0, out.stderr
    runs.append(out.json)
    session = out.json["session_id"]
    # A subagent: its own file under <project>/<session>/subagents/.
    world.api.push(ToolUse("Agent", {"description": "look around", "prompt": "List files",
                                     "subagent_type": "general-purpose"}, text="Delegating."),
                   text("The files are listed."), text("All done."))
    out = world.cnp("execute", "--prompt", "Use an agent.", "--allowed-tools", "Agent",
                    "--format", "json")
    assert out.code == 0, out.stderr
    runs.append(out.json)
    # Resumed (appends to the session's file), then forked: a new session file that starts
    # with a copy of every row so far.
    resumed = claude(world, "And again.", "--resume", session)
    forked = claude(world, "Fork it.", "--resume", session, "--fork-session")
    assert resumed["session_id"] == session != forked["session_id"]

    rows = transcript_rows(world)
    usage_rows = [(p, r) for p, r in rows if isinstance(r.get("message"), dict)
                  and "usage" in r["message"]]
    by_message: dict[str, set[Path]] = {}
    for path, row in usage_rows:
        by_message.setdefault(row["message"]["id"], set()).add(path)
    assert len(usage_rows) > len(by_message)  # the transcripts repeat responses...
    assert any(len(paths) > 1 for paths in by_message.values())  # ...across files too
    assert any("subagents" in p.parts for p, _ in usage_rows)

    imported = world.cnp("usage", "import", "--format", "json")
    assert imported.code == 0, imported.stderr
    assert imported.json["entries_total"] == len(by_message)
    assert imported.json["malformed_lines"] == 0
    ours = world.cnp("usage", "daily", "--format", "json")
    assert ours.code == 0, ours.stderr
    theirs = ccusage_daily(world.home / ".claude", ZONE, world.root)

    assert ours.json["timezone"] == ZONE
    assert {g["date"]: our_tokens(g) for g in ours.json["groups"]} == {
        g["date"]: their_tokens(g) for g in theirs["daily"]}
    assert our_tokens(ours.json["totals"]) == their_tokens(theirs["totals"])
    assert our_tokens(ours.json["totals"]).total > 0
    # The stand-in's model has no published price: unknown for us, $0 for ccusage.
    assert ours.json["totals"]["cost_usd"] is None and theirs["totals"]["totalCost"] == 0

    # The per-run ledger reports exactly what each run's result said.
    jobs = world.cnp("usage", "jobs", "--format", "json")
    assert jobs.code == 0, jobs.stderr
    [adhoc] = jobs.json["groups"]
    assert adhoc["job_id"] is None and adhoc["runs"] == len(runs)
    for key in ("input", "output", "cache_creation", "cache_read"):
        assert adhoc[f"{key}_tokens"] == sum(r["tokens"][key] for r in runs)
    assert adhoc["cost_usd"] == pytest.approx(sum(r["total_cost_usd"] for r in runs))


# -- a generated corpus ------------------------------------------------------------------------


def test_ccusage_differs_on_the_generated_corpus_exactly_as_predicted(tmp_path: Path) -> None:
    corpus: Corpus = generate(tmp_path / "claude", seed=7, sessions=40,
                              start=datetime(2026, 10, 27, tzinfo=UTC), days=9)
    res = cnp("usage", "import", "--path", str(corpus.root), "--format", "json")
    assert res.exit_code == 0, res.stderr
    ours = cnp("usage", "daily", "--tz", "UTC", "--format", "json").json
    theirs = ccusage_daily(corpus.root, "UTC", tmp_path)

    assert our_tokens(ours["totals"]) == corpus.truth
    assert their_tokens(theirs["totals"]) == corpus.ccusage_expected
    assert their_tokens(theirs["totals"]).total > corpus.truth.total  # ccusage overcounts
    # Day by day, ccusage is never below the truth by more than the snapshot shortfall.
    truth_days = corpus.daily(ZoneInfo("UTC"))
    their_days = {g["date"]: their_tokens(g) for g in theirs["daily"]}
    assert set(their_days) == set(truth_days)
    shortfall = -sum(t.output for rows, t in corpus.ccusage_differences().values() if not rows)
    for day, truth in truth_days.items():
        assert their_days[day].total >= truth.total - shortfall
