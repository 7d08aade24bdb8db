"""The row I/O of `cnp migrate copy`: reading a cnp SQLite database, read-only, and writing its
rows, ids included, into a PostgreSQL store inside the caller's transaction.

The source is opened only through SQLite, with `mode=ro` (never created, never written, never
opened with `open()`), and read inside one read transaction, so a daemon still writing to it
cannot hand the copy a torn picture. A source at an older schema version is upgraded on a
private copy made with SQLite's backup API (`upgraded_copy`), never in place.

The target side joins the caller's `store.write()`: `migrate_copy` wraps the lock, the
emptiness check, every insert, the read-back and the audit entry in one transaction, so a failure
anywhere leaves the target as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..config import redact_url
from ..errors import Conflict, StorageError
from .audit import record

if TYPE_CHECKING:
    from .pg import PostgresStore

BATCH = 1000  # rows read from the source and sent to the target at a time
AUDIT_ACTION = "migrate_copy"


class CopyTable(NamedTuple):
    name: str
    key: tuple[str, ...]  # the columns that identify a row (for the sample)
    identity: bool  # an `id` the target numbers itself (its sequence must move past ours)


# Every table that holds data, parents before children (foreign keys hold at every insert).
# `schema_migrations` is not copied: both sides are at the code's version.
COPY_TABLES: tuple[CopyTable, ...] = (
    CopyTable("prompts", ("id",), True),
    CopyTable("jobs", ("id",), True),
    CopyTable("imported_tasks", ("source", "origin", "task_id"), False),
    CopyTable("job_executions", ("id",), True),
    CopyTable("execution_events", ("execution_id", "seq"), False),
    CopyTable("cooldowns", ("id",), True),
    CopyTable("quota_windows", ("account", "window_name"), False),
    CopyTable("usage_files", ("id",), True),
    CopyTable("usage_entries", ("id",), True),
    CopyTable("usage_quarters", ("quarter", "model"), False),
    CopyTable("daemons", ("instance_id",), False),
    CopyTable("daemon_ceilings", ("instance_id",), False),
    CopyTable("notification_targets", ("id",), True),
    CopyTable("notifications", ("id",), True),
    CopyTable("counters", ("name",), False),
    CopyTable("audit_log", ("id",), True),
)
TABLES_BY_NAME = {t.name: t for t in COPY_TABLES}


class SourceProbe(NamedTuple):
    """What a file is: `cnp` (with its schema version), `legacy`, `other` or `not_sqlite`."""

    kind: str
    version: int = 0
    detail: str = ""


class TargetState(NamedTuple):
    """A PostgreSQL schema before the copy, read without writing anything."""

    schema: str
    version: int  # 0: no cnp schema yet
    counts: dict[str, int]  # rows per copied table (tables that do not exist yet: 0)
    foreign_tables: list[str]  # tables that are not cnp's (only looked for without a schema)
    fencing: int


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _open_read_only(path: Path) -> sqlite3.Connection:
    from urllib.parse import quote

    # mode=ro: SQLite never creates the file and never writes to it.
    db = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True,
                         isolation_level=None, timeout=10.0)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA query_only = ON")
    return db


# -- the source ---------------------------------------------------------------------------------


def probe_source(path: Path) -> SourceProbe:
    """Say what an existing file is, reading only its table list and version."""
    try:
        db = _open_read_only(path)
    except sqlite3.Error as exc:
        return SourceProbe("unreadable", detail=str(exc))
    try:
        names = {r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            return SourceProbe("not_sqlite", detail="not an SQLite database")
        return SourceProbe("unreadable", detail=str(exc))
    finally:
        db.close()
    if "schema_migrations" in names:
        return SourceProbe("cnp", version)
    if {"prompts", "schedules"} <= names:
        return SourceProbe("legacy", detail="the legacy tool's database")
    found = ", ".join(sorted(names)) or "no tables at all"
    return SourceProbe("other", detail=f"SQLite without cnp's schema (found: {found})")


@contextmanager
def upgraded_copy(path: Path, workdir: Path) -> Iterator[Path]:
    """A private copy of the source (SQLite's backup API) migrated to the code's schema
    version by opening it as cnp does; the source itself is only read."""
    from .sqlite import SqliteStore

    copy = workdir / "source-upgraded.db"
    src = _open_read_only(path)
    try:
        dst = sqlite3.connect(copy)
        try:
            src.backup(dst)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise StorageError(f"cannot make a copy of {path} to upgrade: {exc}") from exc
    finally:
        src.close()
    copy.chmod(0o600)
    SqliteStore(copy).close()
    yield copy


class CopySource:
    """A cnp SQLite database opened read-only, inside one read transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.db = _open_read_only(path)
            self.db.execute("BEGIN")
            self.tables = {r[0] for r in self.db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc

    def close(self) -> None:
        try:
            if self.db.in_transaction:
                self.db.execute("COMMIT")
        finally:
            self.db.close()

    def __enter__(self) -> CopySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def columns(self, table: str) -> list[str]:
        return [r["name"] for r in self.db.execute(f"PRAGMA table_info({_quoted(table)})")]

    def count(self, table: str) -> int:
        if table not in self.tables:
            return 0
        return int(self.db.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchone()[0])

    def max_id(self, table: str) -> int:
        return int(self.db.execute(
            f"SELECT coalesce(max(id), 0) FROM {_quoted(table)}").fetchone()[0])

    def high_water(self) -> dict[str, int]:
        """The highest id each AUTOINCREMENT table ever handed out (deleted rows included)."""
        if "sqlite_sequence" not in self.tables:
            return {}
        return {r[0]: int(r[1]) for r in self.db.execute("SELECT name, seq FROM sqlite_sequence")}

    def open_work(self) -> tuple[int, int]:
        """Runs queued or running, and daemons not recorded as stopped, when it was read."""
        runs = self.db.execute("SELECT count(*) FROM job_executions"
                               " WHERE status IN ('queued', 'running')").fetchone()[0]
        daemons = self.db.execute(
            "SELECT count(*) FROM daemons WHERE stopped_at IS NULL").fetchone()[0]
        return int(runs), int(daemons)

    def counters(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self.db.execute("SELECT name, value FROM counters")}

    def rows(self, table: CopyTable, columns: Sequence[str]) -> Iterator[list[tuple[Any, ...]]]:
        """The table's rows in key order, `BATCH` at a time, values in `columns` order."""
        cols = ", ".join(_quoted(c) for c in columns)
        order = ", ".join(_quoted(c) for c in table.key)
        cur = self.db.cursor()
        cur.row_factory = None
        try:
            cur.execute(f"SELECT {cols} FROM {_quoted(table.name)} ORDER BY {order}")
            while batch := cur.fetchmany(BATCH):
                yield batch
        finally:
            cur.close()


# -- the target ---------------------------------------------------------------------------------


def target_state(url: str) -> TargetState:
    """The target's schema version and row counts, read without migrating or writing."""
    from . import require_postgres

    require_postgres(redact_url(url))
    from .pg import connect

    db = connect(url)
    try:
        schema = db.execute_raw("SELECT current_schema()").fetchone()[0]
        if schema is None:
            raise StorageError(
                f"{redact_url(url)}: no schema on the search_path exists",
                hint="create it, or point search_path (options=-csearch_path=...) at one")
        exists = set()
        for table in [*(t.name for t in COPY_TABLES), "schema_migrations"]:
            if db.execute_raw("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None:
                exists.add(table)
        version = 0
        if "schema_migrations" in exists:
            version = int(db.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
                          .fetchone()[0])
        counts = {t.name: int(db.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0])
                  if t.name in exists else 0 for t in COPY_TABLES}
        fencing = 0
        if "counters" in exists:
            row = db.execute("SELECT value FROM counters WHERE name = 'fencing'").fetchone()
            fencing = int(row[0]) if row else 0
        foreign: list[str] = []
        if version == 0:
            foreign = [r[0] for r in db.execute_raw(
                "SELECT c.relname FROM pg_class c WHERE c.relnamespace ="
                " current_schema()::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p', 'f')"
                " ORDER BY 1")]
        return TargetState(schema, version, counts, foreign, fencing)
    finally:
        db.close()


def lock_target(store: PostgresStore) -> None:
    """Inside the copy's transaction: nobody else writes the copied tables until it ends (a
    daemon already running on the target makes the copy wait, then fail, not interleave)."""
    store.db.execute_raw("SET LOCAL lock_timeout = '10s'")
    names = ", ".join(t.name for t in COPY_TABLES)
    store.db.execute_raw(f"LOCK TABLE {names} IN EXCLUSIVE MODE")


def target_counts(store: PostgresStore) -> dict[str, int]:
    return {t.name: int(store.db.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0])
            for t in COPY_TABLES}


def target_counters(store: PostgresStore) -> dict[str, int]:
    return {r[0]: int(r[1]) for r in store.db.execute("SELECT name, value FROM counters")}


def clear_target(store: PostgresStore, tables: Iterable[str]) -> dict[str, int]:
    """Delete every row of these tables (children first), for `--replace`."""
    deleted = {}
    wanted = set(tables)
    for table in reversed(COPY_TABLES):
        if table.name in wanted and table.name != "counters":
            deleted[table.name] = store.db.execute(f"DELETE FROM {table.name}").rowcount
    return deleted


def target_columns(store: PostgresStore, table: str) -> list[str]:
    rows = store.db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema ="
        " current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))
    return [r[0] for r in rows]


def insert_rows(store: PostgresStore, table: str, columns: Sequence[str],
                rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert rows as they are, ids included."""
    if not rows:
        return 0
    marks = ", ".join("?" * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    with _refused(table):
        store.db.executemany(sql, rows)
    return len(rows)


def link_retries(store: PostgresStore, links: Sequence[tuple[int, int]]) -> None:
    """Set `retry_of` on runs inserted before the attempt they continue was (rare: an id
    order that does not follow creation)."""
    with _refused("job_executions"):
        store.db.executemany("UPDATE job_executions SET retry_of = ? WHERE id = ?",
                             [(retry_of, run_id) for run_id, retry_of in links])


def clear_usage_quarters(store: PostgresStore) -> None:
    """The target's triggers sum each copied usage entry into `usage_quarters`; the source's
    own sums are copied instead, so the table ends equal to the source's."""
    store.db.execute("DELETE FROM usage_quarters")


def merge_counters(store: PostgresStore, source: dict[str, int]) -> dict[str, int]:
    """Each counter becomes the higher of both sides' values (fencing tokens never go back)."""
    with _refused("counters"):
        for name, value in source.items():
            store.db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name)"
                " DO UPDATE SET value = CASE WHEN excluded.value > counters.value"
                " THEN excluded.value ELSE counters.value END", (name, value))
    return target_counters(store)


def advance_identity(store: PostgresStore, table: str, floor: int) -> int:
    """Move the table's id sequence so the next id is above `floor` and every stored id;
    returns the id the next new row gets."""
    top = int(store.db.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0])
    last = max(top, floor)
    seq = store.db.execute_raw("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()[0]
    if seq is None:
        raise StorageError(f"the target's {table}.id has no sequence; is it a cnp schema?")
    if last > 0:
        store.db.execute_raw("SELECT setval(%s, %s)", (seq, last))
        return last + 1
    # Nothing stored and nothing to move past: the sequence stays where it is.
    row = store.db.execute_raw(f"SELECT last_value, is_called FROM {seq}").fetchone()
    return int(row[0]) + 1 if row[1] else int(row[0])


def fetch_rows(store: PostgresStore, table: CopyTable, keys: Sequence[tuple[Any, ...]]
               ) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The target's rows with these keys, by key."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    where = " AND ".join(f"{c} = ?" for c in table.key)
    for key in keys:
        row = store.db.execute(f"SELECT * FROM {table.name} WHERE {where}", key).fetchone()
        if row is not None:
            out[key] = dict(row)
    return out


def record_copy(store: PostgresStore, report: dict[str, Any], now: Any) -> int:
    """The report as an audit entry of the target, in the copy's transaction."""
    return record(store.db, now, AUDIT_ACTION, "database", None, report)


@contextmanager
def _refused(table: str) -> Iterator[None]:
    """The target refusing a copied row fails the whole copy (the caller rolls back)."""
    try:
        yield
    except (StorageError, Conflict) as exc:  # Conflict: a constraint refused the row
        raise StorageError(
            f"the target refused a row of {table}: {exc.message}; nothing was copied",
            hint="the source holds a value PostgreSQL's column type or constraints do not "
            "take; fix that row in the source (or delete it) and copy again",
        ) from exc
