"""Reading the legacy Rust tool's database for `cnp migrate legacy`.

The legacy file is only ever opened through SQLite, read-only (`mode=ro`): never with Python's
`open()` (closing any descriptor of a database file drops this process's POSIX locks on it,
SQLite's included) and never in a mode that could create it. All of it is read inside one read
transaction, so a legacy tool still writing to it cannot hand us a torn picture.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, NamedTuple

from ..config import DB_FILENAME, LEGACY_DB_FILENAME
from ..errors import InvalidInput, StorageError

# The legacy tables we map, and the columns each must have for a row to mean anything.
LEGACY_TABLES = ("prompts", "schedules", "execution_results", "token_usage_stats")
REQUIRED_TABLES = ("prompts", "schedules")
REQUIRED_COLUMNS = {
    "prompts": ("id", "title", "content"),
    "schedules": ("id", "prompt_id"),
    "execution_results": ("id", "schedule_id"),
}


# -- what is read -------------------------------------------------------------------------------


class LegacyTable(NamedTuple):
    name: str
    columns: list[str]
    rows: list[dict[str, Any]]


class LegacyData(NamedTuple):
    """Everything read from one legacy file: the known tables, and the others' row counts."""

    path: Path
    tables: dict[str, LegacyTable]
    other_tables: dict[str, int]

    def rows(self, name: str) -> list[dict[str, Any]]:
        table = self.tables.get(name)
        return table.rows if table is not None else []


class Probe(NamedTuple):
    """What a file turned out to be: `legacy`, `cnp` (one of ours), `not_sqlite`,
    `unreadable` or `other` (SQLite, but not the legacy schema)."""

    kind: str
    detail: str = ""


def _open_read_only(path: Path) -> sqlite3.Connection:
    from urllib.parse import quote

    # A URI with mode=ro: SQLite never creates the file and never writes to it.
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=5.0)
    db.row_factory = sqlite3.Row
    return db


def _master(db: sqlite3.Connection) -> dict[str, str]:
    rows = db.execute(
        "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')"
        " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    )
    return {r["name"]: r["type"] for r in rows}


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def probe(path: Path) -> Probe:
    """Say what an existing file is, reading nothing but its table list."""
    try:
        db = _open_read_only(path)
    except sqlite3.Error as exc:
        return Probe("unreadable", str(exc))
    try:
        tables = _master(db)
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            return Probe("not_sqlite", "not an SQLite database")
        return Probe("unreadable", str(exc))
    finally:
        db.close()
    if "schema_migrations" in tables:
        return Probe("cnp", "a Claude Night Pilot database (it has schema_migrations)")
    missing = [t for t in REQUIRED_TABLES if tables.get(t) != "table"]
    if missing:
        return Probe("other", f"no legacy {' or '.join(missing)} table")
    return Probe("legacy", "the legacy schema")

def read(path: Path) -> LegacyData:
    """Read the legacy tables whole, in one read transaction, opened read-only."""
    try:
        db = _open_read_only(path)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open {path} read-only: {exc}") from exc
    try:
        db.execute("PRAGMA query_only = ON")
        db.execute("BEGIN")
        try:
            return _read_tables(db, path)
        finally:
            db.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise StorageError(
                f"{path} is not an SQLite database; nothing was imported",
                hint=f"give the legacy tool's database file ({LEGACY_DB_FILENAME} or "
                f"{DB_FILENAME} where the old tool ran)",
            ) from exc
        raise StorageError(f"cannot read the legacy database {path}: {exc}") from exc
    finally:
        db.close()

def _read_tables(db: sqlite3.Connection, path: Path) -> LegacyData:
    master = _master(db)
    if "schema_migrations" in master:
        raise InvalidInput(
            f"{path} is a Claude Night Pilot database, not the legacy tool's",
            hint="`cnp migrate legacy` imports the old Rust tool's database",
        )
    missing = [t for t in REQUIRED_TABLES if master.get(t) != "table"]
    if missing:
        found = ", ".join(sorted(master)) or "no tables at all"
        raise InvalidInput(
            f"{path} is not a legacy Claude Night Pilot database: it has no "
            f"{' or '.join(missing)} table (found: {found})"
        )
    tables: dict[str, LegacyTable] = {}
    for name in LEGACY_TABLES:
        if master.get(name) != "table":
            continue
        columns = [r["name"] for r in db.execute(f"PRAGMA table_info({_quoted(name)})")]
        absent = [c for c in REQUIRED_COLUMNS.get(name, ()) if c not in columns]
        if absent:
            raise InvalidInput(
                f"{path}: the legacy {name} table has no {', '.join(absent)} column "
                f"(it has {', '.join(columns)})"
            )
        order = " ORDER BY id" if "id" in columns else " ORDER BY rowid"
        rows = [dict(r) for r in db.execute(f"SELECT * FROM {_quoted(name)}{order}")]
        tables[name] = LegacyTable(name, columns, rows)
    others = {
        name: db.execute(f"SELECT count(*) FROM {_quoted(name)}").fetchone()[0]
        for name, kind in sorted(master.items())
        if kind == "table" and name not in LEGACY_TABLES
    }
    return LegacyData(path=path, tables=tables, other_tables=others)
