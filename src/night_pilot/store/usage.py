"""Queries for usage: the ledger (transcript files already read, the API responses found
in them, one row per response merged by dedup key) and the aggregations reports are made of.

Owns every statement about `usage_files`, `usage_entries` and `usage_quarters`; decides nothing
about what a duplicate is (the importer computes the key) or how days and blocks are formed.
The runs' own usage (tokens and cost their result events reported) is summed here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from .queries import Queries
from .timefmt import to_db

# Column order of the tuples `add_entries` takes (the importer builds them in its hot
# loop, so they are plain tuples rather than objects). The last one is the transcript's path,
# which the statement turns into its `usage_files` id.
ENTRY_COLUMNS = (
    "dedup_key", "timestamp", "session_id", "project", "model", "message_id", "request_id",
    "is_sidechain", "input_tokens", "output_tokens", "cache_creation_tokens",
    "cache_read_tokens", "cost_usd", "cost_source", "file_id",
)
FILE_COLUMNS = (
    "path", "size", "mtime_ns", "inode", "head_len", "head_hash", "tail_hash", "read_offset",
    "lines", "entries", "malformed", "rereads",
)

_SAVE_FILE = f"""
    INSERT INTO usage_files ({", ".join(FILE_COLUMNS)}, imported_at)
    VALUES ({", ".join("?" * len(FILE_COLUMNS))}, ?)
    ON CONFLICT (path) DO UPDATE SET
        size = excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode,
        head_len = excluded.head_len, head_hash = excluded.head_hash,
        tail_hash = excluded.tail_hash, read_offset = excluded.read_offset,
        lines = CASE WHEN excluded.rereads > 0 THEN excluded.lines
                     ELSE usage_files.lines + excluded.lines END,
        entries = CASE WHEN excluded.rereads > 0 THEN excluded.entries
                       ELSE usage_files.entries + excluded.entries END,
        malformed = CASE WHEN excluded.rereads > 0 THEN excluded.malformed
                         ELSE usage_files.malformed + excluded.malformed END,
        rereads = usage_files.rereads + excluded.rereads,
        imported_at = excluded.imported_at
"""

# A copy of a response already in the ledger changes it in two cases only: it reports more
# output tokens (a later streaming snapshot of the same response: keep the final figure and
# its cost), or the ledger holds a sidechain replay and this is the main conversation's row
# (keep the conversation's time, session, request id and file). SET expressions read the old
# row.
# Columns the main conversation's row takes over from a sidechain replay of the same entry.
_FROM_MAIN_ROW = ",\n        ".join(
    f"{c} = CASE WHEN usage_entries.is_sidechain > excluded.is_sidechain"
    f" THEN excluded.{c} ELSE usage_entries.{c} END"
    for c in ("timestamp", "session_id", "project", "request_id", "file_id"))
_UPSERT = f"""
    INSERT INTO usage_entries ({", ".join(ENTRY_COLUMNS)})
    VALUES ({", ".join("?" * (len(ENTRY_COLUMNS) - 1))},
            (SELECT id FROM usage_files WHERE path = ?))
    ON CONFLICT (dedup_key) DO UPDATE SET
        output_tokens = CASE WHEN excluded.output_tokens > usage_entries.output_tokens
                             THEN excluded.output_tokens ELSE usage_entries.output_tokens END,
        cost_usd = CASE WHEN excluded.output_tokens > usage_entries.output_tokens
                        THEN excluded.cost_usd ELSE usage_entries.cost_usd END,
        cost_source = CASE WHEN excluded.output_tokens > usage_entries.output_tokens
                           THEN excluded.cost_source ELSE usage_entries.cost_source END,
        {_FROM_MAIN_ROW},
        is_sidechain = CASE WHEN excluded.is_sidechain < usage_entries.is_sidechain
                            THEN excluded.is_sidechain ELSE usage_entries.is_sidechain END
    WHERE excluded.output_tokens > usage_entries.output_tokens
       OR usage_entries.is_sidechain > excluded.is_sidechain
"""

def total(expression: str) -> str:
    """The sum of `expression` over a group as a float, 0.0 for none (SQLite's `total`)."""
    return f"CAST(coalesce(sum({expression}), 0) AS DOUBLE PRECISION)"


def totals(*columns: str, alias: str = "") -> str:
    """`total(c) AS c` of each column, qualified by `alias` if any."""
    e = f"{alias}." if alias else ""
    return ", ".join(f"{total(e + c)} AS {c}" for c in columns)


_TOKENS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens")
_SUMS = (f"count(*) AS entries, {totals(*_TOKENS)}, {total('cost_usd')} AS known_cost_usd,"
         " count(*) - count(cost_usd) AS unknown_cost_entries")
# The runs' own tokens and cost (`job_executions`, columns qualified by `e`).
_RUN_SUMS = f"{totals(*_TOKENS)}, {total('total_cost_usd')} AS cost_usd"
_E_RUN_SUMS = f"{totals(*_TOKENS, alias='e')}, {total('e.total_cost_usd')} AS cost_usd"


def _quarter(instant: datetime) -> str:
    """The quarter-hour key an instant falls in, as `usage_quarters` spells it."""
    text = to_db(instant)
    assert text is not None
    return f"{text[:14]}{int(text[14:16]) // 15 * 15:02d}"


class UsageQueries(Queries):
    @contextmanager
    def import_session(self) -> Iterator[None]:
        """Settings for a bulk import: the ledger is derived data that a re-import rebuilds,
        so its commits need not each wait for an fsync (WAL + NORMAL is still crash-safe for
        the database; only the last commits may be lost on power failure), and a larger page
        cache keeps the dedup index in memory."""
        if self.dialect.name != "sqlite":  # PostgreSQL: its server settings apply
            yield
            return
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute("PRAGMA cache_size = -65536")  # 64 MiB
        try:
            yield
        finally:
            self.db.execute("PRAGMA synchronous = FULL")
            self.db.execute("PRAGMA cache_size = -2000")

    def file_states(self) -> dict[str, Any]:
        """What was read of every transcript file seen so far, by path."""
        rows = self.db.execute(
            "SELECT path, size, mtime_ns, inode, head_len, head_hash, tail_hash, read_offset"
            " FROM usage_files")
        return {r[0]: r for r in rows}

    def save_files(self, rows: Iterable[tuple[Any, ...]], now: datetime) -> None:
        """Record how far files have been read: tuples in `FILE_COLUMNS` order. `rereads` is
        1 when a file was read again from the start; its counters then describe the new
        content, otherwise they grow by what was just read."""
        stamp = to_db(now)
        with self.write() as db:
            db.executemany(_SAVE_FILE, [(*row, stamp) for row in rows])

    def add_entries(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Insert API responses (tuples in `ENTRY_COLUMNS` order); one already in the ledger
        under the same dedup key is merged, never counted twice."""
        with self.write() as db:
            db.executemany(_UPSERT, rows)

    def clear_ledger(self) -> None:
        """Forget every imported response and every file position (`usage import --rebuild`)."""
        with self.write() as db:
            db.execute("DELETE FROM usage_entries")
            db.execute("DELETE FROM usage_quarters")
            db.execute("DELETE FROM usage_files")

    def counts(self) -> dict[str, int]:
        row = self.db.execute(
            "SELECT (SELECT count(*) FROM usage_entries) AS entries,"
            " (SELECT count(*) FROM usage_files) AS files,"
            " (SELECT coalesce(sum(malformed), 0) FROM usage_files) AS malformed_lines"
        ).fetchone()
        return {k: int(row[k]) for k in row.keys()}  # noqa: SIM118 (Any)

    def by_quarter_hour(self, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
        """Sums per UTC quarter hour and model for responses in [start, end), which must be
        quarter-hour instants (midnights in any zone are): tuples of (quarter, model, entries,
        input, output, cache write, cache read tokens, known cost, entries of unknown cost).

        Every UTC offset in use is a multiple of 15 minutes, so a local day or month is a
        whole number of quarter hours: the caller maps each one to its day in any zone.
        `quarter` is the quarter's start as 'YYYY-MM-DDTHH:MM'. Read from `usage_quarters`,
        which triggers keep equal to the entries.
        """
        cur = self.db.cursor()
        cur.row_factory = None  # plain tuples: a report reads thousands of these
        cur.execute(
            "SELECT quarter, model, entries, input_tokens, output_tokens,"
            " cache_creation_tokens, cache_read_tokens, known_cost_usd, unknown_cost_entries"
            " FROM usage_quarters WHERE quarter >= ? AND quarter < ? AND entries > 0",
            (_quarter(start), _quarter(end)),
        )
        return cur.fetchall()

    def by_session(self, start: datetime, end: datetime) -> list[Any]:
        """Sums per session and model, with the session's project and first/last response."""
        return self.db.execute(
            f"""
            SELECT coalesce(session_id, '') AS session_id, max(project) AS project,
                   coalesce(model, '') AS model, min(timestamp) AS first_at,
                   max(timestamp) AS last_at, {_SUMS}
              FROM usage_entries
             WHERE timestamp >= ? AND timestamp < ?
             GROUP BY session_id, model
            """,
            (to_db(start), to_db(end)),
        ).fetchall()

    def timeline(self, start: datetime, end: datetime) -> Iterator[Any]:
        """Every response in [start, end), oldest first (5-hour blocks need each instant)."""
        yield from self.db.execute(
            "SELECT timestamp, coalesce(model, '') AS model, input_tokens, output_tokens,"
            " cache_creation_tokens, cache_read_tokens, cost_usd FROM usage_entries"
            " WHERE timestamp >= ? AND timestamp < ? ORDER BY timestamp",
            (to_db(start), to_db(end)),
        )

    def by_job(self, start: datetime, end: datetime) -> list[Any]:
        """Per job (NULL: ad-hoc `cnp execute` runs), the Claude runs started in [start, end)
        and the tokens and cost their result events reported."""
        return self.db.execute(
            f"""
            SELECT e.job_id AS job_id, j.name AS job_name, count(*) AS runs,
                   count(e.total_cost_usd) AS runs_with_result, {_E_RUN_SUMS},
                   min(e.started_at) AS first_at, max(e.started_at) AS last_at
              FROM job_executions e LEFT JOIN jobs j ON j.id = e.job_id
             WHERE e.executor = 'claude' AND e.started_at IS NOT NULL
               AND e.started_at >= ? AND e.started_at < ?
             GROUP BY e.job_id, j.name
             ORDER BY e.job_id IS NULL, e.job_id
            """,
            (to_db(start), to_db(end)),
        ).fetchall()

    def runs_since(self, since: datetime) -> dict[str, Any]:
        """Runs started since `since` and their tokens and cost (cost None if none known)."""
        row = self.db.execute(
            "SELECT count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0),"
            " coalesce(sum(cache_creation_tokens), 0), coalesce(sum(cache_read_tokens), 0),"
            " sum(total_cost_usd) FROM job_executions WHERE started_at >= ?",
            (to_db(since),),
        ).fetchone()
        return {"runs": row[0], "input_tokens": row[1], "output_tokens": row[2],
                "cache_creation_tokens": row[3], "cache_read_tokens": row[4],
                "cost_usd": row[5]}

    def runs_by_quarter(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Runs started in [start, end) summed per UTC quarter hour ('YYYY-MM-DDTHH:MM').

        Every UTC offset in use is a multiple of 15 minutes, so the caller can map each
        quarter to its local day in any zone.
        """
        rows = self.db.execute(
            f"""
            SELECT substr(started_at, 1, 14)
                   || CASE CAST(substr(started_at, 15, 2) AS INTEGER) / 15
                      WHEN 0 THEN '00' WHEN 1 THEN '15' WHEN 2 THEN '30' ELSE '45' END
                   AS quarter,
                   count(*) AS runs, {_RUN_SUMS}
              FROM job_executions
             WHERE started_at >= ? AND started_at < ?
             GROUP BY quarter
            """,
            (to_db(start), to_db(end)),
        )
        return [dict(r) for r in rows]

    def runs_by_job(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Per job (job_id None: ad-hoc `cnp execute` runs), runs started in [start, end) with
        their tokens and cost, costliest first."""
        rows = self.db.execute(
            f"""
            SELECT g.*, j.name AS job_name FROM (
                SELECT +job_id AS job_id, count(*) AS runs, {_RUN_SUMS}
                  FROM job_executions
                 WHERE started_at >= ? AND started_at < ?
                 -- "+": group in a temporary table after one pass over the rows, rather
                 -- than walking the job index and fetching every row out of order. The
                 -- selected key is spelled the same, which PostgreSQL needs to match it.
                 GROUP BY +job_id
            ) g LEFT JOIN jobs j ON j.id = g.job_id
             ORDER BY g.cost_usd DESC, g.runs DESC, g.job_id
            """,
            (to_db(start), to_db(end)),
        )
        return [dict(r) for r in rows]
