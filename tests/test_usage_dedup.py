"""The dedup rule of the usage ledger, case by case: every way Claude Code repeats one API
response collapses to one entry, and distinct responses stay distinct — in the parser's own
merge (rows of one import) and in the store's upsert (rows of separate imports)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from night_pilot.store import SqliteStore
from night_pilot.usage import ParseCounts, dedup_key, import_transcripts, parse_lines

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SONNET = "claude-sonnet-4-5-20250929"


@dataclass
class Row:
    """An assistant row as Claude Code 2.1.328 writes it (fields that matter here)."""

    msg: str | None = "msg_a"
    req: str | None = "req_a"
    usage: tuple[int, int, int, int] = (10, 50, 1000, 20000)  # input, output, write, read
    model: str = SONNET
    ts: str = "2026-11-20T10:00:00.000Z"
    session: str = "session-1"
    sidechain: bool = False
    uuid: str = "u1"
    parent: str | None = None
    cost: float | None = None
    cwd: str = "/home/dev/app"
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> bytes:
        inp, out, cc, cr = self.usage
        message: dict[str, Any] = {
            "type": "message", "role": "assistant", "model": self.model,
            "content": [{"type": "text", "text": "hi"}],
            "usage": {"input_tokens": inp, "output_tokens": out,
                      "cache_creation_input_tokens": cc, "cache_read_input_tokens": cr}}
        if self.msg is not None:
            message["id"] = self.msg
        row: dict[str, Any] = {"parentUuid": self.parent, "isSidechain": self.sidechain,
                               "message": message, "type": "assistant", "uuid": self.uuid,
                               "timestamp": self.ts, "cwd": self.cwd, "sessionId": self.session,
                               "version": "2.1.328"}
        if self.req is not None:
            row["requestId"] = self.req
        if self.cost is not None:
            row["costUSD"] = self.cost
        row.update(self.extra)
        return json.dumps(row, separators=(",", ":")).encode() + b"\n"


def parse(*rows: Row | bytes) -> tuple[list[tuple[Any, ...]], ParseCounts]:
    data = b"".join(r if isinstance(r, bytes) else r.line() for r in rows)
    merged: dict[str, tuple[Any, ...]] = {}
    counts = ParseCounts()
    parse_lines(data, file_key="f.jsonl", session="file-session", project="file-project",
                merged=merged, counts=counts)
    return list(merged.values()), counts


def outputs(entries: list[tuple[Any, ...]]) -> list[int]:
    return sorted(e[9] for e in entries)


# -- one response, however often it is written -----------------------------------------------

SAME_RESPONSE = {
    "content blocks: one row per block, same ids and usage": [
        Row(uuid="u1"), Row(uuid="u2", parent="u1", ts="2026-11-20T10:00:00.007Z")],
    "resumed session: the rows copied into a new session file": [
        Row(), Row(session="session-2")],
    "sidechain replay: the parent message under a new request id": [
        Row(), Row(req="req_replay", sidechain=True, uuid="u9", ts="2026-11-20T10:01:00.000Z")],
    "no request id: content-block rows": [
        Row(req=None, uuid="u1"), Row(req=None, uuid="u2", parent="u1")],
    "no request id: block rows and a resumed copy": [
        Row(req=None), Row(req=None, uuid="u2", parent="u1"), Row(req=None, session="s2")],
    "no message id: the request id ties the rows": [
        Row(msg=None, uuid="u1"), Row(msg=None, uuid="u2", parent="u1")],
    "no id at all: content-block rows chained by parentUuid": [
        Row(msg=None, req=None, uuid="u1", parent="u0"),
        Row(msg=None, req=None, uuid="u2", parent="u1", ts="2026-11-20T10:00:00.007Z")],
    "no id at all: a resumed copy keeps the uuids": [
        Row(msg=None, req=None, uuid="u1"), Row(msg=None, req=None, uuid="u1", session="s2")],
    "streaming snapshots: the output count grows": [
        Row(usage=(10, 1, 1000, 20000)), Row(usage=(10, 50, 1000, 20000), uuid="u2")],
}


@pytest.mark.parametrize("rows", SAME_RESPONSE.values(), ids=SAME_RESPONSE.keys())
def test_one_response_is_one_entry(rows: list[Row]) -> None:
    entries, counts = parse(*rows)
    assert len(entries) == 1
    assert counts.entries == len(rows) and counts.malformed == 0
    assert entries[0][8:12] == (10, 50, 1000, 20000)  # the final output count


DIFFERENT_RESPONSES = {
    "different message ids": [Row(msg="msg_a"), Row(msg="msg_b")],
    "a proxy reusing one message id for two requests (prompt counts differ)": [
        Row(usage=(10, 50, 1000, 20000)), Row(usage=(12, 50, 0, 21050), req="req_b")],
    "same message id, another model": [Row(), Row(model="claude-opus-4-5-20251101")],
    "no id at all, identical counts, separate chains": [
        Row(msg=None, req=None, uuid="u1"), Row(msg=None, req=None, uuid="u7", parent="u5")],
    "no message id, different request ids": [Row(msg=None, req="r1"), Row(msg=None, req="r2")],
}


@pytest.mark.parametrize("rows", DIFFERENT_RESPONSES.values(), ids=DIFFERENT_RESPONSES.keys())
def test_distinct_responses_stay_distinct(rows: list[Row]) -> None:
    entries, _ = parse(*rows)
    assert len(entries) == len(rows)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("msg_1", "req_1", "", "m", 1, 2, 3), "msg_1|m|1|2|3"),
        (("msg_1", None, "", "m", 1, 2, 3), "msg_1|m|1|2|3"),  # request id does not matter
        ((None, "req_1", "", "m", 1, 2, 3), "~req_1|m|1|2|3"),
        ((None, None, "uuid-1", "m", 1, 2, 3), "@uuid-1|m|1|2|3"),
        (("msg_1", "req_1", "", None, 0, 0, 0), "msg_1||0|0|0"),
    ],
)
def test_dedup_key(args: tuple[Any, ...], expected: str) -> None:
    assert dedup_key(*args) == expected


def test_the_main_conversation_wins_over_a_sidechain_replay_seen_first() -> None:
    replay = Row(req="req_replay", sidechain=True, session="session-1", uuid="u9",
                 ts="2026-11-20T10:05:00.000Z")
    [entry], _ = parse(replay, Row())
    assert entry[1] == "2026-11-20T10:00:00.000000Z"  # the conversation's own time
    assert entry[6] == "req_a" and entry[7] == 0


def test_synthetic_rows_carry_no_tokens() -> None:
    entries, counts = parse(Row(model="<synthetic>", usage=(0, 0, 0, 0)), Row(msg="msg_b"))
    assert len(entries) == 1 and counts.entries == 1


def test_cost_comes_from_the_row_then_the_price_table_then_is_unknown() -> None:
    entries, _ = parse(Row(msg="a", cost=0.25), Row(msg="b"), Row(msg="c", model="claude-x-9"))
    by_msg = {e[5]: (e[12], e[13]) for e in entries}
    assert by_msg["a"] == (0.25, "transcript")
    expected = (10 * 3 + 50 * 15 + 1000 * 3.75 + 20000 * 0.30) / 1e6
    assert by_msg["b"][0] == pytest.approx(expected) and by_msg["b"][1] == "price_table"
    assert by_msg["c"] == (None, None)  # unknown, never 0


def test_a_snapshot_keeps_the_cost_of_the_final_count() -> None:
    [entry], _ = parse(Row(usage=(10, 1, 0, 0)), Row(usage=(10, 100, 0, 0), uuid="u2"))
    assert entry[9] == 100
    assert entry[12] == pytest.approx((10 * 3 + 100 * 15) / 1e6)


def test_rows_without_session_or_cwd_take_the_files() -> None:
    line = json.loads(Row().line())
    del line["sessionId"], line["cwd"]
    [entry], _ = parse(json.dumps(line).encode() + b"\n")
    assert entry[2:4] == ("file-session", "file-project")


# -- what is not a usage row, and what is broken ---------------------------------------------


def test_malformed_and_unusable_lines() -> None:
    good = Row().line()
    lines = [
        good,
        b'{"type":"user","message":{"role":"user","content":"cut sho\n',  # truncated, no usage
        good[: len(good) // 2] + b"\n",  # truncated usage row
        b"\x00\x00 garbage\n",
        b"\n",  # blank: not a line at all
        b'{"type":"summary","summary":"fine"}\n',
        b'{"message":{"usage":{"input_tokens":"x","output_tokens":1}},"timestamp":"t"}\n',
        Row(msg="msg_b", ts="not a time").line(),  # usage but no usable time
        b'["usage"]\n',  # valid JSON, not an object
        b'{"type":"user","toolUseResult":{"usage":{"input_tokens":5,"output_tokens":5}}}\n',
    ]
    entries, counts = parse(*lines)
    assert len(entries) == 1
    assert counts.lines == 9
    assert counts.malformed == 5  # two cut short, garbage, a bad time, not an object


def test_crlf_lines_are_whole_lines() -> None:
    entries, counts = parse(Row().line().replace(b"\n", b"\r\n"),
                            b'{"type":"summary"}\r\n')
    assert len(entries) == 1 and counts.malformed == 0 and counts.lines == 2


def test_timestamps_in_other_iso_forms_are_read_as_utc() -> None:
    [a], _ = parse(Row(ts="2026-11-20T11:00:00+01:00"))
    [b], _ = parse(Row(ts="2026-11-20T10:00:00.123456Z"))
    assert a[1] == "2026-11-20T10:00:00.000000Z"
    assert b[1] == "2026-11-20T10:00:00.123456Z"


# -- the same rule across imports (the store's upsert) -----------------------------------------


def write(path: Path, *rows: Row) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        for r in rows:
            f.write(r.line())


def ledger(store: SqliteStore) -> list[dict[str, Any]]:
    return [dict(r) for r in store.db.execute("SELECT * FROM usage_entries ORDER BY id")]


def test_copies_in_later_imports_merge_into_the_entry(tmp_path: Path,
                                                      store: SqliteStore) -> None:
    root = tmp_path / "projects"
    write(root / "p" / "session-1" / "subagents" / "agent-1.jsonl",
          Row(req="req_replay", sidechain=True, usage=(10, 1, 1000, 20000),
              ts="2026-11-20T10:05:00.000Z"))
    import_transcripts(store, [root], NOW)
    [first] = ledger(store)
    assert first["is_sidechain"] == 1 and first["output_tokens"] == 1

    write(root / "p" / "session-1.jsonl", Row())  # the conversation's own row, final count
    write(root / "p" / "session-2.jsonl", Row(session="session-2"))  # a resumed copy
    import_transcripts(store, [root], NOW)
    [entry] = ledger(store)
    assert entry["output_tokens"] == 50
    assert entry["is_sidechain"] == 0 and entry["request_id"] == "req_a"
    assert entry["session_id"] == "session-1"
    assert entry["timestamp"] == "2026-11-20T10:00:00.000000Z"
    assert entry["cost_usd"] == pytest.approx((10 * 3 + 50 * 15 + 1000 * 3.75 + 20000 * 0.3)
                                              / 1e6)
