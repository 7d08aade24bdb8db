"""The SQLite store (stdlib sqlite3): connection set-up, migrations on open, and every query.

Writes run inside `BEGIN IMMEDIATE` so a transaction that reads and then writes never fails
with "database is locked" halfway; the busy timeout makes concurrent writers wait their turn.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from abc import ABCMeta

from ..config import DB_FILENAME, LEGACY_DB_FILENAME, path_text
from ..errors import SchemaTooNew, StorageError
from .core import CoreQueries
from .migrations import MIGRATIONS, latest_version
from .txn import Transactions

TYPE_CHECKING = False  # typing's, without importing typing (docs/architecture.md)
if TYPE_CHECKING:
    from pathlib import Path

    from .integration import IntegrationQueries
    from .legacy import LegacyQueries
    from .notify import NotifyQueries
    from .runs import RunQueries
    from .usage import UsageQueries
    from .web import WebQueries


BUSY_TIMEOUT_MS = 10_000

# The query mixins most commands never use (`cnp job list` needs only CoreQueries), in the
# order they follow CoreQueries in SqliteStore's bases. Importing them all costs ~7 ms and
# pathlib (~8 ms more): they are imported, and put in the class in place of `_Later`, the first
# time anything looks up a name the class does not have yet (`_compose`).
_LATER = (("runs", "RunQueries"), ("notify", "NotifyQueries"), ("usage", "UsageQueries"),
          ("web", "WebQueries"), ("integration", "IntegrationQueries"),
          ("legacy", "LegacyQueries"))

if TYPE_CHECKING:
    class _Later(RunQueries, NotifyQueries, UsageQueries, WebQueries, IntegrationQueries,
                 LegacyQueries):
        """To the type checker: the mixins themselves."""
else:
    class _Later:
        """Stands in for the mixins of `_LATER` until a name is missed on a store."""

        def __getattr__(self, name: str) -> object:
            # Special names are looked up on the type, never here; the mixins define none.
            if not name.startswith("__"):
                _compose()
            return object.__getattribute__(self, name)  # a real miss raises as usual


class _Composing(ABCMeta):
    """SqliteStore's metaclass: a name missed on the class itself (`SqliteStore.method`, as
    tests patch methods) composes it first, as a name missed on a store does."""

    if not TYPE_CHECKING:
        def __getattr__(cls, name: str) -> object:
            if not name.startswith("__"):
                _compose()
            return type.__getattribute__(cls, name)


def _compose() -> None:
    """Import the mixins of `_LATER` and put them in SqliteStore's bases in place of `_Later`:
    the class is then exactly what it would be had it listed them all. Idempotent; threads that
    race here compute the same bases."""
    import importlib

    mixins = tuple(getattr(importlib.import_module(f"{__package__}.{module}"), name)
                   for module, name in _LATER)
    bases = SqliteStore.__bases__
    if _Later in bases:
        at = bases.index(_Later)
        SqliteStore.__bases__ = bases[:at] + mixins + bases[at + 1:]


class SqliteStore(Transactions, CoreQueries, _Later, metaclass=_Composing):
    """One connection to one database file. Not shared between threads.

    Its query methods come from the mixins Transactions, CoreQueries and, composed on first
    use, those of `_LATER` (the same for PostgresStore, which lists them all).
    """

    dialect = "sqlite"
    materialize_batch = 200  # due jobs per transaction (scheduler.materialize_due)
    db: sqlite3.Connection

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        # The file as text: SQLite needs no more, and a `Path` (pathlib) is made only when
        # asked for (`path`).
        self.file = path_text(path)
        self._path = None if isinstance(path, str) else path
        self._depth = 0
        self._prepare_file(create)
        try:
            self.db = sqlite3.connect(
                self.file, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
            )
            self.db.row_factory = sqlite3.Row
            self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA foreign_keys = ON")
            # FULL: a run's state change is on disk before we act on it (spawn, report).
            self.db.execute("PRAGMA synchronous = FULL")
            mode = self.db.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal":
                self.db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc):
                raise StorageError(
                    f"{self.file} is not an SQLite database; refusing to touch it",
                    hint="point --db or CNP_DB at a Claude Night Pilot database, "
                    "or move the file",
                ) from exc
            raise StorageError(f"cannot open {self.file} as an SQLite database: {exc}") from exc
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
                apply(db)
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
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StorageError(f"cannot write to {self.file}: {exc}") from exc

    def _commit(self) -> None:
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise StorageError(f"cannot commit to {self.file}: {exc}") from exc

    def _rollback(self) -> None:
        self.db.execute("ROLLBACK")

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
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            raise StorageError(f"cannot write to {self.file}: {exc}") from exc

    def integrity_check(self) -> str:
        rows = self.db.execute("PRAGMA quick_check").fetchall()
        return "; ".join(str(r[0]) for r in rows)

    def schema_version(self) -> int:
        version: int = self.db.execute("PRAGMA user_version").fetchone()[0]
        return version

    # -- dialect fragments -------------------------------------------------------------------

    @staticmethod
    def _sql_json_int(column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    @staticmethod
    def _sql_concat_distinct(column: str) -> str:
        return f"group_concat(DISTINCT {column})"

    @staticmethod
    def _sql_skip_locked(table: str | None) -> str:
        return ""  # one writer at a time: nothing to skip

    def lock_jobs(self, job_ids: list[int]) -> set[int]:
        """Serialize decisions about these jobs with other writers: `BEGIN IMMEDIATE` already
        holds the whole database, so every job is ours for the transaction."""
        return set(job_ids)

    def wake_daemons(self) -> None:
        """Nothing to send: a daemon on SQLite looks at the database at least every second."""

    def try_lock(self, purpose: str) -> bool:
        """Maintenance needs no lock of its own: the daemon lock (`daemon.DaemonLock`) already
        makes the running daemon the only one on this file."""
        return True

    def unlock(self, purpose: str) -> None:
        pass

    def db_now(self) -> None:
        """SQLite has no clock of its own: the daemon's clock is the only one."""
        return None
