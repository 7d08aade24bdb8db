"""The SQLite store (stdlib sqlite3): connection set-up, migrations on open, the mapping of
SQLite's errors to the project's, and the transactions.

Writes run inside `BEGIN IMMEDIATE` so a transaction that reads and then writes never fails
with "database is locked" halfway; the busy timeout makes concurrent writers wait their turn.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..config import DB_FILENAME, LEGACY_DB_FILENAME, path_text
from ..errors import CnpError, SchemaTooNew, StorageError
from .base import BaseStore
from .dbapi import ConstraintViolation, DatabaseError
from .dialect import SQLITE
from .migrations import MIGRATIONS, latest_version

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path


BUSY_TIMEOUT_MS = 10_000


# SQLite's primary result codes (the low byte of an extended code).
_BUSY, _LOCKED, _READONLY, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 11, 13, 14, 26


def storage_error(exc: sqlite3.Error, file: str) -> CnpError:
    """The project's error for what SQLite refused on the database `file`."""
    text = str(exc)
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if isinstance(exc, sqlite3.IntegrityError):
        return ConstraintViolation(f"{file}: {text}")
    if code in (_BUSY, _LOCKED):
        return DatabaseError(
            f"database {file} is locked: another process held it for longer than the busy "
            f"timeout ({text})", hint="try again; if it persists, look for a process that "
            "holds the database in a long transaction")
    if code == _READONLY:
        return DatabaseError(
            f"database {file} is read-only: {text}",
            hint="the file and its directory must be writable by this user (SQLite writes "
            "its journal next to the file)")
    if code == _CANTOPEN:
        return DatabaseError(
            f"database {file} cannot be opened: {text}",
            hint=f"the file and its directory must be readable and writable by this user "
            f"(SQLite creates {file}-wal and {file}-shm beside it)")
    if code in (_CORRUPT, _NOTADB):
        return DatabaseError(
            f"database {file} is corrupt or not an SQLite database: {text}",
            hint="restore it from a backup, or move it away and run `cnp init`")
    if code == _FULL:
        return DatabaseError(f"database {file}: the disk is full ({text})",
                             hint="free some space on its file system")
    return DatabaseError(f"database {file}: {text}")


class SqliteCursor:
    """A cursor of `SqliteConnection`: sqlite3's, with its errors mapped."""

    def __init__(self, cursor: sqlite3.Cursor, file: str) -> None:
        self._cursor = cursor
        self._file = file

    @property
    def row_factory(self) -> Any:
        return self._cursor.row_factory

    @row_factory.setter
    def row_factory(self, factory: Any) -> None:
        self._cursor.row_factory = factory

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def description(self) -> Any:
        return self._cursor.description

    def execute(self, sql: str, parameters: Any = ()) -> SqliteCursor:
        try:
            self._cursor.execute(sql, parameters)
        except sqlite3.Error as exc:
            raise storage_error(exc, self._file) from exc
        return self

    def fetchone(self) -> Any:
        try:
            return self._cursor.fetchone()
        except sqlite3.Error as exc:
            raise storage_error(exc, self._file) from exc

    def fetchall(self) -> list[Any]:
        try:
            return self._cursor.fetchall()
        except sqlite3.Error as exc:
            raise storage_error(exc, self._file) from exc

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._cursor
        except sqlite3.Error as exc:
            raise storage_error(exc, self._file) from exc


class SqliteConnection:
    """sqlite3 behind the interface the query objects use (`store/dbapi.py`): the one place
    where SQLite's errors become the project's, each naming the database file."""

    def __init__(self, conn: sqlite3.Connection, file: str) -> None:
        self.conn = conn
        self.file = file

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def execute(self, sql: str, parameters: Any = ()) -> SqliteCursor:
        return SqliteCursor(self.conn.cursor(), self.file).execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any]) -> SqliteCursor:
        cursor = self.conn.cursor()
        try:
            cursor.executemany(sql, parameters)
        except sqlite3.Error as exc:
            raise storage_error(exc, self.file) from exc
        return SqliteCursor(cursor, self.file)

    def cursor(self) -> SqliteCursor:
        return SqliteCursor(self.conn.cursor(), self.file)

    def close(self) -> None:
        self.conn.close()


class SqliteStore(BaseStore):
    """One connection to one database file. Not shared between threads."""

    dialect = SQLITE
    materialize_batch = 200  # due jobs per transaction (scheduler.materialize_due)
    db: SqliteConnection

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        # The file as text: SQLite needs no more, and a `Path` (pathlib) is made only when
        # asked for (`path`).
        self.file = path_text(path)
        self._path = None if isinstance(path, str) else path
        self._depth = 0
        self._prepare_file(create)
        try:
            conn = sqlite3.connect(
                self.file, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
            )
            conn.row_factory = sqlite3.Row
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            # FULL: a run's state change is on disk before we act on it (spawn, report).
            conn.execute("PRAGMA synchronous = FULL")
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc):
                raise StorageError(
                    f"{self.file} is not an SQLite database; refusing to touch it",
                    hint="point --db or CNP_DB at a Claude Night Pilot database, "
                    "or move the file",
                ) from exc
            raise storage_error(exc, self.file) from exc
        self.db = SqliteConnection(conn, self.file)
        self._migrate()

    @property
    def path(self) -> Path:
        """The database file."""
        if self._path is None:
            from pathlib import Path

            self._path = Path(self.file)
        return self._path

    # -- set-up ------------------------------------------------------------------------------

    def _prepare_file(self, create: bool) -> None:
        file = self.file
        try:
            st: os.stat_result | None = os.stat(file)
        except OSError as exc:
            # As Path.exists() and is_dir(): a missing file, or a path through a file or a
            # loop, is no file; any other failure (no permission to look) is raised.
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP):
                raise
            st = None
        except ValueError:  # a path that cannot be encoded (or holds a NUL)
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise StorageError(f"database path {file} is a directory, not a file")
        if st is not None:
            # Never open() the database file ourselves: closing any descriptor of it drops
            # every POSIX lock this process holds on it, including SQLite's own, and another
            # process may then delete the WAL under our feet. A file that is not SQLite is
            # caught by the first query instead (which writes nothing).
            return
        if not create:
            raise StorageError(f"database {file} does not exist", hint="run `cnp init` first")
        if os.path.basename(file) == LEGACY_DB_FILENAME:
            # The old tool's name is read (migrate legacy), never created.
            raise StorageError(
                f"refusing to create {file}: {LEGACY_DB_FILENAME} is the old tool's name",
                hint=f"use {DB_FILENAME}, the default, or any other name")
        parent = os.path.dirname(file) or "."
        try:
            os.makedirs(parent, mode=0o700, exist_ok=True)
            # Created here, not by sqlite3, so it is private (0600) from the first byte.
            fd = os.open(file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
        except FileExistsError:
            return  # another process created it a moment ago
        except OSError as exc:
            raise StorageError(
                f"cannot create the database in {parent}: {exc.strerror or exc}",
                hint="choose a writable location with --db, CNP_DB or CNP_HOME",
            ) from exc

    def _migrate(self) -> None:
        current = self.schema_version()
        target = latest_version()
        if current > target:
            raise SchemaTooNew(
                f"database {self.file} has schema version {current}, but this version of cnp "
                f"only knows up to {target}",
                hint="upgrade claude-night-pilot; an older cnp must not write to a newer database",
            )
        if current == target:
            return
        with self.write() as db:
            # Re-read inside the lock: another process may have migrated meanwhile.
            current = db.execute("PRAGMA user_version").fetchone()[0]
            for version, name, apply in MIGRATIONS:
                if version <= current:
                    continue
                try:
                    apply(self.db.conn)
                except sqlite3.Error as exc:
                    raise StorageError(
                        f"migrating database {self.file} to schema version {version} ({name}) "
                        f"failed, nothing was changed: {exc}",
                        hint="the file holds something this version of cnp did not create; "
                        "restore it from a backup, or move it away and run `cnp init`",
                    ) from exc
                db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at)"
                    " VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                    (version, name),
                )
                db.execute(f"PRAGMA user_version = {version}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions (the logic is store/txn.py's) -------------------------------------------

    def _begin(self) -> None:
        # IMMEDIATE: the write lock is taken now, so a transaction that reads and then writes
        # never fails halfway with "database is locked".
        self.db.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        try:
            self.db.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.conn.execute("ROLLBACK")
            raise storage_error(exc, self.file) from exc

    def _rollback(self) -> None:
        self.db.conn.execute("ROLLBACK")

    def _control(self, sql: str) -> None:
        self.db.execute(sql)

    # -- facts -------------------------------------------------------------------------------

    def probe_write(self) -> None:
        """Prove that we could write now (takes and releases the write lock, changes nothing)."""
        # SQLite can append to the WAL of a file it could never checkpoint into, so the file
        # and its directory are checked as well as the lock.
        for target in (self.file, os.path.dirname(self.file) or "."):
            if not os.access(target, os.W_OK):
                raise StorageError(f"{target} is not writable by this user")
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("ROLLBACK")

    def integrity_check(self) -> str:
        rows = self.db.execute("PRAGMA quick_check").fetchall()
        return "; ".join(str(r[0]) for r in rows)

    def schema_version(self) -> int:
        version: int = self.db.execute("PRAGMA user_version").fetchone()[0]
        return version

    # -- what a single writer needs no machinery for ----------------------------------------

    def lock_jobs(self, job_ids: list[int]) -> set[int]:
        """Serialize decisions about these jobs with other writers: `BEGIN IMMEDIATE` already
        holds the whole database, so every job is ours for the transaction."""
        return set(job_ids)

    def wake_daemons(self) -> None:
        """Nothing to send: a daemon on SQLite looks at the database at least every second."""

    def try_lock(self, purpose: str) -> bool:
        """Maintenance needs no lock of its own: the daemon lock (`daemons.DaemonLock`) already
        makes the running daemon the only one on this file."""
        return True

    def unlock(self, purpose: str) -> None:
        pass

    def db_now(self) -> None:
        """SQLite has no clock of its own: the daemon's clock is the only one."""
        return None
