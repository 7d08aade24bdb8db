"""The SQLite store: connection settings, migrations (fresh and from every earlier version),
refusal of a newer schema, and the legacy `schedules` view."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from night_pilot.errors import Conflict, SchemaTooNew, StorageError
from night_pilot.models import Prompt
from night_pilot.store import SqliteStore
from night_pilot.store.migrations import MIGRATIONS, latest_version

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
TABLES = {"prompts", "jobs", "job_executions", "execution_events", "cooldowns", "usage_entries",
          "audit_log", "schema_migrations"}


def schema(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            " ORDER BY type, name"
        ).fetchall()
    return [(t, n, " ".join((s or "").split())) for t, n, s in rows]


def build_at_version(path: Path, version: int) -> None:
    """A database as the code of schema `version` would have left it."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    for v, name, apply in MIGRATIONS[:version]:
        apply(db)
        db.execute("INSERT INTO schema_migrations VALUES (?, ?, '2026-01-01T00:00:00Z')", (v, name))
    db.execute(f"PRAGMA user_version = {version}")
    db.execute("COMMIT")
    db.close()


def test_fresh_database_has_every_table_and_settings(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    with SqliteStore(path) as store:
        assert store.schema_version() == latest_version()
        tables = store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        names = {r[0] for r in tables}
        assert names >= TABLES
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
        assert [v for v, _, _ in store.applied_migrations()] == list(
            range(1, latest_version() + 1))


@pytest.mark.parametrize("start", range(0, latest_version()))
def test_upgrade_from_every_earlier_version(tmp_path: Path, start: int) -> None:
    fresh, old = tmp_path / "fresh.db", tmp_path / "old.db"
    SqliteStore(fresh).close()
    build_at_version(old, start)
    with SqliteStore(old) as store:
        assert store.schema_version() == latest_version()
        migrated = [v for v, _, _ in store.applied_migrations()]
    assert migrated == list(range(1, latest_version() + 1))
    assert schema(old) == schema(fresh)


def test_reopening_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "db.db"
    with SqliteStore(path) as store:
        [pid] = store.prompts.insert_many([Prompt("t", "c")], NOW)
    with SqliteStore(path) as store:
        assert store.prompts.get(pid).content == "c"
        assert len(store.applied_migrations()) == latest_version()


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {latest_version() + 1}")
    with pytest.raises(SchemaTooNew) as err:
        SqliteStore(path)
    assert f"schema version {latest_version() + 1}" in err.value.message
    assert "upgrade" in (err.value.hint or "")


def test_a_failed_migration_leaves_the_database_untouched(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "db.db"
    path.touch()

    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("migration exploded")

    import night_pilot.store.migrations as migrations
    import night_pilot.store.sqlite as sqlite_mod

    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS, (99, "broken", broken)])
    monkeypatch.setattr(sqlite_mod, "MIGRATIONS", migrations.MIGRATIONS)
    monkeypatch.setattr(sqlite_mod, "latest_version", lambda: 99)
    with pytest.raises(RuntimeError):
        SqliteStore(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def test_missing_database_without_create(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        SqliteStore(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_writes_are_immediate_transactions(tmp_path: Path) -> None:
    """A second connection that holds the write lock makes our write wait, not fail midway."""
    path = tmp_path / "db.db"
    with SqliteStore(path) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        store.db.execute("PRAGMA busy_timeout = 100")
        with pytest.raises(StorageError, match="locked") as err:
            store.prompts.insert_many([Prompt("t", "c")], NOW)
        assert str(path) in err.value.message and err.value.hint
        other.execute("ROLLBACK")
        other.close()
        assert store.prompts.all() == []
        store.prompts.insert_many([Prompt("t", "c")], NOW)
        assert len(store.prompts.all()) == 1


# -- SQLite's errors as the project's, naming the file ------------------------------------------


def test_a_read_only_database_is_named_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "db.db"
    with SqliteStore(path) as store:
        store.db.execute("PRAGMA query_only = ON")  # SQLite's own read-only refusal
        with pytest.raises(StorageError, match="read-only") as err:
            store.prompts.insert_many([Prompt("t", "c")], NOW)
    assert str(path) in err.value.message and err.value.hint


def test_a_database_in_a_read_only_directory_is_named_with_a_hint(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "db.db"):
        pass
    copy = tmp_path / "ro" / "db.db"
    copy.parent.mkdir()
    shutil.copy(tmp_path / "db.db", copy)
    # Permissions bind every user but root; the immutable attribute binds root too.
    locked = ([["chattr", "+i", str(copy)], ["chattr", "+i", str(copy.parent)]]
              if os.geteuid() == 0 else [])
    copy.chmod(0o400)
    copy.parent.chmod(0o500)
    for command in locked:
        subprocess.run(command, check=True)
    try:
        with pytest.raises(StorageError, match="cannot be opened") as err:
            SqliteStore(copy)
        assert str(copy) in err.value.message and f"{copy}-wal" in (err.value.hint or "")
    finally:
        for command in reversed(locked):
            subprocess.run([command[0], "-i", command[2]], check=True)
        copy.parent.chmod(0o700)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.db"
    path.write_bytes(b"not a database at all, " * 400)
    with pytest.raises(StorageError, match="not an SQLite database") as err:
        SqliteStore(path)
    assert str(path) in err.value.message and err.value.hint


def test_a_corrupt_database_is_named_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "db.db"
    with SqliteStore(path) as store:
        store.prompts.insert_many([Prompt(f"t{i}", "c" * 2000) for i in range(20)], NOW)
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        size = store.db.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    data[size:] = b"\xa5" * (len(data) - size)  # every page but the header's
    assert len(data) == pages * size
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError, match="corrupt") as err, SqliteStore(path) as store:
        store.prompts.all()
    assert str(path) in err.value.message and err.value.hint


def test_a_full_disk_is_named_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "db.db"
    with SqliteStore(path) as store:
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages + 1}")
        with pytest.raises(StorageError, match="disk is full") as err:
            store.prompts.insert_many([Prompt("t", "c" * 100_000)], NOW)
        assert str(path) in err.value.message and err.value.hint
        assert store.prompts.all() == []  # the transaction was rolled back


def test_a_write_the_schema_refuses_is_a_conflict(tmp_path: Path) -> None:
    path = tmp_path / "db.db"
    with SqliteStore(path) as store, pytest.raises(Conflict, match="CHECK constraint"):
        store.prompts.insert_many([Prompt(" ", "c")], NOW)


def test_a_migration_that_fails_is_named_and_leaves_the_database_as_it_was(
        tmp_path: Path) -> None:
    path = tmp_path / "db.db"
    with SqliteStore(path):
        pass
    last, name, _ = MIGRATIONS[-1]
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {last - 1}")
        conn.execute("DELETE FROM schema_migrations WHERE version = ?", (last,))
    # The last migration's work is still there, so applying it again fails.
    with pytest.raises(StorageError, match=f"schema version {last} \\({name}\\) failed") as err:
        SqliteStore(path)
    assert str(path) in err.value.message and err.value.hint
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == last - 1
