"""The store on both backends: every test here runs on SQLite and on a fresh PostgreSQL schema
(the `backend` fixture points CNP_DB at it) and expects the same answers from both.

Schema: the same tables and columns, every migration recorded, an upgrade from each earlier
version equal to a fresh database, a newer schema refused, a failed migration leaving nothing
behind, the legacy `schedules` view read-only. Queries: prompts and jobs with their audit
entries, the run protocol with fencing, the usage ledger and its quarter-hour sums, sessions,
the audit log by job, the dashboard's listings and stats, and pruning old runs.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import night_pilot.store.migrations as migrations
import night_pilot.store.pg as pg_mod
import night_pilot.store.sqlite as sqlite_mod
from event_rows import add_event
from night_pilot.config import DbLocation, resolve_db
from night_pilot.errors import Conflict, NotFound, SchemaTooNew, StorageError
from night_pilot.models import ExecutorKind, Job, Prompt, RunResult, RunSettings, RunStatus, Trigger
from night_pilot.store import SqliteStore, Store, open_store
from night_pilot.store.migrations import MIGRATIONS, PG_MIGRATIONS, latest_version
from pg import fresh_schema

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
TABLES = {
    "schema_migrations", "prompts", "jobs", "job_executions", "execution_events", "cooldowns",
    "usage_files", "usage_entries", "usage_quarters", "daemons", "notification_targets",
    "notifications", "counters", "audit_log", "imported_tasks", "quota_windows",
    "daemon_ceilings",
}
SHELL = RunSettings(executor=ExecutorKind.SHELL, prompt_text="true")


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def store(backend: str, store: Store) -> Store:
    """Every test here runs on SQLite and on PostgreSQL."""
    return store


def _sqlite_path() -> Path:
    path = resolve_db().path
    assert path is not None
    return path


def _pg_url() -> str:
    return os.environ["CNP_DB"]


def tables_of(store: Store) -> set[str]:
    if store.dialect.name == "sqlite":
        rows = store.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    else:
        rows = store.db.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")
    return {r[0] for r in rows}


def columns_of(store: Store, table: str) -> list[str]:
    if store.dialect.name == "sqlite":
        return [r[1] for r in store.db.execute(f"PRAGMA table_info({table})")]
    rows = store.db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema ="
        " current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))
    return [r[0] for r in rows]


def explicit_indexes(store: Store) -> set[str]:
    """Indexes created by name (not those behind a primary key or UNIQUE constraint)."""
    if store.dialect.name == "sqlite":
        rows = store.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    else:
        rows = store.db.execute(
            "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE i.relnamespace = current_schema()::regnamespace AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)")
    return {r[0] for r in rows}


def sqlite_schema(path: Path) -> list[tuple[str, str, str]]:
    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            " ORDER BY type, name").fetchall()
    finally:
        db.close()
    return [(t, n, " ".join((s or "").split())) for t, n, s in rows]


def pg_schema(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a migration defines in a schema, with the schema's own name taken out."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        name = conn.execute("SELECT current_schema()").fetchone()[0]
        queries = {
            "columns": "SELECT table_name, ordinal_position, column_name, data_type,"
                       " is_nullable, column_default, is_identity FROM information_schema.columns"
                       " WHERE table_schema = current_schema() ORDER BY 1, 2",
            "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
                           " FROM pg_constraint WHERE connamespace = current_schema()::regnamespace"
                           " ORDER BY 1, 2",
            "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes"
                       " WHERE schemaname = current_schema() ORDER BY 1, 2",
            "triggers": "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid)"
                        " FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN (SELECT oid FROM"
                        " pg_class WHERE relnamespace = current_schema()::regnamespace)"
                        " ORDER BY 1, 2",
            "views": "SELECT viewname, definition FROM pg_views"
                     " WHERE schemaname = current_schema() ORDER BY 1",
            "functions": "SELECT proname, prosrc FROM pg_proc"
                         " WHERE pronamespace = current_schema()::regnamespace ORDER BY 1",
        }
        out = {}
        for key, sql in queries.items():
            out[key] = [tuple(str(v).replace(f"{name}.", "") if isinstance(v, str) else v
                              for v in row) for row in conn.execute(sql).fetchall()]
        return out


def build_sqlite_at(path: Path, version: int) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    for v, name, apply in MIGRATIONS[:version]:
        apply(db)
        db.execute("INSERT INTO schema_migrations VALUES (?, ?, '2026-01-01T00:00:00Z')",
                   (v, name))
    db.execute(f"PRAGMA user_version = {version}")
    db.execute("COMMIT")
    db.close()


def build_pg_at(url: str, version: int) -> None:
    """A schema as the code of `version` would have left it (its PostgreSQL migrations)."""
    db = pg_mod.connect(url)
    try:
        db.execute_raw("BEGIN")
        for v, name, _ in MIGRATIONS[:version]:
            PG_MIGRATIONS[v](db)
            db.execute("INSERT INTO schema_migrations VALUES (?, ?, '2026-01-01T00:00:00Z')",
                       (v, name))
        db.execute_raw("COMMIT")
    finally:
        db.close()


def make_job(store: Store, prompt_id: int, name: str = "j", *, cron: str = "0 3 * * *",
             next_run: datetime | None = None) -> int:
    return store.jobs.insert(
        Job(prompt_id=prompt_id, name=name, timezone="UTC", cron_expr=cron,
            next_run_at=next_run or datetime(2026, 11, 29, 3, tzinfo=UTC),
            executor=ExecutorKind.SHELL), NOW)


def run_to_end(store: Store, job_id: int | None, at: datetime, result: RunResult, *,
               instance: str = "d1", scheduled: datetime | None = None) -> int:
    """A run through the whole protocol: pending, claimed, running, finished at `at`."""
    run_id = store.runs.insert(job_id=job_id, scheduled_for=scheduled or at,
                              trigger=Trigger.MANUAL, status=RunStatus.PENDING, settings=SHELL,
                              now=at)
    token = store.claims.next_token()
    assert store.claims.claim(run_id, instance, "host-a", token, at, at + timedelta(seconds=30))
    assert store.claims.mark_running(run_id, instance, token, at, pid=4242, process_start="1",
                              argv=["/bin/sh", "-c", "true"], prompt_text=None,
                              prompt_sha256="abc")
    assert store.claims.finish(run_id, instance, token, result, at)
    return run_id


# -- schema -------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_both_backends_have_the_same_tables_columns_and_indexes(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "parity.db") as lite, fresh_schema() as url, \
            open_store(DbLocation(url=url)) as pg:
        assert tables_of(lite) == tables_of(pg) == TABLES
        for table in sorted(TABLES):
            assert columns_of(lite, table) == columns_of(pg, table), table
        assert explicit_indexes(lite) == explicit_indexes(pg)
        views = {r[0] for r in lite.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'view'")}
        pg_views = {r[0] for r in pg.db.execute(
            "SELECT viewname FROM pg_views WHERE schemaname = current_schema()")}
        assert views == pg_views == {"schedules"}


def test_a_fresh_database_has_every_table_and_lists_every_migration(store: Store) -> None:
    assert tables_of(store) == TABLES
    assert store.schema_version() == latest_version()
    applied = store.applied_migrations()
    assert [(v, n) for v, n, _ in applied] == [(v, n) for v, n, _ in MIGRATIONS]
    for _, _, at in applied:  # a UTC time (SQLite's own clock writes milliseconds)
        assert datetime.fromisoformat(at).utcoffset() == timedelta(0)
    assert store.integrity_check() == "ok"
    assert store.db.execute("SELECT value FROM counters WHERE name = 'fencing'").fetchone()[0] \
        == 0


@pytest.mark.parametrize("start", range(0, latest_version()))
def test_upgrading_from_every_earlier_version_equals_a_fresh_database(
        blank_backend: str, start: int, tmp_path: Path) -> None:
    if blank_backend == "sqlite":
        old, fresh = _sqlite_path(), tmp_path / "fresh.db"
        old.parent.mkdir(parents=True, exist_ok=True)
        build_sqlite_at(old, start)
        SqliteStore(fresh).close()
        with open_store(resolve_db()) as s:
            assert [v for v, _, _ in s.applied_migrations()] == list(
                range(1, latest_version() + 1))
        assert sqlite_schema(old) == sqlite_schema(fresh)
        return
    url = _pg_url()
    build_pg_at(url, start)
    with open_store(resolve_db()) as s:
        assert s.schema_version() == latest_version()
        assert [v for v, _, _ in s.applied_migrations()] == list(range(1, latest_version() + 1))
    with fresh_schema() as fresh_url:
        open_store(DbLocation(url=fresh_url)).close()
        assert pg_schema(url) == pg_schema(fresh_url)


def test_a_database_newer_than_the_code_is_refused(store: Store) -> None:
    newer = latest_version() + 1
    with store.write() as db:
        db.execute("INSERT INTO schema_migrations VALUES (?, 'from_the_future', ?)",
                   (newer, "2027-01-01T00:00:00.000000Z"))
        if store.dialect.name == "sqlite":
            db.execute(f"PRAGMA user_version = {newer}")
    with pytest.raises(SchemaTooNew) as err:
        open_store(resolve_db())
    assert f"schema version {newer}" in err.value.message
    assert f"only knows up to {latest_version()}" in err.value.message
    assert "upgrade" in (err.value.hint or "")
    # Refused before anything was written.
    assert len(store.applied_migrations()) == newer


def _break_the_next_migration(monkeypatch: pytest.MonkeyPatch) -> int:
    """Add a migration that changes schema and data, then fails."""
    version = latest_version() + 1

    def broken(db: Any) -> None:
        db.execute("CREATE TABLE half_done (x INTEGER)")
        db.execute("DELETE FROM prompts")
        db.execute("UPDATE counters SET value = 999 WHERE name = 'fencing'")
        raise RuntimeError("migration exploded")

    patched = [*MIGRATIONS, (version, "broken", broken)]
    monkeypatch.setattr(migrations, "MIGRATIONS", patched)
    monkeypatch.setattr(sqlite_mod, "MIGRATIONS", patched)
    monkeypatch.setattr(pg_mod, "MIGRATIONS", patched)
    monkeypatch.setattr(pg_mod, "PG_MIGRATIONS", {**PG_MIGRATIONS, version: broken})
    monkeypatch.setattr(sqlite_mod, "latest_version", lambda: version)
    monkeypatch.setattr(pg_mod, "latest_version", lambda: version)
    return version


def test_a_failed_migration_leaves_the_database_untouched(backend: str) -> None:
    with open_store(resolve_db()) as s:
        [pid] = s.prompts.insert_many([Prompt("kept", "still here")], NOW)
        s.claims.next_token()
    with pytest.MonkeyPatch.context() as patch:
        _break_the_next_migration(patch)
        with pytest.raises(RuntimeError, match="exploded"):
            open_store(resolve_db())
    with open_store(resolve_db()) as s:
        assert s.schema_version() == latest_version()
        assert "half_done" not in tables_of(s)
        assert s.prompts.get(pid).content == "still here"
        assert s.db.execute("SELECT value FROM counters").fetchone()[0] == 1


def test_a_failed_first_migration_creates_no_table(
        blank_backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """All migrations of a new database in one transaction: PostgreSQL's DDL is
    transactional too, so a failure in the last one takes back the first one's tables."""
    _break_the_next_migration(monkeypatch)
    with pytest.raises(RuntimeError, match="exploded"):
        open_store(resolve_db())
    if blank_backend == "sqlite":
        db = sqlite3.connect(_sqlite_path())
        try:
            assert db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
            assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        finally:
            db.close()
    else:
        assert pg_schema(_pg_url()) == {k: [] for k in (
            "columns", "constraints", "indexes", "triggers", "views", "functions")}


def test_opening_without_create_names_the_missing_database(blank_backend: str) -> None:
    with pytest.raises(StorageError) as err:
        open_store(resolve_db(), create=False)
    if blank_backend == "sqlite":
        assert "does not exist" in err.value.message
        assert not _sqlite_path().exists()
    else:
        assert "has no Claude Night Pilot schema" in err.value.message
        assert pg_schema(_pg_url())["columns"] == []  # nothing was created
    assert "cnp init" in (err.value.hint or "")


def test_the_legacy_schedules_view_is_readable_and_refuses_writes(store: Store) -> None:
    [pid] = store.prompts.insert_many([Prompt("t", "c")], NOW)
    job_id = make_job(store, pid)
    [row] = store.db.execute("SELECT * FROM schedules").fetchall()
    assert dict(row) == {
        "id": job_id, "prompt_id": pid, "schedule_time": "0 3 * * *", "status": "active",
        "created_at": "2026-11-28T04:00:00.000000Z", "last_run_at": None,
        "next_run_at": "2026-11-29T03:00:00.000000Z",
        "updated_at": "2026-11-28T04:00:00.000000Z", "cron_expr": "0 3 * * *",
        "execution_count": 0,
    }
    before = store.jobs.get(job_id)
    for sql in ("INSERT INTO schedules (id, prompt_id) VALUES (77, 1)",
                "UPDATE schedules SET prompt_id = NULL",
                "DELETE FROM schedules",
                "DELETE FROM schedules WHERE id = -1"):
        with pytest.raises((sqlite3.Error, StorageError)) as err, store.write() as db:
            db.execute(sql)
        text = str(err.value)
        assert "schedules" in text and "view" in text, text
    assert store.jobs.get(job_id) == before
    assert [j.id for j in store.jobs.all(include_deleted=True)] == [job_id]


# -- prompts and jobs ---------------------------------------------------------------------------


def test_prompts_and_jobs_with_their_audit_entries(store: Store) -> None:
    ids = store.prompts.insert_many([Prompt("Nightly", "review", ["ops", "night"]),
                                Prompt("Other", "write", ["nightly"])], NOW)
    assert ids == [1, 2]
    assert [p.id for p in store.prompts.all(tag="night")] == [1]  # whole tags only
    assert [p.id for p in store.prompts.all(tag="nightly")] == [2]
    later = NOW + timedelta(minutes=5)
    updated = store.prompts.update(Prompt("Nightly!", "review all", ["ops"], id=1), later)
    assert (updated.title, updated.content, updated.tags) == ("Nightly!", "review all", ["ops"])
    assert updated.created_at == NOW and updated.updated_at == later
    with pytest.raises(NotFound):
        store.prompts.update(Prompt("x", "y", id=99), later)

    job_id = make_job(store, 1, "nightly review")
    job = store.jobs.get(job_id)
    assert (job.name, job.cron_expr, job.enabled, job.last_status) == (
        "nightly review", "0 3 * * *", True, None)
    with pytest.raises(Conflict, match="used by job"):
        store.prompts.delete(1, later)
    store.jobs.set_enabled(job_id, False, None, later)
    assert store.jobs.get(job_id).enabled is False
    run_to_end(store, job_id, later, RunResult(RunStatus.COMPLETED))
    listed = store.jobs.all()
    assert [(j.id, j.last_status, j.last_run_at) for j in listed] == [
        (job_id, "completed", later)]
    store.jobs.delete(job_id, later)
    assert store.jobs.all() == []
    with pytest.raises(NotFound):
        store.jobs.get(job_id)
    assert store.jobs.get(job_id, include_deleted=True).deleted_at == later
    store.prompts.delete(1, later)
    assert store.jobs.get(job_id, include_deleted=True).prompt_id is None
    with pytest.raises(NotFound):
        store.prompts.get(1)

    prompt_actions = [(e["action"], e["entity_id"]) for e in store.audit.entries("prompt")]
    assert prompt_actions == [("delete", 1), ("update", 1), ("create", 2), ("create", 1)]
    job_actions = [e["action"] for e in store.audit.log(job_id=job_id)]
    assert job_actions == ["delete", "pause", "create"]
    created = store.audit.entries("job")[-1]
    assert created["details"]["prompt_id"] == 1 and created["details"]["enabled"] is True


def test_the_audit_log_of_a_job_includes_its_runs_entries(store: Store) -> None:
    [pid] = store.prompts.insert_many([Prompt("t", "c")], NOW)
    mine, other = make_job(store, pid, "mine"), make_job(store, pid, "other")
    run = store.runs.insert(job_id=mine, scheduled_for=NOW, trigger=Trigger.MANUAL,
                           status=RunStatus.PENDING, settings=SHELL, now=NOW)
    store.audit.add(NOW, "spawn", "execution", run, {"job_id": mine, "risk": "low"})
    store.audit.add(NOW, "spawn", "execution", run + 1, {"job_id": other})
    store.audit.add(NOW, "spawn", "execution", run + 2, {"no_job": True})
    store.audit.add(NOW, "note", "prompt", pid, {"job_id": mine})  # not a run's entry
    entries = store.audit.log(job_id=mine)
    assert [(e["entity"], e["action"]) for e in entries] == [
        ("execution", "spawn"), ("job", "create")]
    assert entries[0]["details"] == {"job_id": mine, "risk": "low"}
    assert entries[0]["at"] == NOW
    assert [e["entity_id"] for e in store.audit.log(run_id=run)] == [run]
    assert len(store.audit.log(action="spawn")) == 3


# -- runs ---------------------------------------------------------------------------------------


def test_the_run_protocol_with_fencing_heartbeats_reaping_and_cancel(store: Store) -> None:
    [pid] = store.prompts.insert_many([Prompt("t", "c")], NOW)
    job_id = make_job(store, pid)
    lease = NOW + timedelta(seconds=30)

    def pending(at: datetime) -> int:
        return store.runs.insert(job_id=job_id, scheduled_for=at, trigger=Trigger.SCHEDULE,
                                status=RunStatus.PENDING, settings=SHELL, now=NOW)

    a, b = pending(NOW), pending(NOW + timedelta(minutes=1))
    # A scheduled run written ahead of its fire time waits for it.
    assert [r.id for r in store.claims.claimable(NOW, 10)] == [a]
    assert [r.id for r in store.claims.claimable(NOW + timedelta(minutes=1), 10)] == [a, b]
    t1 = store.claims.next_token()
    assert store.claims.claim(a, "d1", "host-a", t1, NOW, lease)
    assert not store.claims.claim(a, "d2", "host-b", t1 + 1, NOW, lease)  # taken already
    assert [r.id for r in store.claims.claimable(NOW + timedelta(minutes=1), 10)] == [b]
    assert not store.claims.mark_running(a, "d1", t1 + 7, NOW, pid=1, process_start=None, argv=[],
                                  prompt_text=None, prompt_sha256=None)
    assert store.claims.mark_running(a, "d1", t1, NOW, pid=99, process_start="77", argv=["sh"],
                              prompt_text="echo hi", prompt_sha256="f00")
    run = store.runs.get(a)
    assert (run.status, run.claimed_by, run.fencing_token, run.pid, run.argv) == (
        RunStatus.RUNNING, "d1", t1, 99, ["sh"])
    assert store.runs.prompt_text(a) == "echo hi"

    # Heartbeats extend the lease; a wrong token is told it no longer owns the run.
    later = NOW + timedelta(seconds=20)
    assert store.claims.heartbeat(a, "d1", t1, later, later + timedelta(seconds=30))
    assert not store.claims.heartbeat(a, "d1", t1 - 1, later, later + timedelta(seconds=60))
    assert store.runs.get(a).lease_expires_at == later + timedelta(seconds=30)
    assert store.claims.heartbeat_all("d1", later, later + timedelta(seconds=30)) == 1

    # Reaping: only once the lease has run out, and only if it was not renewed meanwhile.
    assert store.claims.expired(later + timedelta(seconds=29)) == []
    expired_at = later + timedelta(seconds=31)
    assert [r.id for r in store.claims.expired(expired_at)] == [a]
    assert [r.id for r in store.claims.owned_by_others("d2")] == [a]
    assert store.claims.owned_by_others("d1") == []
    assert not store.claims.interrupt(a, t1, "lease expired", expired_at, lease_expired_at=later)
    assert store.claims.interrupt(a, t1, "lease expired", expired_at, lease_expired_at=expired_at)
    assert store.runs.get(a).status == RunStatus.INTERRUPTED
    # The stale owner comes back: it can record nothing.
    assert not store.claims.finish(a, "d1", t1, RunResult(RunStatus.COMPLETED), expired_at)
    assert store.runs.get(a).status == RunStatus.INTERRUPTED

    # A claim handed back and taken by another daemon: the first one's token is stale.
    t2 = store.claims.next_token()
    assert store.claims.claim(b, "d1", "host-a", t2, NOW, lease)
    assert store.claims.release("d1", NOW) == 1
    assert store.runs.get(b).status == RunStatus.PENDING
    t3 = store.claims.next_token()
    assert t1 < t2 < t3
    assert store.claims.claim(b, "d2", "host-b", t3, NOW, lease)
    assert store.claims.mark_running(b, "d2", t3, NOW, pid=5, process_start=None, argv=[],
                              prompt_text=None, prompt_sha256=None)
    done = RunResult(RunStatus.COMPLETED, exit_code=0, session_id="s-1", input_tokens=10,
                     output_tokens=20, total_cost_usd=0.25, result_text="ok",
                     permission_denials=[{"tool": "Bash"}])
    assert not store.claims.finish(b, "d1", t2, done, later)
    assert not store.claims.finish(b, "d2", t2, done, later)
    assert store.claims.finish(b, "d2", t3, done, later)
    run = store.runs.get(b)
    assert (run.status, run.finished_at, run.lease_expires_at, run.input_tokens,
            run.total_cost_usd, run.permission_denials) == (
        RunStatus.COMPLETED, later, None, 10, 0.25, [{"tool": "Bash"}])

    # Cancel: a pending run at once, a running one by asking its owner.
    c = pending(NOW + timedelta(minutes=2))
    assert store.runs.request_cancel(c, later) == RunStatus.CANCELLED
    assert (store.runs.get(c).status, store.runs.get(c).finished_at) == (
        RunStatus.CANCELLED, later)
    d = pending(NOW + timedelta(minutes=3))
    t4 = store.claims.next_token()
    assert store.claims.claim(d, "d1", "host-a", t4, NOW, lease)
    assert store.runs.request_cancel(d, later) == RunStatus.QUEUED
    assert store.claims.cancel_requests("d1") == [d]
    with pytest.raises(NotFound):
        store.runs.request_cancel(9999, later)

    # A status change from an expected state only; a terminal one sets finished_at.
    e = pending(NOW + timedelta(minutes=4))
    assert store.runs.set_status(e, RunStatus.SKIPPED, "overlap", later)
    assert not store.runs.set_status(e, RunStatus.MISSED, "again", later)
    assert store.runs.get(e).finished_at == later
    f = pending(NOW + timedelta(minutes=5))
    assert store.runs.set_status(f, RunStatus.DEFERRED, "limit", later)
    assert store.runs.get(f).finished_at is None
    assert [r.id for r in store.runs.recent(job_id=job_id, status="cancelled")] == [c]


def test_a_duplicate_run_is_refused_by_the_database(store: Store) -> None:
    [pid] = store.prompts.insert_many([Prompt("t", "c")], NOW)
    job_id = make_job(store, pid)
    args: dict[str, Any] = dict(job_id=job_id, scheduled_for=NOW, trigger=Trigger.SCHEDULE,
                                status=RunStatus.PENDING, settings=SHELL, now=NOW)
    store.runs.insert(**args)
    with pytest.raises((sqlite3.IntegrityError, Conflict)):
        store.runs.insert(**args)
    assert store.runs.count() == 1


def test_advancing_a_job_only_from_what_was_read(store: Store) -> None:
    [pid] = store.prompts.insert_many([Prompt("t", "c")], NOW)
    job_id = make_job(store, pid, next_run=NOW)
    one, two = NOW + timedelta(days=1), NOW + timedelta(days=2)
    assert store.schedule.due_job_ids(NOW) == [job_id]
    assert store.schedule.next_wakeup() == NOW
    assert not store.schedule.advance(job_id, one, two, NOW)  # someone else's view
    assert store.schedule.advance(job_id, NOW, one, NOW)
    assert store.schedule.due_job_ids(NOW) == []
    assert store.schedule.advance(job_id, one, None, NOW)
    assert store.jobs.get(job_id).next_run_at is None
    assert store.schedule.advance(job_id, None, two, NOW)  # IS NULL matches NULL
    assert store.schedule.next_wakeup() == two


def test_events_and_pruning_old_runs(store: Store) -> None:
    [pid] = store.prompts.insert_many([Prompt("t", "c")], NOW)
    job_id = make_job(store, pid)
    old, cutoff, recent = NOW, NOW + timedelta(days=30), NOW + timedelta(days=31)
    done = RunResult(RunStatus.COMPLETED)
    failed = RunResult(RunStatus.FAILED, reason="exit 1")
    first = run_to_end(store, job_id, old, failed)
    for seq in range(3):
        add_event(store, first, seq, old, "stdout", f"line {seq}", "assistant")
    # The attempt that continues it: finished, but after the cutoff; it loses only the link.
    retry = store.runs.insert(job_id=job_id, scheduled_for=old, attempt=2, trigger=Trigger.RETRY,
                             status=RunStatus.PENDING, settings=SHELL, now=old, retry_of=first)
    token = store.claims.next_token()
    assert store.claims.claim(retry, "d1", "h", token, recent, recent + timedelta(seconds=30))
    assert store.claims.mark_running(retry, "d1", token, recent, pid=1, process_start=None, argv=[],
                              prompt_text=None, prompt_sha256=None)
    assert store.claims.finish(retry, "d1", token, done, recent)
    add_event(store, retry, 0, recent, "stdout", "kept")
    old_ones = [run_to_end(store, job_id, old + timedelta(minutes=i), done) for i in range(1, 4)]
    # Old but not finished: a run still going and one still waiting.
    going = store.runs.insert(job_id=job_id, scheduled_for=old + timedelta(hours=1),
                             trigger=Trigger.SCHEDULE, status=RunStatus.PENDING, settings=SHELL,
                             now=old)
    token = store.claims.next_token()
    assert store.claims.claim(going, "d1", "h", token, old, old + timedelta(seconds=30))
    assert store.claims.mark_running(going, "d1", token, old, pid=2, process_start=None, argv=[],
                              prompt_text=None, prompt_sha256=None)
    add_event(store, going, 0, old, "stdout", "still running")
    waiting = store.runs.insert(job_id=job_id, scheduled_for=old + timedelta(hours=2),
                               trigger=Trigger.SCHEDULE, status=RunStatus.PENDING,
                               settings=SHELL, now=old)
    assert [e["line"] for e in store.events.read(first)] == ["line 0", "line 1", "line 2"]
    assert [e["seq"] for e in store.events.read(first, after_seq=0)] == [1, 2]

    assert store.runs.prune(cutoff, batch=2) == {"runs": 4, "events": 3}
    left = {r.id: r for r in store.runs.recent(limit=100)}
    assert set(left) == {retry, going, waiting}
    assert not set(old_ones) & set(left)
    assert left[retry].retry_of is None
    assert store.events.read(first) == []
    assert [e["line"] for e in store.events.read(retry)] == ["kept"]
    assert [e["line"] for e in store.events.read(going)] == ["still running"]
    assert store.runs.prune(cutoff) == {"runs": 0, "events": 0}


# -- usage ledger -------------------------------------------------------------------------------


def _entry(key: str, ts: str, *, model: str | None = "opus", session: str = "s1",
           inp: int = 0, out: int = 0, cw: int = 0, cr: int = 0, cost: float | None = None,
           sidechain: int = 0, project: str = "/p", path: str = "/t/a.jsonl") -> tuple[Any, ...]:
    return (key, ts, session, project, model, f"msg-{key}", f"req-{key}", sidechain, inp, out,
            cw, cr, cost, None if cost is None else "transcript", path)


def test_the_usage_ledger_merges_copies_and_keeps_quarter_hour_sums(store: Store) -> None:
    files = [("/t/a.jsonl", 100, 1, 7, 100, "h", "t", 100, 4, 4, 0, 0),
             ("/t/b.jsonl", 50, 1, 8, 50, "h", "t", 50, 2, 2, 1, 0)]
    store.usage.save_files(files, NOW)
    # Read on: counters grow. Read again from the start: they describe the new content.
    store.usage.save_files([("/t/a.jsonl", 150, 2, 7, 100, "h", "t2", 150, 2, 2, 1, 0)], NOW)
    store.usage.save_files([("/t/b.jsonl", 30, 3, 9, 30, "h2", "t3", 30, 1, 1, 0, 1)], NOW)
    states = store.usage.file_states()
    assert states["/t/a.jsonl"]["read_offset"] == 150
    assert dict(store.db.execute(
        "SELECT lines, entries, malformed, rereads FROM usage_files WHERE path = ?",
        ("/t/a.jsonl",)).fetchone()) == {"lines": 6, "entries": 6, "malformed": 1, "rereads": 0}
    assert dict(store.db.execute(
        "SELECT lines, entries, malformed, rereads FROM usage_files WHERE path = ?",
        ("/t/b.jsonl",)).fetchone()) == {"lines": 1, "entries": 1, "malformed": 0, "rereads": 1}

    store.usage.add_entries([
        _entry("a", "2026-11-28T04:01:00.000000Z", inp=10, out=5, cw=2, cr=1, cost=0.5),
        _entry("b", "2026-11-28T04:14:59.000000Z", inp=1, out=1, cost=None),
        _entry("c", "2026-11-28T04:15:00.000000Z", model=None, inp=3, out=3, cost=0.25,
               session="s2", path="/t/b.jsonl"),
        # A sidechain replay, recorded first, in the next hour.
        _entry("d", "2026-11-28T05:40:00.000000Z", inp=7, out=7, cost=1.0, sidechain=1,
               session="side"),
    ])
    store.usage.add_entries([
        _entry("a", "2026-11-28T04:02:00.000000Z", inp=10, out=9, cw=2, cr=1, cost=0.75),  # more
        _entry("a", "2026-11-28T04:03:00.000000Z", inp=10, out=4, cost=9.0),  # fewer: ignored
        # The main conversation's copy of d: takes its time (another quarter), keeps d's figures.
        _entry("d", "2026-11-28T04:20:00.000000Z", inp=7, out=7, cost=1.0, session="s1"),
    ])
    assert store.usage.counts() == {"entries": 4, "files": 2, "malformed_lines": 1}
    rows = dict(store.db.execute(
        "SELECT dedup_key, output_tokens FROM usage_entries").fetchall())
    assert rows == {"a": 9, "b": 1, "c": 3, "d": 7}
    d = store.db.execute("SELECT timestamp, session_id, is_sidechain, file_id FROM usage_entries"
                         " WHERE dedup_key = 'd'").fetchone()
    assert (d[0], d[1], d[2]) == ("2026-11-28T04:20:00.000000Z", "s1", 0)

    quarters = store.usage.by_quarter_hour(NOW, NOW + timedelta(hours=2))
    got = {(q[0], q[1]): (*q[2:7], round(q[7], 6), q[8]) for q in quarters}
    assert got == {
        ("2026-11-28T04:00", "opus"): (2, 11, 10, 2, 1, 0.75, 1),
        ("2026-11-28T04:15", ""): (1, 3, 3, 0, 0, 0.25, 0),
        ("2026-11-28T04:15", "opus"): (1, 7, 7, 0, 0, 1.0, 0),
    }
    # The quarter sums equal the entries', grouped by hand.
    direct = store.db.execute(
        "SELECT count(*), sum(input_tokens), sum(output_tokens) FROM usage_entries").fetchone()
    assert tuple(direct) == (sum(q[2] for q in quarters), sum(q[3] for q in quarters),
                             sum(q[4] for q in quarters))
    sessions = {(r["session_id"], r["model"]): (r["entries"], r["input_tokens"],
                                                 r["known_cost_usd"], r["unknown_cost_entries"])
                for r in store.usage.by_session(NOW, NOW + timedelta(hours=2))}
    assert sessions == {("s1", "opus"): (3, 18.0, 1.75, 1), ("s2", ""): (1, 3.0, 0.25, 0)}
    assert [r["timestamp"] for r in store.usage.timeline(NOW, NOW + timedelta(hours=2))] == [
        "2026-11-28T04:01:00.000000Z", "2026-11-28T04:14:59.000000Z",
        "2026-11-28T04:15:00.000000Z", "2026-11-28T04:20:00.000000Z"]
    store.usage.clear_ledger()
    assert store.usage.counts() == {"entries": 0, "files": 0, "malformed_lines": 0}
    assert store.usage.by_quarter_hour(NOW, NOW + timedelta(hours=2)) == []


def test_usage_of_runs_by_job(store: Store) -> None:
    [pid] = store.prompts.insert_many([Prompt("t", "c")], NOW)
    cheap, dear = make_job(store, pid, "cheap"), make_job(store, pid, "dear")
    run_to_end(store, cheap, NOW, RunResult(RunStatus.COMPLETED, input_tokens=1,
                                            output_tokens=2, total_cost_usd=0.1))
    run_to_end(store, dear, NOW + timedelta(minutes=20),
               RunResult(RunStatus.COMPLETED, input_tokens=5, output_tokens=6,
                         total_cost_usd=2.0))
    run_to_end(store, dear, NOW + timedelta(minutes=21), RunResult(RunStatus.FAILED))
    run_to_end(store, None, NOW + timedelta(minutes=22),
               RunResult(RunStatus.COMPLETED, input_tokens=3, total_cost_usd=0.5))
    span = (NOW, NOW + timedelta(hours=1))
    by_job = [(r["job_id"], r["job_name"], r["runs"], r["input_tokens"], r["cost_usd"])
              for r in store.usage.runs_by_job(*span)]
    assert by_job == [(dear, "dear", 2, 5.0, 2.0), (None, None, 1, 3.0, 0.5),
                      (cheap, "cheap", 1, 1.0, 0.1)]
    by_quarter = {r["quarter"]: (r["runs"], r["input_tokens"])
                  for r in store.usage.runs_by_quarter(*span)}
    assert by_quarter == {"2026-11-28T04:00": (1, 1.0), "2026-11-28T04:15": (3, 8.0)}
    # The runs are shell runs: the Claude-only report sees none of them.
    assert store.usage.by_job(*span) == []
    since = store.usage.runs_since(NOW)
    assert (since["runs"], since["input_tokens"], since["output_tokens"]) == (4, 9, 8)
    assert since["cost_usd"] == pytest.approx(2.6)


def test_usage_by_job_counts_claude_runs(store: Store) -> None:
    [pid] = store.prompts.insert_many([Prompt("t", "c")], NOW)
    job_id = make_job(store, pid, "claude job")
    claude = RunSettings(executor=ExecutorKind.CLAUDE)
    for minute, cost in ((0, 0.5), (1, None)):
        at = NOW + timedelta(minutes=minute)
        run_id = store.runs.insert(job_id=job_id, scheduled_for=at, trigger=Trigger.MANUAL,
                                  status=RunStatus.PENDING, settings=claude, now=at)
        token = store.claims.next_token()
        assert store.claims.claim(run_id, "d", "h", token, at, at + timedelta(seconds=30))
        assert store.claims.mark_running(run_id, "d", token, at, pid=1, process_start=None, argv=[],
                                  prompt_text=None, prompt_sha256=None)
        assert store.claims.finish(run_id, "d", token, RunResult(
            RunStatus.COMPLETED, input_tokens=4, total_cost_usd=cost), at)
    [row] = store.usage.by_job(NOW, NOW + timedelta(hours=1))
    assert (row["job_id"], row["job_name"], row["runs"], row["runs_with_result"],
            row["input_tokens"], row["cost_usd"]) == (job_id, "claude job", 2, 1, 8.0, 0.5)


# -- sessions, notifications, cooldowns, daemons --------------------------------------------------


def test_sessions_group_runs_and_list_their_jobs(store: Store) -> None:
    [pid] = store.prompts.insert_many([Prompt("t", "c")], NOW)
    j1, j2 = make_job(store, pid, "one"), make_job(store, pid, "two")
    r1 = run_to_end(store, j1, NOW, RunResult(RunStatus.COMPLETED, session_id="abc-1",
                                              input_tokens=1, num_turns=2,
                                              total_cost_usd=0.5))
    r2 = run_to_end(store, j2, NOW + timedelta(minutes=1), RunResult(
        RunStatus.FAILED, session_id="abc-1", input_tokens=2, num_turns=1))
    r3 = run_to_end(store, j1, NOW + timedelta(minutes=2), RunResult(
        RunStatus.COMPLETED, session_id="xyz-9", output_tokens=4))
    run_to_end(store, j1, NOW + timedelta(minutes=3), RunResult(RunStatus.COMPLETED))
    listed = store.sessions.recent()
    assert [(s["session_id"], s["runs"], s["job_ids"], s["last_status"],
             s["last_execution_id"]) for s in listed] == [
        ("xyz-9", 1, [j1], "completed", r3), ("abc-1", 2, [j1, j2], "failed", r2)]
    abc = listed[1]
    assert (abc["input_tokens"], abc["turns"], abc["cost_usd"], abc["first_at"],
            abc["last_at"]) == (3, 3, 0.5, NOW, NOW + timedelta(minutes=1))
    assert [s["session_id"] for s in store.sessions.recent(job_id=j2)] == ["abc-1"]
    assert [s["session_id"] for s in store.sessions.recent(limit=1)] == ["xyz-9"]
    assert store.sessions.ids_like("abc") == ["abc-1"]
    assert store.sessions.ids_like("%") == []  # a prefix, not a pattern
    assert [r.id for r in store.sessions.runs("abc-1")] == [r1, r2]
    assert store.sessions.previous(j1, r3) == "abc-1"
    assert store.runs.previous_status(j1, r3) == "completed"


def test_notifications_cooldowns_and_daemons(store: Store) -> None:
    [pid] = store.prompts.insert_many([Prompt("t", "c")], NOW)
    job_id = make_job(store, pid)
    store.notifications.add_target("json://all", ["run_failed", "cooldown_end"], None, NOW)
    store.notifications.add_target("json://mine", ["run_failed"], job_id, NOW)
    store.notifications.add_target("json://other", ["run_failed_later"], job_id, NOW)
    with pytest.raises(NotFound):
        store.notifications.add_target("json://x", ["run_failed"], 999, NOW)
    assert store.notifications.urls_for("run_failed", job_id) == ["json://all", "json://mine"]
    assert store.notifications.urls_for("run_failed", None) == ["json://all"]
    assert store.notifications.urls_for("run_fail", job_id) == []  # whole event names only

    n1 = store.notifications.enqueue(event="run_failed", job_id=job_id, run_id=None,
                                    title="t", body="b", now=NOW)
    n2 = store.notifications.enqueue(event="cooldown_end", job_id=None, run_id=None,
                                    title="t", body="b", now=NOW,
                                    deliver_at=NOW + timedelta(hours=5))
    assert [n["id"] for n in store.notifications.due(NOW, 3)] == [n1]
    store.notifications.record_delivery(n1, ok=False, error="boom", now=NOW,
                          retry_at=NOW + timedelta(minutes=1))
    assert store.notifications.due(NOW, 3) == []
    store.notifications.record_delivery(n1, ok=True, error=None, now=NOW + timedelta(minutes=1),
                                        retry_at=None)
    shown = {n["id"]: n for n in store.notifications.recent()}
    assert (shown[n1]["attempts"], shown[n1]["sent_at"], shown[n1]["last_error"]) == (
        2, NOW + timedelta(minutes=1), None)
    assert shown[n2]["sent_at"] is None

    reset = NOW + timedelta(hours=5)
    cid = store.cooldowns.insert(kind="five_hour", reset_at=reset, detected_at=NOW,
                                source_execution_id=None, message="limit")
    assert cid is not None
    assert store.cooldowns.insert(kind="five_hour", reset_at=reset, detected_at=NOW,
                                 source_execution_id=None, message="again") is None
    active = store.cooldowns.active(NOW)
    assert active is not None and (active["id"], active["reset_at"]) == (cid, reset)
    assert store.cooldowns.active(reset) is None
    assert store.cooldowns.clear(NOW + timedelta(hours=1)) == 1
    assert store.cooldowns.active(NOW) is None
    assert [n["id"] for n in store.notifications.due(NOW + timedelta(hours=1), 3)] == [n2]

    store.daemons.register("i1", "host-a", 10, "1.0", "standby", NOW)
    store.daemons.register("i1", "host-a", 10, "1.0", "active", NOW + timedelta(seconds=5))
    store.daemons.register("i2", "host-b", 11, "1.0", "active", NOW)
    store.daemons.stopped("i2", NOW + timedelta(seconds=6))
    [live] = store.daemons.live()
    assert (live["instance_id"], live["role"], live["heartbeat_at"]) == (
        "i1", "active", "2026-11-28T04:00:05.000000Z")


# -- the web dashboard's queries ----------------------------------------------------------------


def test_web_listings_page_and_count(store: Store) -> None:
    [pid] = store.prompts.insert_many([Prompt("t", "c")], NOW)
    j1 = make_job(store, pid, "first", next_run=NOW + timedelta(hours=2))
    j2 = make_job(store, pid, "second", next_run=NOW + timedelta(hours=1))
    runs = [run_to_end(store, j1 if i % 2 else j2, NOW + timedelta(minutes=i),
                       RunResult(RunStatus.FAILED if i == 3 else RunStatus.COMPLETED,
                                 input_tokens=i))
            for i in range(7)]
    open_run = store.runs.insert(job_id=j1, scheduled_for=NOW + timedelta(hours=3),
                                trigger=Trigger.SCHEDULE, status=RunStatus.PENDING,
                                settings=SHELL, now=NOW)
    newest_first = [open_run, *reversed(runs)]
    page = store.runs.page(limit=3, offset=2)
    assert [r["id"] for r in page] == newest_first[2:5]
    assert page[0]["job_name"] == "first" and page[0]["started_at"] == NOW + timedelta(minutes=5)
    assert [r["id"] for r in store.runs.page(job_id=j1, limit=2, offset=1)] == [runs[5], runs[3]]
    assert [r["id"] for r in store.runs.page(status="failed")] == [runs[3]]
    assert store.runs.page(limit=5, offset=50) == []
    assert store.runs.count() == 8
    assert store.runs.count(job_id=j2, status="completed") == 4
    assert [r["id"] for r in store.runs.open()] == [open_run]
    assert [r["id"] for r in store.runs.recent_failures()] == [runs[3]]
    add_event(store, runs[0], 0, NOW, "stdout", "a")
    add_event(store, runs[0], 1, NOW, "stderr", "b")
    add_event(store, runs[0], 2, NOW, "cnp", "c")
    assert [e["line"] for e in store.events.page(runs[0], 0, 1)] == ["b"]
    assert store.dashboard_counts() == {"prompts": 1, "jobs": 2, "jobs_enabled": 2,
                                        "runs": 8, "open_runs": 1}
    assert store.counts()["events"] == 3
    assert [(j["id"], j["next_run_at"]) for j in store.jobs.upcoming()] == [
        (j2, NOW + timedelta(hours=1)), (j1, NOW + timedelta(hours=2))]
    assert store.jobs.names() == [(j1, "first"), (j2, "second")]
    assert store.jobs.using_prompt(pid) == [j1, j2]


def test_editing_a_job_in_place_keeps_or_moves_its_next_run(store: Store) -> None:
    [pid] = store.prompts.insert_many([Prompt("t", "c")], NOW)
    job_id = make_job(store, pid, next_run=NOW + timedelta(hours=1))
    edited = store.jobs.get(job_id)
    edited.name, edited.cron_expr = "renamed", "0 5 * * *"
    edited.next_run_at = NOW + timedelta(hours=9)
    store.jobs.update(job_id, edited, NOW, reschedule=False)
    job = store.jobs.get(job_id)
    assert (job.name, job.cron_expr, job.next_run_at) == (
        "renamed", "0 5 * * *", NOW + timedelta(hours=1))
    store.jobs.update(job_id, edited, NOW, reschedule=True)
    assert store.jobs.get(job_id).next_run_at == NOW + timedelta(hours=9)
    assert [e["details"]["rescheduled"] for e in store.audit.log(action="update")] == [
        True, False]
    with pytest.raises(NotFound):
        store.jobs.update(999, edited, NOW, reschedule=True)
