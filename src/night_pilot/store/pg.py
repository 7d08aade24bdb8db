"""The PostgreSQL store (psycopg 3): the same schema, migrations and queries as SQLite, for
several daemons on several hosts sharing one database.

The queries are written once, in SQL both backends run as written; what differs is the
dialect's (`store/dialect.py`). `PgConnection` runs them on psycopg, its `%s` placeholders for
the queries' `?`. What SQLite gets from its single writer lock,
PostgreSQL gets from row locks: due jobs and claimable runs are selected `FOR UPDATE SKIP
LOCKED`, and `lock_jobs` serializes the overlap decision for a job across daemons.

Time: every instant is stored as the same fixed-width UTC text as in SQLite. `db_now` reads the
server's clock, which the daemon uses for every due and lease decision, so hosts whose clocks
disagree still agree on what is due.

Each installation lives in one schema (`search_path`, default `public`); the wake-up channel
and the advisory-lock keys are derived from the schema's name, so several installations can
share a server without waking or blocking each other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import Loader

from ..config import redact_url
from ..errors import SchemaTooNew, StorageError
from .base import BaseStore
from .dbapi import ConstraintViolation, DatabaseError
from .dialect import POSTGRES
from .migrations import MIGRATIONS, PG_MIGRATIONS, latest_version
from .timefmt import to_db

CONNECT_TIMEOUT_S = 10

_LITERAL = re.compile(r"('(?:[^']|'')*')")


@lru_cache(maxsize=1024)
def placeholders(sql: str) -> str:
    """The queries' `?` placeholders as psycopg's `%s` (and a literal `%` as `%%`), outside
    string literals."""
    parts = _LITERAL.split(sql)
    for i in range(0, len(parts), 2):  # even parts are outside string literals
        parts[i] = parts[i].replace("%", "%%").replace("?", "%s")
    return "".join(parts)


# -- rows and cursors ----------------------------------------------------------------------------


class PgRow(tuple[Any, ...]):
    """A result row readable as `row[0]` and `row["name"]`, and `dict(row)`, like sqlite3.Row."""

    _index: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    return _row_type(tuple(c.name for c in cursor.description or ()))


@lru_cache(maxsize=512)
def _row_type(names: tuple[str, ...]) -> type[PgRow]:
    """One row class per column list, made once: queries run thousands of times a minute."""
    return type("Row", (PgRow,), {"_index": {n: i for i, n in enumerate(names)}})


class _NumberLoader(Loader):
    """`numeric` (what sum() of integers gives) as int when whole, else float: the values are
    token counts and dollars, never money arithmetic, and JSON needs plain numbers."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        if "." in text or "e" in text.lower() or text.lower() in ("nan", "infinity",
                                                                   "-infinity"):
            return float(text)
        return int(text)


class PgCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self.row_factory: Any = _row_factory

    @property
    def rowcount(self) -> int:
        count: int = self._cursor.rowcount
        return count

    @property
    def description(self) -> Any:
        return [(c.name,) for c in self._cursor.description or ()]

    def execute(self, sql: str, parameters: Any = ()) -> PgCursor:
        text = placeholders(sql)
        if self.row_factory is None:
            self._cursor.row_factory = psycopg.rows.tuple_row
        with _errors():
            self._cursor.execute(text, tuple(parameters))
        return self

    def fetchone(self) -> Any:
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list[Any]:
        rows: list[Any] = self._cursor.fetchall() if self._cursor.description else []
        return rows

    def __iter__(self) -> Iterator[Any]:
        if self._cursor.description:
            yield from self._cursor


class PgConnection:
    """psycopg behind the interface the query objects use (`store/dbapi.py`)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    @property
    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status != pq.TransactionStatus.IDLE

    def execute(self, sql: str, parameters: Any = ()) -> PgCursor:
        cur = self.conn.cursor(row_factory=_row_factory)
        with _errors():
            cur.execute(placeholders(sql), tuple(parameters))
        return PgCursor(cur)

    def executemany(self, sql: str, parameters: Iterable[Any]) -> PgCursor:
        text = placeholders(sql)
        cur = self.conn.cursor(row_factory=_row_factory)
        with _errors():
            cur.executemany(text, [tuple(p) for p in parameters])
        return PgCursor(cur)

    def execute_raw(self, sql: str, parameters: Sequence[Any] | None = None) -> PgCursor:
        """PostgreSQL's own SQL with its own placeholders (migrations, locks, LISTEN/NOTIFY)."""
        cur = self.conn.cursor(row_factory=_row_factory)
        with _errors():
            cur.execute(sql.encode(), parameters)  # bytes: no `%` placeholders unless parameters
        return PgCursor(cur)

    def cursor(self) -> PgCursor:
        return PgCursor(self.conn.cursor(row_factory=_row_factory))

    def close(self) -> None:
        self.conn.close()


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        message = f"database error: {_first_line(exc)}"
        if (exc.sqlstate or "").startswith("23"):
            raise ConstraintViolation(message, exc.sqlstate) from exc
        raise DatabaseError(message, exc.sqlstate) from exc


def connect(url: str) -> PgConnection:
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                               application_name="cnp")
    except psycopg.OperationalError as exc:
        raise StorageError(f"cannot connect to {redact_url(url)}: {_first_line(exc)}",
                           hint="check the URL, that the server runs, and the credentials"
                           ) from exc
    conn.adapters.register_loader("numeric", _NumberLoader)
    return PgConnection(conn)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class PostgresStore(BaseStore):
    """One connection to a PostgreSQL database. Not shared between threads."""

    dialect = POSTGRES
    materialize_batch = 20  # due jobs per transaction: small, so daemons share a burst
    db: PgConnection

    def __init__(self, url: str, *, create: bool = True, migrate: bool = True) -> None:
        """Connect, and bring the schema up to date unless `migrate` is false (`cnp migrate
        copy` migrates inside its own transaction, so that a failed copy leaves no tables)."""
        self.url = url
        self.path = None
        self._depth = 0
        self.db = connect(url)
        try:
            schema = self.db.execute_raw("SELECT current_schema()").fetchone()[0]
            if schema is None:
                raise StorageError(
                    f"{redact_url(url)}: no schema on the search_path exists",
                    hint="create it, or point search_path (options=-csearch_path=...) at one")
            self.schema: str = schema
            # Identifiers derived from the schema: one channel and one lock space per
            # installation, even when several share a server.
            self.channel = "cnp_wake_" + re.sub(r"[^a-z0-9_]", "_", schema.lower())[:40]
            if not create and self.schema_version() == 0:
                raise StorageError(f"database {redact_url(url)} has no Claude Night Pilot "
                                   "schema", hint="run `cnp init` first")
            if migrate:
                self.migrate()
        except BaseException:
            self.db.close()
            raise

    def display(self) -> str:
        return redact_url(self.url)

    # -- set-up ------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Apply the migrations this schema lacks, in one transaction (or the caller's)."""
        current = self.schema_version()
        target = latest_version()
        if current > target:
            raise SchemaTooNew(
                f"database {self.display()} has schema version {current}, but this version of "
                f"cnp only knows up to {target}",
                hint="upgrade claude-night-pilot; an older cnp must not write to a newer database",
            )
        if current == target:
            return
        missing = [v for v, _, _ in MIGRATIONS if v not in PG_MIGRATIONS]
        assert not missing, f"migrations without a PostgreSQL variant: {missing}"
        with self.write() as db:
            # Concurrent openers (four daemons starting at once) migrate one at a time.
            db.execute_raw("SELECT pg_advisory_xact_lock(hashtext(%s))",
                           (self.schema + ":migrate",))
            current = self.schema_version()
            for version, name, _ in MIGRATIONS:
                if version <= current:
                    continue
                PG_MIGRATIONS[version](db)
                db.execute("INSERT INTO schema_migrations (version, name, applied_at)"
                           " VALUES (?, ?, ?)", (version, name, to_db(datetime.now(UTC))))

    def schema_version(self) -> int:
        exists = self.db.execute_raw("SELECT to_regclass('schema_migrations')").fetchone()[0]
        if exists is None:
            return 0
        version = self.db.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
        return int(version or 0)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions (the logic is store/txn.py's) -------------------------------------------

    def _begin(self) -> None:
        try:
            self.db.execute_raw("BEGIN")  # READ COMMITTED; row locks do the rest
        except StorageError as exc:
            raise StorageError(f"cannot write to {self.display()}: {exc.message}") from exc

    def _commit(self) -> None:
        try:
            self.db.execute_raw("COMMIT")
        except StorageError as exc:
            if self.db.in_transaction:
                self.db.execute_raw("ROLLBACK")
            raise StorageError(f"cannot commit to {self.display()}: {exc.message}") from exc

    def _rollback(self) -> None:
        if not self.db.conn.closed:
            self.db.execute_raw("ROLLBACK")

    def _control(self, sql: str) -> None:
        self.db.execute_raw(sql)

    # -- facts -------------------------------------------------------------------------------

    def probe_write(self) -> None:
        """Prove that we could write now: a primary (not a read-only replica) that lets us
        change the tables."""
        row = self.db.execute_raw(
            "SELECT pg_is_in_recovery(), has_table_privilege('jobs', 'INSERT, UPDATE'),"
            " has_table_privilege('job_executions', 'INSERT, UPDATE')").fetchone()
        if row[0]:
            raise StorageError(f"{self.display()} is a read-only standby")
        if not (row[1] and row[2]):
            raise StorageError(f"this user may not write the tables of {self.display()}")

    def integrity_check(self) -> str:
        """Every table the schema defines is there and readable ('ok'), else what is not."""
        problems = []
        for table in ("prompts", "jobs", "job_executions", "execution_events", "cooldowns",
                      "usage_entries", "usage_files", "usage_quarters", "daemons",
                      "notifications", "notification_targets", "counters", "audit_log"):
            if self.db.execute_raw("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
                problems.append(f"table {table} is missing")
        return "; ".join(problems) or "ok"

    # -- what several daemons need -----------------------------------------------------------

    def db_now(self) -> datetime:
        """The database server's clock: the one clock every daemon agrees on."""
        value: datetime = self.db.execute_raw("SELECT clock_timestamp()").fetchone()[0]
        return value.astimezone(UTC)

    def lock_jobs(self, job_ids: list[int]) -> set[int]:
        """Inside a write transaction: hold these jobs' rows until it ends, so that two
        daemons deciding about the same job (overlap) decide one after the other. Jobs another
        transaction holds are skipped, not waited for; returns the ids now held."""
        if not job_ids:
            return set()
        rows = self.db.execute_raw(
            "SELECT id FROM jobs WHERE id = ANY(%s) FOR UPDATE SKIP LOCKED", (list(job_ids),))
        return {r[0] for r in rows}

    def wake_daemons(self) -> None:
        """Tell every listening daemon that jobs or runs changed (sent when the transaction
        commits; nothing is sent if it rolls back)."""
        self.db.execute_raw("SELECT pg_notify(%s, '')", (self.channel,))

    def try_lock(self, purpose: str) -> bool:
        """A session-level advisory lock for `purpose` (maintenance); False if another
        session holds it. Released by `unlock` or when this connection ends."""
        got: bool = self.db.execute_raw("SELECT pg_try_advisory_lock(hashtext(%s))",
                                        (f"{self.schema}:{purpose}",)).fetchone()[0]
        return got

    def unlock(self, purpose: str) -> None:
        self.db.execute_raw("SELECT pg_advisory_unlock(hashtext(%s))",
                            (f"{self.schema}:{purpose}",))

    def listener(self) -> Listener:
        return Listener(self.url, self.channel)


class Listener:
    """A connection of its own that LISTENs on the installation's wake-up channel."""

    def __init__(self, url: str, channel: str) -> None:
        self.db = connect(url)
        self.db.execute_raw(f'LISTEN "{channel}"')

    def wait(self, timeout: float) -> bool:
        """True if a notification arrived within `timeout` seconds."""
        for _ in self.db.conn.notifies(timeout=timeout, stop_after=1):
            return True
        return False

    def close(self) -> None:
        self.db.close()
