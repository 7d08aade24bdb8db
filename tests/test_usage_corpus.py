"""The usage ledger against a generated transcript corpus whose truth is known: several
projects, subagent files, resumed-session copies, one row per content block, sidechain replays
under new request ids, rows without ids, snapshots, malformed and half-written lines. Our totals,
days, months, sessions, blocks and costs must equal the generator's, exactly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cli_runner import cnp
from usage_corpus import (
    NO_MESSAGE,
    NO_REQUEST_BLOCKS,
    NO_REQUEST_COPIES,
    REPLAY,
    SNAPSHOT,
    Corpus,
    Tokens,
    generate,
)

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database


@pytest.fixture(autouse=True)
def no_transcripts_of_this_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cnp usage` first imports from Claude Code's own directories: none in these tests."""
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "no-claude-config"))


START = datetime(2026, 10, 27, tzinfo=UTC)  # spans the end of DST in Europe and the US


def tokens_of(group: dict[str, Any]) -> Tokens:
    return Tokens(group["input_tokens"], group["output_tokens"],
                  group["cache_creation_tokens"], group["cache_read_tokens"])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Written once: the tests only read it (each imports it into its own database)."""
    return generate(tmp_path_factory.mktemp("claude"), seed=7, sessions=40, start=START,
                    days=9)


def imported(corpus: Corpus) -> dict[str, Any]:
    res = cnp("usage", "import", "--path", str(corpus.root), "--format", "json")
    assert res.exit_code == 0, res.stderr
    return dict(res.json)


def report(*args: str) -> dict[str, Any]:
    res = cnp("usage", *args, "--format", "json")
    assert res.exit_code == 0, res.stderr
    return dict(res.json)


@pytest.fixture
def local_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run with a local zone that is not UTC (and has DST), as a user's machine would."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield "America/New_York"
    monkeypatch.undo()
    time.tzset()


def test_totals_equal_the_truth(corpus: Corpus) -> None:
    # The corpus holds every kind of repetition (else this test proves little).
    causes = corpus.ccusage_differences()
    assert set(causes) == {REPLAY, NO_REQUEST_BLOCKS, NO_REQUEST_COPIES, NO_MESSAGE, SNAPSHOT}
    assert corpus.malformed_lines > 0 and corpus.pending

    data = imported(corpus)
    assert data["entries_total"] == len(corpus.responses)
    assert data["malformed_lines"] == corpus.malformed_lines
    assert data["pending_bytes"] == sum(
        len(corpus_line) for corpus_line in _pending_heads(corpus))
    assert data["files_seen"] == len(corpus.files)

    totals = report("daily")["totals"]
    assert tokens_of(totals) == corpus.truth
    known, unknown = corpus.truth_cost()
    assert totals["known_cost_usd"] == pytest.approx(known, abs=1e-6)
    assert totals["unknown_cost_entries"] == unknown > 0
    assert totals["cost_usd"] is None  # some models have no price: the sum is not known


def _pending_heads(corpus: Corpus) -> list[bytes]:
    heads = []
    for path in corpus.pending:
        data = path.read_bytes()
        heads.append(data[data.rfind(b"\n") + 1:])
    return heads


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "Europe/Berlin",
                                  "Pacific/Chatham"])
def test_days_in_any_zone_equal_the_truth(corpus: Corpus, zone: str) -> None:
    imported(corpus)
    days = {g["date"]: tokens_of(g) for g in report("daily", "--tz", zone)["groups"]}
    assert days == corpus.daily(ZoneInfo(zone))


def test_days_default_to_local_time(corpus: Corpus, local_zone: str) -> None:
    imported(corpus)
    data = report("daily")
    assert data["timezone"] == local_zone
    days = {g["date"]: tokens_of(g) for g in data["groups"]}
    assert days == corpus.daily(ZoneInfo(local_zone))


def test_months_sessions_and_filters(corpus: Corpus) -> None:
    imported(corpus)
    truth_days = corpus.daily(ZoneInfo("UTC"))
    months: dict[str, Tokens] = {}
    for day, t in truth_days.items():
        months.setdefault(day[:7], Tokens()).add(t)
    got = {g["month"]: tokens_of(g) for g in report("monthly", "--tz", "UTC")["groups"]}
    assert got == months

    sessions = {g["session_id"]: tokens_of(g) for g in report("session")["groups"]}
    assert sessions == corpus.sessions()

    picked = sorted(truth_days)[2:5]
    since, until = picked[0], picked[-1].replace("-", "")  # both spellings are accepted
    data = report("daily", "--tz", "UTC", "--since", since, "--until", until)
    assert [g["date"] for g in data["groups"]] == picked
    expected = Tokens()
    for day in picked:
        expected.add(truth_days[day])
    assert tokens_of(data["totals"]) == expected
    # Options given to the group apply to the default report too.
    assert report("--since", since, "--until", until, "--tz", "UTC")["groups"] == data["groups"]


def test_blocks_follow_the_five_hour_rule(corpus: Corpus) -> None:
    imported(corpus)
    data = report("blocks")
    # The rule, applied to the truth: a block starts at the UTC hour of its first response
    # and lasts 5 h; a response at/after its end or >= 5 h after the previous one starts the
    # next.
    expected: list[tuple[datetime, Tokens]] = []
    last: datetime | None = None
    for r in sorted(corpus.responses, key=lambda r: r.timestamp):
        at = r.timestamp
        if not expected or last is None or at >= expected[-1][0] + timedelta(hours=5) \
                or at - last >= timedelta(hours=5):
            expected.append((at.replace(minute=0, second=0, microsecond=0), Tokens()))
        expected[-1][1].add(r.tokens)
        last = at
    got = [(datetime.fromisoformat(b["start"]), tokens_of(b)) for b in data["groups"]]
    assert got == expected
    assert all(datetime.fromisoformat(b["end"]) - datetime.fromisoformat(b["start"])
               == timedelta(hours=5) for b in data["groups"])
    assert not any(b["active"] for b in data["groups"])  # all of it is in the past


def test_csv_has_a_header_and_one_row_per_group(corpus: Corpus) -> None:
    imported(corpus)
    res = cnp("usage", "daily", "--tz", "UTC", "--format", "csv")
    assert res.exit_code == 0, res.stderr
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    truth = corpus.daily(ZoneInfo("UTC"))
    costs: dict[str, list[float | None]] = {}
    for response in corpus.responses:
        costs.setdefault(response.timestamp.astimezone(UTC).date().isoformat(), []).append(
            response.cost)
    assert [r["date"] for r in rows] == sorted(truth)
    for r in rows:
        assert int(r["total_tokens"]) == truth[r["date"]].total
        # Every day here has a response of a model without a price: the day's cost is not
        # known, which the CSV writes as an empty field, never as 0.
        assert None in costs[r["date"]]
        assert r["cost_usd"] == "", r


def test_pretty_tables_mark_unknown_costs(corpus: Corpus) -> None:
    imported(corpus)
    res = cnp("usage", "daily", "--tz", "UTC")
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:2] == ["DATE", "INPUT"]
    total = next(line for line in lines if line.startswith("TOTAL"))
    assert f"{corpus.truth.total:,}" in total and "+?" in total
    for kind in ("monthly", "session", "blocks", "jobs"):
        shown = cnp("usage", kind)
        assert shown.exit_code == 0, shown.stderr
