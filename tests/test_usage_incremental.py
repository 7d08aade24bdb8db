"""Incremental import: a re-import reads only appended bytes (checked against the recorded
offsets and the bytes-read counter), a rewritten, truncated or replaced file is read again from
the start, a last line still being written is read once it is complete, and nothing is ever
counted twice."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cli_runner import cnp
from test_usage_dedup import Row
from usage_corpus import Corpus, Tokens, append_activity, generate

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database


@pytest.fixture(autouse=True)
def no_transcripts_of_this_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cnp usage` first imports from Claude Code's own directories: none in these tests."""
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "no-claude-config"))


START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    return generate(tmp_path / "claude", seed=3, sessions=25, start=START, days=5)


def run_import(*paths: Path, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    args = [a for p in paths for a in ("--path", str(p))]
    res = cnp("usage", "import", *args, *extra, "--format", "json")
    assert res.exit_code == 0, res.stderr
    return dict(res.json)


def totals() -> Tokens:
    res = cnp("usage", "daily", "--format", "json")
    assert res.exit_code == 0, res.stderr
    t = res.json["totals"]
    return Tokens(t["input_tokens"], t["output_tokens"], t["cache_creation_tokens"],
                  t["cache_read_tokens"])


def file_states(cnp_home: Path) -> dict[str, sqlite3.Row]:
    with sqlite3.connect(cnp_home / "claude-night-pilot.db") as db:
        db.row_factory = sqlite3.Row
        return {r["path"]: r for r in db.execute("SELECT * FROM usage_files")}


def test_a_second_import_reads_nothing(corpus: Corpus, cnp_home: Path) -> None:
    first = run_import(corpus.root)
    assert first["files_new"] == len(corpus.files)
    assert first["bytes_read"] == corpus.bytes_written
    again = run_import(corpus.root)
    assert again["bytes_read"] == 0 and again["files_read"] == 0
    assert again["files_unchanged"] == len(corpus.files)
    assert again["entries_added"] == 0 and again["malformed_lines"] == 0
    assert totals() == corpus.truth
    # Every file's position is just past its last complete line.
    for path, state in file_states(cnp_home).items():
        data = Path(path).read_bytes()
        assert state["read_offset"] == data.rfind(b"\n") + 1
        assert state["size"] == len(data)


def test_appended_bytes_are_all_that_is_read(corpus: Corpus, cnp_home: Path) -> None:
    run_import(corpus.root)
    target = next(p for p in corpus.files if p not in corpus.pending)
    before = file_states(cnp_home)[str(target)]
    appended = Row(msg="msg_new", req="req_new", ts="2026-11-03T09:00:00.000Z",
                   usage=(1, 2, 3, 4)).line() * 2  # two content-block rows of one response
    with open(target, "ab") as f:
        f.write(appended)

    data = run_import(corpus.root)
    assert data["files_read"] == 1 and data["files_appended"] == 1
    assert data["bytes_read"] == len(appended)
    assert data["lines_read"] == 2 and data["entries_read"] == 2 and data["entries_added"] == 1
    after = file_states(cnp_home)[str(target)]
    assert after["read_offset"] == before["read_offset"] + len(appended)
    assert after["lines"] == before["lines"] + 2 and after["rereads"] == 0
    expected = corpus.truth
    expected.add(Tokens(1, 2, 3, 4))
    assert totals() == expected


def test_sessions_that_go_on_are_read_from_where_they_were(corpus: Corpus) -> None:
    run_import(corpus.root)
    appended = append_activity(corpus, 200_000, seed=5)
    data = run_import(corpus.root)
    assert data["bytes_read"] == appended  # nothing before the old positions
    assert data["files_reread"] == 0 and data["files_new"] == 0
    assert data["entries_total"] == len(corpus.responses)
    assert totals() == corpus.truth


def test_a_half_written_line_is_counted_once_when_complete(corpus: Corpus,
                                                           cnp_home: Path) -> None:
    assert corpus.pending
    first = run_import(corpus.root)
    assert first["entries_total"] == len(corpus.responses)  # the unfinished ones wait
    assert first["pending_bytes"] > 0
    assert totals() == corpus.truth

    heads = {p: len(p.read_bytes()) - file_states(cnp_home)[str(p)]["read_offset"]
             for p in corpus.pending}
    rests = {p: len(rest) for p, rest in corpus.pending.items()}
    corpus.complete_pending()
    second = run_import(corpus.root)
    assert second["files_read"] == len(heads)
    # The unfinished line is read again from its start, once complete; nothing else is.
    assert second["bytes_read"] == sum(heads[p] + rests[p] for p in heads)
    assert second["pending_bytes"] == 0 and second["malformed_lines"] == 0
    assert second["entries_added"] == len(heads)
    assert totals() == corpus.truth

    third = run_import(corpus.root)
    assert third["bytes_read"] == 0 and totals() == corpus.truth


@pytest.mark.parametrize("where", ["first line", "last line"])
def test_a_rewritten_file_is_read_again_from_the_start(corpus: Corpus, cnp_home: Path,
                                                       where: str) -> None:
    """An editor or a tool rewrote the file, and it grew: the first KiB, or the KiB before
    the position reached, no longer holds what it did."""
    run_import(corpus.root)
    target = max((p for p in corpus.files if p not in corpus.pending),
                 key=lambda p: p.stat().st_size)
    original = target.read_bytes()
    lines = original.split(b"\n")[:-1]
    index = 0 if where == "first line" else len(lines) - 1
    row = json.loads(lines[index])
    row = {"note": "edited", **row}  # changes the line's first bytes
    lines[index] = json.dumps(row, separators=(",", ":")).encode()
    rewritten = b"\n".join(lines) + b"\n"
    target.write_bytes(rewritten)
    data = run_import(corpus.root)
    assert data["files_reread"] == 1 and data["bytes_read"] == len(rewritten)
    assert data["entries_added"] == 0 and data["malformed_lines"] == 0
    assert file_states(cnp_home)[str(target)]["rereads"] == 1
    assert totals() == corpus.truth


def test_a_truncated_or_replaced_file_is_read_again(corpus: Corpus, cnp_home: Path) -> None:
    run_import(corpus.root)
    target = next(p for p in corpus.files if p not in corpus.pending)
    data = target.read_bytes()
    # Truncated to its first half (at a line break): read again, nothing lost from the
    # ledger (those responses were billed), nothing counted twice.
    cut = data.rfind(b"\n", 0, len(data) // 2) + 1
    target.write_bytes(data[:cut])
    shrunk = run_import(corpus.root)
    assert shrunk["files_reread"] == 1 and shrunk["bytes_read"] == cut
    assert totals() == corpus.truth

    # Replaced by a new file of the same name (a new inode), the full content again.
    fresh = target.with_suffix(".tmp")
    fresh.write_bytes(data)
    os.replace(fresh, target)
    replaced = run_import(corpus.root)
    assert replaced["files_reread"] == 1 and replaced["bytes_read"] == len(data)
    assert replaced["entries_added"] == 0
    assert totals() == corpus.truth


def test_rebuild_starts_over(corpus: Corpus) -> None:
    run_import(corpus.root)
    again = run_import(corpus.root, extra=("--rebuild",))
    assert again["bytes_read"] == corpus.bytes_written
    assert again["entries_total"] == len(corpus.responses)
    assert totals() == corpus.truth


def test_default_roots_and_config_dir(corpus: Corpus, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    other = generate(tmp_path / "second", seed=9, sessions=3, start=START, days=2)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", f"{corpus.root}, {other.root}")
    data = run_import()
    assert data["roots"] == [str(corpus.root / "projects"), str(other.root / "projects")]
    expected = corpus.truth
    expected.add(other.truth)
    assert totals() == expected

    monkeypatch.delenv("CLAUDE_CONFIG_DIR")
    home = tmp_path / "home"
    (home / ".claude" / "projects").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert run_import()["roots"] == [str(home / ".claude" / "projects")]


def test_a_directory_without_transcripts_is_not_an_error(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    res = cnp("usage", "import")
    assert res.exit_code == 0, res.stderr
    assert "No Claude transcript directory found" in res.stdout
    missing = cnp("usage", "import", "--path", str(tmp_path / "nope"))
    assert missing.exit_code == 2


def test_the_quarter_hour_sums_stay_equal_to_the_entries(corpus: Corpus, cnp_home: Path) -> None:
    """Reports read per-quarter sums that triggers maintain; merges (snapshots, sidechain
    replays replaced by the conversation's row) move figures between quarters."""
    run_import(corpus.root)
    append_activity(corpus, 100_000, seed=8)
    corpus.complete_pending()
    run_import(corpus.root)
    with sqlite3.connect(cnp_home / "claude-night-pilot.db") as db:
        from_entries = db.execute(
            "SELECT substr(timestamp, 1, 14) || printf('%02d',"
            " CAST(substr(timestamp, 15, 2) AS INTEGER) / 15 * 15) AS q, coalesce(model, ''),"
            " count(*), sum(input_tokens), sum(output_tokens), sum(cache_creation_tokens),"
            " sum(cache_read_tokens), round(total(cost_usd), 9), count(*) - count(cost_usd)"
            " FROM usage_entries GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
        rollup = db.execute(
            "SELECT quarter, model, entries, input_tokens, output_tokens, cache_creation_tokens,"
            " cache_read_tokens, round(known_cost_usd, 9), unknown_cost_entries"
            " FROM usage_quarters WHERE entries > 0 ORDER BY 1, 2").fetchall()
    assert rollup == from_entries
