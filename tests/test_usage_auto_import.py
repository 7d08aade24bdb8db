"""`cnp usage` reads what is new in Claude Code's transcripts before it reports (as ccusage
users expect), says so when the ledger is still empty, and the daemon imports in the
background."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from cli_runner import cnp
from daemon_proc import DaemonProcess
from usage_corpus import generate


@pytest.fixture
def claude_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "claude"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(path))
    return path


def test_a_report_imports_first_unless_told_not_to(claude_dir: Path) -> None:
    corpus = generate(claude_dir, seed=5, sessions=6, days=3)
    skipped = cnp("usage", "--no-import", "--format", "json").json
    assert skipped["groups"] == [] and "without --no-import" in skipped["hint"]
    assert cnp("usage", "monthly", "--no-import", "--format", "json").json["groups"] == []
    data = cnp("usage", "--format", "json").json
    assert data["totals"]["total_tokens"] == corpus.truth.total
    assert "hint" not in data
    again = cnp("usage", "daily", "--format", "json").json  # nothing new: the same totals
    assert again["totals"] == data["totals"]
    pretty = cnp("usage", "session")
    assert pretty.exit_code == 0 and "TOTAL" in pretty.stdout and "empty" not in pretty.stdout


def test_an_empty_ledger_says_where_it_looked(claude_dir: Path) -> None:
    (claude_dir / "projects").mkdir(parents=True)
    res = cnp("usage")
    assert res.exit_code == 0
    assert f"The usage ledger is empty: no Claude Code transcripts with usage in " \
           f"{claude_dir / 'projects'}" in res.stdout
    (claude_dir / "projects").rmdir()
    res = cnp("usage", "blocks")
    assert "no Claude Code transcript directory found ($CLAUDE_CONFIG_DIR" in res.stdout
    assert cnp("usage", "--format", "csv").stdout.count("\n") == 1  # CSV: the header only


@pytest.mark.slow
def test_the_daemon_imports_in_the_background(claude_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "night.db"
    cnp("init", "--db", str(db))
    corpus = generate(claude_dir, seed=9, sessions=3, days=2)
    with DaemonProcess(db, "--usage-import-every", "1"):
        deadline = time.monotonic() + 30
        total = 0
        while time.monotonic() < deadline:
            with sqlite3.connect(db) as con:
                total = con.execute(
                    "SELECT coalesce(sum(input_tokens + output_tokens + cache_creation_tokens"
                    " + cache_read_tokens), 0) FROM usage_entries").fetchone()[0]
            if total == corpus.truth.total:
                break
            time.sleep(0.2)
    assert total == corpus.truth.total
