"""The SQLite store: connection settings, migrations (fresh and from every earlier version),
refusal of a newer schema, and the legacy `schedules` view."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from night_pilot.errors import SchemaTooNew, StorageError
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
        [pid] = store.insert_prompts([Prompt("t", "c")], NOW)
    with SqliteStore(path) as store:
        assert store.get_prompt(pid).content == "c"
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
        with pytest.raises(StorageError, match="locked"):
            store.insert_prompts([Prompt("t", "c")], NOW)
        other.execute("ROLLBACK")
        other.close()
        assert store.list_prompts() == []
        store.insert_prompts([Prompt("t", "c")], NOW)
        assert len(store.list_prompts()) == 1
