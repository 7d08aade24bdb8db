"""`cnp migrate copy`: an SQLite installation copied whole into PostgreSQL in one transaction,
ids kept and sequences moved past them, the source never changed, a non-empty target refused,
and a report that reconciles both sides (kept in the target's audit log)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cli_runner import cnp
from event_rows import add_event
from legacy_fixture import build_realistic
from night_pilot.config import DbLocation
from night_pilot.models import ExecutorKind, Job, Prompt, RunResult, RunSettings, RunStatus, Trigger
from night_pilot.quota import Ceilings, Window
from night_pilot.store import SqliteStore, open_store
from night_pilot.store.copy import COPY_TABLES
from night_pilot.store.migrations import MIGRATIONS, latest_version
from night_pilot.store.pg import PostgresStore
from pg import fresh_schema

pytestmark = pytest.mark.postgres
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SHELL = RunSettings(executor=ExecutorKind.SHELL, prompt_text="true")
KEYS = {t.name: t.key for t in COPY_TABLES}


@pytest.fixture
def target() -> Iterator[str]:
    with fresh_schema() as url:
        yield url


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "claude-night-pilot.db"
    populate(path)
    return path


def _run(store: SqliteStore, job_id: int | None, at: datetime, result: RunResult, *,
         attempt: int = 1, retry_of: int | None = None, events: int = 0) -> int:
    run_id = store.runs.insert(job_id=job_id, scheduled_for=at, attempt=attempt,
                              trigger=Trigger.RETRY if retry_of else Trigger.SCHEDULE,
                              status=RunStatus.PENDING, settings=SHELL, now=at,
                              retry_of=retry_of)
    token = store.claims.next_token()
    assert store.claims.claim(run_id, "d-sqlite", "host-a", token, at, at + timedelta(seconds=30))
    assert store.claims.mark_running(run_id, "d-sqlite", token, at, pid=4000 + run_id,
                              process_start="123", argv=["/bin/sh", "-c", "true"],
                              prompt_text=None, prompt_sha256="sha")
    for seq in range(events):
        add_event(store, run_id, seq, at, "stdout", json.dumps({"type": "line", "n": seq}),
                           "line")
    assert store.claims.finish(run_id, "d-sqlite", token, result, at + timedelta(seconds=5))
    return run_id


def populate(path: Path) -> None:
    """An installation that has been used: prompts (one deleted), jobs (one retired), runs
    with events and a retry, a usage limit, the usage ledger, notifications and audit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    res = cnp("--db", str(path), "prompt", "create", "From the CLI", "echo cli", "--tags", "a,b")
    assert res.exit_code == 0, res.stderr
    with SqliteStore(path) as store:
        p2, p3, p4 = store.prompts.insert_many(
            [Prompt("Nightly", "echo nightly", ["ops"]),
             Prompt("Weekly", "echo weekly 'quoted' % percent"), Prompt("Gone", "echo gone")],
            T0)
        store.prompts.delete(p4, T0)  # the highest id stored is no longer the last handed out
        nightly = store.jobs.insert(Job(prompt_id=p2, name="nightly", timezone="Europe/Berlin",
                                       cron_expr="0 3 * * *", executor=ExecutorKind.SHELL,
                                       next_run_at=T0 + timedelta(days=1),
                                       description="with 'quotes'"), T0)
        weekly = store.jobs.insert(Job(prompt_id=p3, name="weekly", timezone="UTC",
                                      cron_expr="0 0 9 * * MON", executor=ExecutorKind.SHELL,
                                      next_run_at=T0 + timedelta(days=3),
                                      template_vars={"x": "1"}), T0)
        once = store.jobs.insert(Job(prompt_id=1, name="once", timezone="UTC",
                                    run_at=T0 + timedelta(hours=1),
                                    next_run_at=T0 + timedelta(hours=1)), T0)
        store.jobs.delete(once, T0)
        store.imports.record("claude-code", "/p", "a1b2c3d4", nightly, T0)
        for day in range(4):
            at = T0 + timedelta(days=day)
            _run(store, nightly, at, RunResult(RunStatus.COMPLETED, exit_code=0,
                                               session_id=f"s-{day}", input_tokens=10 + day,
                                               output_tokens=5, total_cost_usd=0.125 * day,
                                               result_text=f"day {day} ünïcode"), events=3)
        failed = _run(store, weekly, T0, RunResult(RunStatus.FAILED, exit_code=1,
                                                   reason="exit 1"), events=2)
        _run(store, weekly, T0, RunResult(RunStatus.COMPLETED, exit_code=0), attempt=2,
             retry_of=failed, events=1)
        store.runs.insert(job_id=weekly, scheduled_for=T0 + timedelta(days=7),
                         trigger=Trigger.SCHEDULE, status=RunStatus.PENDING, settings=SHELL,
                         now=T0)
        store.cooldowns.insert(kind="five_hour", reset_at=T0 + timedelta(hours=5),
                              detected_at=T0, source_execution_id=failed, message="limit")
        store.usage.save_files([("/t/a.jsonl", 100, 1, 7, 100, "h", "t", 100, 4, 3, 1, 0)], T0)
        store.usage.add_entries([
            (f"k{i}", f"2026-11-20T02:{i * 7:02d}:00.000000Z", "s-0", "/p", "opus", f"m{i}",
             f"r{i}", 0, 10 * i, 5 * i, i, 2 * i, 0.01 * i if i % 2 else None,
             "transcript" if i % 2 else None, "/t/a.jsonl")
            for i in range(1, 7)])
        store.notifications.add_target("json://all", ["run_failed"], None, T0)
        store.notifications.add_target("json://nightly", ["run_completed"], nightly, T0)
        n = store.notifications.enqueue(event="run_failed", job_id=weekly, run_id=failed,
                                       title="weekly failed", body="exit 1", now=T0)
        store.notifications.record_delivery(n, ok=True, error=None, now=T0, retry_at=None)
        store.notifications.enqueue(event="cooldown_end", job_id=None, run_id=None,
                                   title="limit over", body="", now=T0,
                                   deliver_at=T0 + timedelta(hours=5))
        store.daemons.register("d-sqlite", "host-a", 4242, "1.0", "active", T0)
        store.quota.set_daemon_ceilings("d-sqlite", Ceilings(70.0, None))
        store.daemons.stopped("d-sqlite", T0 + timedelta(days=5))
        store.quota.observe("CLAUDE_CODE_OAUTH_TOKEN", [
            Window("five_hour", 0.5, T0 + timedelta(hours=2), T0, "allowed"),
            Window("seven_day", 0.25, T0 + timedelta(days=3), T0, "allowed")], failed)
        store.audit.add(T0, "spawn", "execution", failed, {"job_id": weekly})


def sqlite_rows(path: Path, table: str) -> list[dict[str, Any]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in db.execute(f"SELECT * FROM {table}")]
    finally:
        db.close()
    return sorted(rows, key=lambda r: tuple(r[k] for k in KEYS[table]))


def pg_rows(url: str, table: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(f"SELECT * FROM {table}")
        names = [c.name for c in cur.description or ()]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return sorted(rows, key=lambda r: tuple(r[k] for k in KEYS[table]))


def pg_value(url: str, sql: str) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    return row[0] if row else None


def pg_tables(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace"
            " AND relkind IN ('r', 'v') ORDER BY 1").fetchall()]


def snapshot(path: Path) -> tuple[list[str], int, int]:
    """The source's whole content (read through SQLite, read-only) and its file's stat."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        dump = list(db.iterdump())
    finally:
        db.close()
    st = path.stat()
    return dump, st.st_size, st.st_mtime_ns


def copy(*args: str) -> Any:
    res = cnp("migrate", "copy", *args, "--format", "json")
    assert res.exit_code == 0, res.stderr
    return res.json


# -- the copy -----------------------------------------------------------------------------------


def test_an_installation_is_copied_whole_with_its_ids(source: Path, target: str) -> None:
    before = snapshot(source)
    report = copy("--from", str(source), "--to", target)

    assert report["reconciled"] is True and report["dry_run"] is False
    assert report["notes"] == ["the target had no cnp schema: the copy created it (version "
                               f"{latest_version()})"]
    tables = report["tables"]
    assert set(tables) == {t.name for t in COPY_TABLES}
    for name, t in tables.items():
        expected = len(sqlite_rows(source, name))
        assert t["source_rows"] == expected, name
        if name == "daemons":  # registrations of the SQLite daemon: only on request
            assert (t["copied"], t["skipped"], t["target_after"]) == (0, expected, 0)
            continue
        assert t["copied"] == t["target_after"] == expected > 0, name
        assert t["reconciled"] is True
    [skipped] = report["skipped"]
    assert (skipped["table"], skipped["rows"]) == ("daemons", 1)
    assert "--include-daemons" in skipped["reason"]

    # Every row, every field, the same on both sides (ids included, so links hold).
    for name in KEYS:
        if name in ("daemons", "counters"):
            continue
        copied = pg_rows(target, name)
        if name == "audit_log":  # and the copy's own entry, last
            assert copied.pop()["id"] == report["audit_id"]
        assert copied == sqlite_rows(source, name), name
    links = pg_rows(target, "job_executions")
    retry = next(r for r in links if r["retry_of"] is not None)
    assert retry["attempt"] == 2 and retry["job_id"] == links[retry["retry_of"] - 1]["job_id"]

    # The sample compared rows of every table field by field, and all matched.
    sample = report["sample"]
    assert sample["compared"] is True and sample["mismatched"] == sample["unexplained"] == 0
    assert {r["table"] for r in sample["rows"]} == {
        t.name for t in COPY_TABLES if t.name not in ("daemons", "counters")}
    run_sample = next(r for r in sample["rows"] if r["table"] == "job_executions")
    assert run_sample["fields"] == len(sqlite_rows(source, "job_executions")[0])
    assert run_sample["match"] is True and run_sample["mismatches"] == {}

    # The report is kept in the target's audit log, and the source is exactly as it was.
    audit = pg_rows(target, "audit_log")[-1]
    assert (audit["id"], audit["action"], audit["entity"]) == (
        report["audit_id"], "migrate_copy", "database")
    assert json.loads(audit["details"])["tables"] == tables
    assert snapshot(source) == before


def test_the_cli_shows_the_same_installation_on_both_databases(
        source: Path, target: str) -> None:
    copy("--from", str(source), "--to", target)
    for args in (("job", "list", "--all"), ("runs", "--limit", "100"),
                 ("prompt", "list"), ("run", "show", "5"), ("session", "list"),
                 ("notify", "list")):
        lite = cnp("--db", str(source), *args, "--format", "json")
        pg = cnp("--db", target, *args, "--format", "json")
        assert lite.exit_code == pg.exit_code == 0, (args, lite.stderr, pg.stderr)
        assert pg.json == lite.json, args
        assert lite.json, args  # something to compare
    lite = cnp("--db", str(source), "runs", "--limit", "100")
    pg = cnp("--db", target, "runs", "--limit", "100")
    assert pg.stdout == lite.stdout


def test_new_rows_after_the_copy_get_fresh_ids(source: Path, target: str) -> None:
    report = copy("--from", str(source), "--to", target)
    # Prompt 4 was deleted in the source: its id is not handed out again.
    assert report["identities"]["prompts"] == 5
    res = cnp("--db", target, "prompt", "create", "After", "echo after", "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert res.json["id"] == 5
    res = cnp("--db", target, "job", "create", "5", "0 4 * * *", "--tz", "UTC", "--executor",
              "shell", "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert res.json["id"] == report["identities"]["jobs"] == 4
    runs_before = report["tables"]["job_executions"]["target_after"]
    res = cnp("--db", target, "job", "trigger", "4", "--format", "json")
    assert res.exit_code == 0, res.stderr
    with open_store(DbLocation(url=target)) as store:
        [run] = store.runs.recent(job_id=4)
        assert run.id == report["identities"]["job_executions"] == runs_before + 1
        # A new claim's fencing token is above every token the source handed out.
        assert store.claims.next_token() == report["counters"]["fencing"]["source"] + 1
        audit_ids = [e["id"] for e in store.audit.entries(limit=1000)]
        assert len(audit_ids) == len(set(audit_ids))


def test_fencing_carries_over_as_the_higher_of_both(source: Path, target: str,
                                                    tmp_path: Path) -> None:
    with open_store(DbLocation(url=target)) as store:
        for _ in range(40):
            store.claims.next_token()
    report = copy("--from", str(source), "--to", target)
    fencing = report["counters"]["fencing"]
    assert fencing["source"] < 40
    assert (fencing["target_before"], fencing["target_after"]) == (40, 40)
    assert pg_value(target, "SELECT value FROM counters WHERE name = 'fencing'") == 40

    # And the source's, when it is the higher one.
    with fresh_schema() as other:
        report = copy("--from", str(source), "--to", other)
        fencing = report["counters"]["fencing"]
        assert fencing["target_before"] == 0
        assert fencing["target_after"] == fencing["source"] > 0
        assert pg_value(other, "SELECT value FROM counters") == fencing["source"]


def test_daemon_registrations_are_copied_on_request(source: Path, target: str) -> None:
    report = copy("--from", str(source), "--to", target, "--include-daemons")
    assert report["skipped"] == []
    assert pg_rows(target, "daemons") == sqlite_rows(source, "daemons")


# -- refusals and failures ----------------------------------------------------------------------


def test_a_target_that_holds_data_is_refused_naming_it(source: Path, target: str) -> None:
    copy("--from", str(source), "--to", target)
    counts = {name: len(pg_rows(target, name)) for name in KEYS}
    for extra in ((), ("--dry-run",)):
        res = cnp("migrate", "copy", "--from", str(source), "--to", target, *extra)
        assert res.exit_code == 1
        assert "already holds data" in res.stderr
        for name in ("prompts (3 rows)", "jobs (3 rows)", "job_executions (7 rows)",
                     "audit_log"):
            assert name in res.stderr
        assert "--replace" in res.stderr
        assert {name: len(pg_rows(target, name)) for name in KEYS} == counts

    # --replace: the target's data goes, in the same transaction, and the source's comes.
    with SqliteStore(source) as store:
        store.prompts.insert_many([Prompt("Later", "echo later")], T0)
    report = copy("--from", str(source), "--to", target, "--replace")
    assert report["reconciled"] is True
    assert report["tables"]["prompts"]["deleted"] == 3
    assert report["tables"]["audit_log"]["deleted"] == counts["audit_log"]
    for name in ("prompts", "jobs", "job_executions", "usage_quarters"):
        assert pg_rows(target, name) == sqlite_rows(source, name), name
    assert pg_rows(target, "audit_log")[:-1] == sqlite_rows(source, "audit_log")


@pytest.mark.parametrize(("table", "damage"), [
    # The last table copied holds a value PostgreSQL's column type refuses: everything before
    # it (prompts, jobs, runs, events, the ledger, ...) is inserted when it fails.
    ("audit_log", "UPDATE audit_log SET entity_id = 'not a number'"
                  " WHERE id = (SELECT max(id) FROM audit_log)"),
    # A run whose job is gone (written with foreign keys off): the target's constraint.
    ("job_executions", "UPDATE job_executions SET job_id = 999"
                       " WHERE id = (SELECT max(id) FROM job_executions)"),
])
def test_a_failure_midway_leaves_the_target_as_it_was(source: Path, target: str, table: str,
                                                      damage: str) -> None:
    db = sqlite3.connect(source)
    try:
        db.execute("PRAGMA foreign_keys = OFF")
        assert db.execute(damage).rowcount == 1
        db.commit()
    finally:
        db.close()
    before = snapshot(source)
    res = cnp("migrate", "copy", "--from", str(source), "--to", target, "--format", "json")
    assert res.exit_code == 1
    assert res.error["error"] == "storage"
    assert f"refused a row of {table}" in res.error["message"]
    assert "nothing was copied" in res.error["message"]
    # The target had no cnp schema: the copy created none (it migrates in its transaction).
    assert pg_tables(target) == []
    # Into a schema that exists, too, nothing is left behind.
    with PostgresStore(target):
        pass
    res = cnp("migrate", "copy", "--from", str(source), "--to", target, "--format", "json")
    assert res.exit_code == 1 and f"refused a row of {table}" in res.error["message"]
    for name in KEYS:
        if name != "counters":
            assert pg_rows(target, name) == [], name
    assert pg_value(target, "SELECT value FROM counters WHERE name = 'fencing'") == 0
    # No sequence was moved either (setval is not undone by a rollback).
    assert pg_value(target, "SELECT is_called FROM prompts_id_seq") is False
    assert snapshot(source) == before


def test_a_dry_run_writes_nothing(source: Path, target: str) -> None:
    before = snapshot(source)
    report = copy("--from", str(source), "--to", target, "--dry-run")
    assert report["dry_run"] is True and report["audit_id"] is None
    assert report["reconciled"] is True
    assert report["tables"]["jobs"]["source_rows"] == report["tables"]["jobs"]["target_after"]
    assert report["tables"]["jobs"]["target_before"] == 0
    assert report["identities"]["prompts"] == 5
    assert any("no cnp schema yet" in n for n in report["notes"])
    assert report["sample"]["compared"] is False
    assert pg_tables(target) == []  # not even the schema was created
    assert snapshot(source) == before
    pretty = cnp("migrate", "copy", "--from", str(source), "--to", target, "--dry-run")
    assert pretty.exit_code == 0 and pretty.stdout.startswith("Dry run (nothing written)")
    assert pg_tables(target) == []


def test_the_readable_report(source: Path, target: str) -> None:
    res = cnp("migrate", "copy", "--from", str(source), "--to", target)
    assert res.exit_code == 0, res.stderr
    out = res.stdout
    assert out.startswith(f"Copied {source} → ")
    assert "job_executions" in out and "RECONCILED" in out
    assert "Counter fencing:" in out and "Next ids in the target: prompts 5" in out
    assert "Skipped (1):" in out and "daemons (1 row)" in out
    assert "match, 0 mismatch" in out
    assert "Report kept in the target's audit log" in out
    assert "Every source row is accounted for and every sampled row matches." in out


def test_an_older_source_is_upgraded_on_a_private_copy(tmp_path: Path, target: str) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    for v, name, apply in MIGRATIONS[:1]:
        apply(db)
        db.execute("INSERT INTO schema_migrations VALUES (?, ?, '2026-01-01T00:00:00Z')",
                   (v, name))
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO prompts (title, content, tags, created_at, updated_at)"
               " VALUES ('old', 'echo old', '', '2026-01-01T00:00:00.000000Z',"
               " '2026-01-01T00:00:00.000000Z')")
    db.execute("COMMIT")
    db.close()
    before = snapshot(path)
    report = copy("--from", str(path), "--to", target)
    assert report["schema"] == {"version": latest_version(), "source_version": 1,
                                "source_upgraded": True, "target_version_before": 0}
    assert any("upgraded" in n and "not changed" in n for n in report["notes"])
    assert [r["title"] for r in pg_rows(target, "prompts")] == ["old"]
    assert snapshot(path) == before  # still at version 1
    assert list(tmp_path.iterdir()) == [path]  # no upgraded copy left behind


def test_a_newer_source_is_refused(tmp_path: Path, target: str) -> None:
    path = tmp_path / "new.db"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {latest_version() + 1}")
    db.close()
    res = cnp("migrate", "copy", "--from", str(path), "--to", target)
    assert res.exit_code == 1
    assert f"schema version {latest_version() + 1}" in res.stderr
    assert pg_tables(target) == []


def test_bad_input_is_a_usage_error(tmp_path: Path, target: str) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 20)
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE things (x)")
    db.close()
    legacy = tmp_path / "claude-pilot.db"
    build_realistic(legacy, wal=False)
    good = tmp_path / "good.db"
    SqliteStore(good).close()
    cases = [
        (("--from", str(tmp_path / "missing.db"), "--to", target), "does not exist"),
        (("--from", str(tmp_path), "--to", target), "is not a file"),
        (("--from", str(text), "--to", target), "is not an SQLite database"),
        (("--from", str(other), "--to", target), "not a Claude Night Pilot database"),
        (("--from", str(legacy), "--to", target), "cnp migrate legacy"),
        (("--from", str(good), "--to", str(tmp_path / "target.db")),
         "must be a postgresql:// URL"),
        (("--from", str(good), "--to", "mysql://u@h/db"), "must be a postgresql:// URL"),
        (("--from", str(good)), "Missing option '--to'"),
    ]
    for args, message in cases:
        res = cnp("migrate", "copy", *args)
        assert res.exit_code == 2, (args, res.stdout, res.stderr)
        assert message in res.stderr, (args, res.stderr)
    assert text.read_bytes().startswith(b"not a database")
    assert not (tmp_path / "target.db").exists()
    assert pg_tables(target) == []


def test_without_from_the_current_sqlite_database_is_copied(
        source: Path, target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNP_DB", str(source))
    report = copy("--to", target)
    assert report["source"] == str(source)
    monkeypatch.setenv("CNP_DB", target)
    res = cnp("migrate", "copy", "--to", target)
    assert res.exit_code == 2 and "--from" in res.stderr


def test_every_table_of_the_schema_is_copied(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "x.db") as store:
        tables = {r[0] for r in store.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%'")}
    assert tables - {"schema_migrations"} == {t.name for t in COPY_TABLES}
