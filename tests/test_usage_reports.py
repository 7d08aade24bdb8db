"""Usage reports that the corpus tests do not reach: per job from the runs' own results, the
active 5-hour block, option errors, and the CLI's start-up cost (the group imports nothing
heavy until a command runs)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli_runner import cnp
from night_pilot.store import SqliteStore
from night_pilot.usage import block_report, import_transcripts, job_report
from test_usage_dedup import Row

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database


@pytest.fixture(autouse=True)
def no_transcripts_of_this_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cnp usage` first imports from Claude Code's own directories: none in these tests."""
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "no-claude-config"))


def add_run(db: Path, job_id: int | None, started: str, tokens: tuple[int, int, int, int],
            cost: float | None, executor: str = "claude") -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO job_executions (job_id, scheduled_for, attempt, trigger, status,"
            " executor, timeout_s, idle_timeout_s, created_at, started_at, input_tokens,"
            " output_tokens, cache_creation_tokens, cache_read_tokens, total_cost_usd)"
            " VALUES (?, ?, 1, ?, 'completed', ?, 60, 60, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, started, "schedule" if job_id else "execute", executor, started, started,
             *tokens, cost),
        )


def test_jobs_report_sums_each_jobs_runs(cnp_home: Path) -> None:
    prompt = cnp("prompt", "create", "review", "Review the code.", "--format", "json").json
    job = cnp("job", "create", str(prompt["id"]), "0 3 * * *", "--name", "nightly review",
              "--format", "json").json
    db = cnp_home / "claude-night-pilot.db"
    add_run(db, job["id"], "2026-11-20T03:00:01.000000Z", (10, 20, 30, 40), 0.5)
    add_run(db, job["id"], "2026-11-21T03:00:01.000000Z", (1, 2, 3, 4), 0.25)
    add_run(db, job["id"], "2026-11-22T03:00:01.000000Z", (0, 0, 0, 0), None)  # no result
    add_run(db, None, "2026-11-21T12:00:00.000000Z", (5, 5, 5, 5), 0.125)  # cnp execute
    add_run(db, job["id"], "2026-11-21T05:00:00.000000Z", (9, 9, 9, 9), None, "shell")

    data = cnp("usage", "jobs", "--format", "json").json
    [nightly, adhoc] = data["groups"]
    assert (nightly["job_id"], nightly["job_name"], nightly["runs"]) == (job["id"],
                                                                          "nightly review", 3)
    assert (nightly["input_tokens"], nightly["output_tokens"]) == (11, 22)
    assert (nightly["cache_creation_tokens"], nightly["cache_read_tokens"]) == (33, 44)
    assert nightly["known_cost_usd"] == 0.75
    assert nightly["runs_without_result"] == 1 and nightly["cost_usd"] is None
    assert adhoc["job_id"] is None and adhoc["runs"] == 1 and adhoc["cost_usd"] == 0.125
    assert data["totals"]["runs"] == 4 and data["totals"]["total_tokens"] == 130

    one_day = cnp("usage", "jobs", "--since", "2026-11-21", "--until", "2026-11-21",
                  "--tz", "UTC", "--format", "json").json
    assert [(g["job_id"], g["runs"]) for g in one_day["groups"]] == [(job["id"], 1), (None, 1)]

    csv_out = cnp("usage", "jobs", "--format", "csv").stdout.splitlines()
    assert csv_out[0].startswith("job_id,job_name,runs,runs_without_result")
    assert len(csv_out) == 3
    pretty = cnp("usage", "jobs").stdout
    assert "nightly review" in pretty and "(ad-hoc runs)" in pretty
    assert "$0.75+?" in pretty


def test_the_block_with_recent_activity_is_active(tmp_path: Path) -> None:
    root = tmp_path / "projects"
    path = root / "p" / "s.jsonl"
    path.parent.mkdir(parents=True)
    rows = [Row(msg="m1", ts="2026-11-28T01:10:00.000Z"),
            Row(msg="m2", ts="2026-11-28T05:09:59.000Z"),  # 3 h 59 min later: same block
            Row(msg="m3", ts="2026-11-28T06:10:00.000Z"),  # past 06:00, the block's end
            Row(msg="m4", ts="2026-11-28T07:00:00.000Z")]
    path.write_bytes(b"".join(r.line() for r in rows))
    with SqliteStore(tmp_path / "db.sqlite") as store:
        import_transcripts(store, [root], datetime(2026, 11, 28, 8, tzinfo=UTC))
        data = block_report(store, now=datetime(2026, 11, 28, 8, 30, tzinfo=UTC))
        first, second = data["groups"]
        assert (first["start"], first["end"]) == ("2026-11-28T01:00:00+00:00",
                                                  "2026-11-28T06:00:00+00:00")
        assert first["entries"] == 2 and not first["active"]
        assert second["start"] == "2026-11-28T06:00:00+00:00" and second["entries"] == 2
        assert second["active"] and second["remaining_minutes"] == 150
        # A clock behind the transcripts: only the block holding `now` is active.
        early = block_report(store, now=datetime(2026, 11, 28, 5, 0, tzinfo=UTC))
        assert [b["active"] for b in early["groups"]] == [True, False]
        later = block_report(store, now=datetime(2026, 11, 28, 12, 1, tzinfo=UTC))
        assert not any(b["active"] for b in later["groups"])
        assert job_report(store)["groups"] == []  # transcripts are not runs


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("daily", "--since", "2026-13-01"), "not a date"),
        (("daily", "--since", "yesterday"), "not a date"),
        (("--until", "20261301"), "not a date"),
        (("daily", "--since", "2026-11-02", "--until", "2026-11-01"), "is after --until"),
        (("monthly", "--tz", "Mars/Olympus"), "unknown time zone"),
        (("daily", "--format", "xml"), "xml"),
    ],
)
def test_bad_options_are_usage_errors(args: tuple[str, ...], message: str) -> None:
    res = cnp("usage", *args)
    assert res.exit_code == 2
    assert message in res.stderr


def test_errors_follow_the_format() -> None:
    res = cnp("usage", "daily", "--since", "never", "--format", "json")
    assert res.exit_code == 2
    assert json.loads(res.stderr)["error"] == "usage"


def test_an_empty_ledger_reports_nothing() -> None:
    data = cnp("usage", "--format", "json").json
    assert data["report"] == "daily" and data["groups"] == []
    assert data["totals"]["total_tokens"] == 0 and data["totals"]["cost_usd"] == 0
    assert cnp("usage", "daily", "--format", "csv").stdout.count("\n") == 1  # the header


def test_the_usage_commands_cost_nothing_at_start_up() -> None:
    """Loading the command group (as `cnp --help` does) imports no service, store or parser."""
    code = (
        "import sys; import night_pilot.cli.app as app; app.cli.get_command(app.cli.make_context("
        "'cnp', ['usage']), 'usage');"
        "heavy = [m for m in ('night_pilot.usage', 'night_pilot.store',"
        " 'sqlite3', 'json', 'csv', 'zoneinfo', 'hashlib') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


def test_help_lists_every_report() -> None:
    res = cnp("usage", "--help")
    assert res.exit_code == 0
    for name in ("daily", "monthly", "session", "blocks", "jobs", "import"):
        assert name in res.stdout
