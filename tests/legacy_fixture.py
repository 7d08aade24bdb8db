"""Legacy databases for the migration tests, in the old Rust tool's shape.

`LegacyDb` writes rows one by one (tests add their own awkward ones); `build_realistic` makes the
standard file: statuses in mixed case, tags as JSON and as comma-separated text, 6-field crons
(one invalid), one-shots, a schedule whose prompt is gone, results with an int or a JSON
`token_usage`, results without a schedule, and times as RFC 3339, naive text and epoch numbers.
`REALISTIC` says what each of its rows must become.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The old tool's tables. Foreign keys were declared but not enforced (the pragma was off in
# some versions), which is how results without a schedule came to exist.
SCHEMA = """
CREATE TABLE prompts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    tags TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE schedules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    prompt_id INTEGER NOT NULL,
    schedule_time TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    created_at TEXT NOT NULL,
    last_run_at TEXT,
    next_run_at TEXT,
    updated_at TEXT,
    cron_expr TEXT,
    execution_count INTEGER DEFAULT 0,
    FOREIGN KEY (prompt_id) REFERENCES prompts(id) ON DELETE CASCADE
);
CREATE TABLE execution_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id INTEGER NOT NULL,
    content TEXT NOT NULL,
    status TEXT NOT NULL,
    token_usage INTEGER,
    cost_usd REAL,
    execution_time_ms INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    FOREIGN KEY (schedule_id) REFERENCES schedules(id)
);
CREATE TABLE token_usage_stats (
    id INTEGER PRIMARY KEY DEFAULT 1,
    total_input_tokens INTEGER DEFAULT 0,
    total_output_tokens INTEGER DEFAULT 0,
    total_cost_usd REAL DEFAULT 0.0,
    session_count INTEGER DEFAULT 0,
    last_updated TEXT NOT NULL
);
"""


class LegacyDb:
    """A legacy database file being written, the way the old tool left it (WAL mode)."""

    def __init__(self, path: Path, *, wal: bool = True, schema: str = SCHEMA) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        if wal:
            self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = OFF")  # test data: no fsync per row
        self.db.executescript(schema)

    def prompt(self, id: int, title: str, content: str, tags: Any = None,
               created_at: Any = "2025-06-01T08:00:00.123456789+00:00") -> int:
        self.db.execute("INSERT INTO prompts (id, title, content, tags, created_at)"
                        " VALUES (?, ?, ?, ?, ?)", (id, title, content, tags, created_at))
        return id

    def schedule(self, id: int, prompt_id: int, cron_expr: str | None, status: str, *,
                 schedule_time: Any = "", created_at: Any = "2025-06-02T09:00:00+08:00",
                 execution_count: int = 0) -> int:
        self.db.execute(
            "INSERT INTO schedules (id, prompt_id, schedule_time, status, created_at,"
            " last_run_at, next_run_at, updated_at, cron_expr, execution_count)"
            " VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)",
            (id, prompt_id, schedule_time, status, created_at, created_at, cron_expr,
             execution_count),
        )
        return id

    def result(self, id: int, schedule_id: int, status: str, *, content: str = "done",
               token_usage: Any = None, cost_usd: Any = None, execution_time_ms: Any = 1000,
               created_at: Any = "2025-06-03T03:00:05.5+00:00") -> int:
        self.db.execute(
            "INSERT INTO execution_results (id, schedule_id, content, status, token_usage,"
            " cost_usd, execution_time_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (id, schedule_id, content, status, token_usage, cost_usd, execution_time_ms,
             created_at),
        )
        return id

    def stats(self, **values: Any) -> None:
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self.db.execute(f"INSERT INTO token_usage_stats ({cols}) VALUES ({marks})",
                        tuple(values.values()))

    def execute(self, sql: str, *args: Any) -> None:
        self.db.execute(sql, args)

    def close(self) -> None:
        self.db.close()


@dataclass
class Expected:
    """What the realistic file holds, and what each row must become."""

    prompts: int = 0
    schedules: int = 0
    results: int = 0
    skipped: dict[str, set[int]] = field(default_factory=dict)
    # legacy schedule id → (enabled, job state, stored cron_expr or None)
    jobs: dict[int, tuple[bool, str, str | None]] = field(default_factory=dict)
    # legacy result id → our run status
    runs: dict[int, str] = field(default_factory=dict)
    runs_without_job: set[int] = field(default_factory=set)


REALISTIC = Expected(
    prompts=6,
    schedules=13,
    results=14,
    skipped={"prompts": {5}, "schedules": {12}, "execution_results": {13}},
    jobs={
        1: (True, "enabled", "0 0 3 * * *"),
        2: (True, "enabled", "0 30 9 * * MON-FRI"),
        3: (False, "paused", "0 0 */2 * * *"),
        4: (False, "paused", "0 61 * * * *"),  # invalid: kept verbatim, paused
        5: (True, "enabled", None),  # a future one-shot
        6: (False, "done", None),  # a one-shot that ran
        7: (False, "retired", "0 0 4 * * *"),  # its prompt is gone
        8: (False, "paused", "0 0 5 * * *"),  # unknown status
        9: (False, "retired", "0 0 6 * * *"),  # its prompt was skipped (empty)
        10: (False, "paused", None),  # a pending one-shot whose time has passed
        11: (False, "paused", "0 15 10 * * *"),  # 'Inactive'; '?' read as '*'
        13: (False, "paused", "0 0 12 * * *"),  # 'failed'
    },
    runs={
        1: "completed", 2: "completed", 3: "completed", 4: "failed", 5: "failed",
        6: "cancelled", 7: "completed", 8: "interrupted", 9: "interrupted", 10: "failed",
        11: "missed", 12: "completed", 14: "completed",
    },
    runs_without_job={7, 12},
)


def build_realistic(path: Path, *, wal: bool = True) -> Expected:
    """The standard awkward legacy database (see REALISTIC for what each row becomes)."""
    db = LegacyDb(path, wal=wal)
    db.prompt(1, "Nightly review", "Review the code in this repository.",
              tags=json.dumps(["review", "nightly"]))
    db.prompt(2, "Dependency audit", "Audit the dependencies.", tags="deps, weekly,deps",
              created_at="2025-06-01 09:00:00")  # naive: local time
    db.prompt(3, "Epoch prompt", "Summarize yesterday's commits.", tags=None,
              created_at=1748768400)  # 2025-06-01T09:00:00Z
    db.prompt(4, "", "A prompt nobody titled.", tags="[]")
    db.prompt(5, "Blank", "   \n", tags="misc")  # skipped: no content
    db.prompt(6, "Weekly cleanup", "Tidy the branches.", tags='["a,b", "c"]',
              created_at="2025-06-01T10:00:00Z")

    db.schedule(1, 1, "0 0 3 * * *", "Active", schedule_time="0 0 3 * * *")
    db.schedule(2, 2, "0 30 9 * * mon-fri", "active", created_at="2025-06-02 09:00:00")
    db.schedule(3, 1, "0 0 */2 * * *", "Paused", created_at=1748854800)
    db.schedule(4, 3, "0 61 * * * *", "active")  # invalid minute
    db.schedule(5, 2, None, "pending", schedule_time="2099-01-01T03:00:00+00:00")
    db.schedule(6, 2, "", "Completed", schedule_time="2025-05-01 03:00:00")
    db.schedule(7, 99, "0 0 4 * * *", "active")  # prompt 99 never existed
    db.schedule(8, 1, "0 0 5 * * *", "Weird")  # unknown status
    db.schedule(9, 5, "0 0 6 * * *", "running")  # prompt 5 is skipped
    db.schedule(10, 3, None, "pending", schedule_time=1717200000)  # 2024-06-01: passed
    db.schedule(11, 4, "0 15 10 ? * *", "Inactive")
    db.schedule(12, 1, None, "pending", schedule_time="")  # no schedule at all: skipped
    db.schedule(13, 6, "0 0 12 * * *", "failed")

    db.result(1, 1, "completed", content="All good.", token_usage=1234, cost_usd=0.05,
              execution_time_ms=42_000, created_at="2025-06-03T03:00:42.000000001+00:00")
    usage = json.dumps({"input_tokens": 100, "output_tokens": 50, "cache_read_input_tokens": 10,
                        "cache_creation_input_tokens": 5})
    db.result(2, 1, "Completed", token_usage=usage, cost_usd=0.01,
              created_at="2025-06-04 03:00:10")  # naive
    db.result(3, 1, "success", token_usage="77", created_at="2025-06-04 03:00:10")  # same time
    db.result(4, 2, "failed", content="Error: boom", created_at=1749000000)
    db.result(5, 2, "Failed", created_at=1749000000123)  # milliseconds
    db.result(6, 3, "cancelled", execution_time_ms=0, cost_usd="n/a")
    db.result(7, 42, "success")  # schedule 42 never existed
    db.result(8, 2, "running", created_at="2025-06-05T01:00:00Z")
    db.result(9, 2, "bogus", created_at="2025-06-05T02:00:00Z")  # unknown status
    db.result(10, 1, "timeout", created_at="2025-06-05T03:00:00Z")
    db.result(11, 1, "pending", execution_time_ms=0, created_at="2025-06-05T04:00:00Z")
    db.result(12, 12, "completed", created_at="2025-06-05T05:00:00Z")  # schedule skipped
    db.result(13, 1, "completed", created_at="whenever")  # skipped: not a time
    db.result(14, 7, "Completed", token_usage=json.dumps({"usage": {"output_tokens": 9}}),
              created_at="2025-06-05T06:00:00Z")  # the retired job's run

    db.stats(id=1, total_input_tokens=5000, total_output_tokens=1200, total_cost_usd=1.25,
             session_count=7, last_updated="2025-06-05T06:00:00Z")
    db.execute("CREATE TABLE usage_records (id INTEGER PRIMARY KEY, raw_output TEXT)")
    db.execute("INSERT INTO usage_records (raw_output) VALUES ('x'), ('y')")
    db.close()
    return REALISTIC
