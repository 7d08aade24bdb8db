"""`cnp migrate legacy`: the old Rust tool's database imported in one transaction, every row
imported or listed with its reason, a re-run adding nothing, and a report that reconciles."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cli_runner import cnp
from legacy_fixture import REALISTIC, LegacyDb, build_realistic
from night_pilot import legacy as ml
from night_pilot.config import DB_FILENAME, LEGACY_DB_FILENAME
from night_pilot.errors import StorageError
from night_pilot.legacy.values import TOTAL_NOTE
from night_pilot.models import RunStatus
from night_pilot.store.legacy import LegacyQueries

BERLIN = ZoneInfo("Europe/Berlin")


def rows(path: Path, sql: str, *args: object) -> list[dict[str, Any]]:
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(sql, args)]


def ours(cnp_home: Path) -> Path:
    return cnp_home / DB_FILENAME


def counts() -> dict[str, int]:
    res = cnp("status", "--format", "json")
    assert res.exit_code == 0, res.stderr
    return dict(res.json["counts"])


def migrate(*args: str) -> Any:
    res = cnp("migrate", "legacy", *args, "--format", "json")
    assert res.exit_code == 0, res.stderr
    return res.json


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    path = tmp_path / "old" / LEGACY_DB_FILENAME
    path.parent.mkdir()
    build_realistic(path)
    return path


# -- the import --------------------------------------------------------------------------------


def test_every_legacy_row_is_imported_or_listed_with_its_reason(
        legacy: Path, cnp_home: Path, tmp_path: Path) -> None:
    before = legacy.read_bytes()
    report = migrate(str(legacy), "--tz", "Europe/Berlin", "--work-dir", str(tmp_path))
    db = ours(cnp_home)

    # Counts on both sides, per table, reconcile; the skipped rows are named with a reason.
    t = report["tables"]
    assert (t["prompts"]["legacy_rows"], t["schedules"]["legacy_rows"],
            t["execution_results"]["legacy_rows"]) == (6, 13, 14)
    skipped = {(s["table"], s["legacy_id"]) for s in report["skipped"]}
    assert skipped == {(table, i) for table, ids in REALISTIC.skipped.items() for i in ids}
    assert all(s["reason"] for s in report["skipped"])
    for name, our_table in (("prompts", "prompts"), ("schedules", "jobs"),
                            ("execution_results", "job_executions")):
        assert t[name]["imported"] + t[name]["skipped"] == t[name]["legacy_rows"]
        assert t[name]["already_imported"] == 0
        stored = rows(db, f"SELECT count(*) AS n FROM {our_table} WHERE legacy_id IS NOT NULL")
        assert stored[0]["n"] == t[name]["imported"] == t[name]["ours_after"]
        assert t[name]["reconciled"] is True
    assert report["reconciled"] is True
    assert t["schedules"]["job_states"] == {"enabled": 3, "paused": 6, "done": 1, "retired": 2}

    # Prompts: both tag formats, a title made up for the untitled one, times in UTC.
    prompts = {r["legacy_id"]: r for r in rows(db, "SELECT * FROM prompts")}
    assert sorted(prompts) == [1, 2, 3, 4, 6]
    assert prompts[1]["tags"] == "review,nightly"  # a JSON array
    assert prompts[2]["tags"] == "deps,weekly"  # comma-separated, trimmed, deduplicated
    assert prompts[6]["tags"] == "a,b,c"  # a comma inside a JSON tag splits it
    assert prompts[4]["title"] == "Legacy prompt 4"
    assert prompts[1]["content"] == "Review the code in this repository."
    assert prompts[1]["created_at"] == "2025-06-01T08:00:00.123456Z"  # RFC 3339, nanoseconds
    assert prompts[2]["created_at"] == "2025-06-01T07:00:00.000000Z"  # naive, read in Berlin
    assert prompts[3]["created_at"] == "2025-06-01T09:00:00.000000Z"  # epoch seconds

    # Jobs: the status table applied, crons kept seconds-first, every state as expected.
    jobs = {r["legacy_id"]: r for r in rows(db, "SELECT * FROM jobs")}
    assert sorted(jobs) == sorted(REALISTIC.jobs)
    for lid, (enabled, state, cron) in REALISTIC.jobs.items():
        job = jobs[lid]
        assert bool(job["enabled"]) is enabled, lid
        assert job["cron_expr"] == cron, lid
        assert (job["deleted_at"] is not None) is (state == "retired"), lid
        assert (job["next_run_at"] is not None) is enabled, lid
        assert job["timezone"] == "Europe/Berlin"
        assert job["work_dir"] == str(tmp_path)
        assert job["description"].startswith(f"Imported from the legacy database (schedule {lid}")
    assert jobs[1]["prompt_id"] == prompts[1]["id"] and jobs[13]["prompt_id"] == prompts[6]["id"]
    # An enabled 6-field job fires at its next 03:00:00 in Berlin, after the import.
    next_run = datetime.fromisoformat(jobs[1]["next_run_at"]).astimezone(BERLIN)
    assert (next_run.hour, next_run.minute, next_run.second) == (3, 0, 0)
    assert next_run > datetime.now(UTC)
    assert "invalid cron '0 61 * * * *'" in jobs[4]["description"]
    assert "minute field" in jobs[4]["description"]
    assert "Unknown legacy status 'Weird'" in jobs[8]["description"]
    assert jobs[5]["run_at"] == jobs[5]["next_run_at"] == "2099-01-01T03:00:00.000000Z"
    assert jobs[6]["run_at"] == "2025-05-01T01:00:00.000000Z" and jobs[6]["next_run_at"] is None
    assert jobs[10]["run_at"] == "2024-06-01T00:00:00.000000Z"  # epoch; passed: paused
    assert jobs[7]["prompt_id"] is None and "prompt 99 does not exist" in jobs[7]["description"]
    assert jobs[9]["prompt_id"] is None and "prompt 5 was not imported" in jobs[9]["description"]

    # Runs: statuses mapped, tokens from an int and from JSON, attempts for a shared time.
    runs = {r["legacy_id"]: r for r in rows(db, "SELECT * FROM job_executions")}
    assert {lid: r["status"] for lid, r in runs.items()} == REALISTIC.runs
    assert all(r["trigger"] == "schedule" for r in runs.values())
    assert all(RunStatus(r["status"]).is_terminal for r in runs.values())
    job_of = {lid: j["id"] for lid, j in jobs.items()}
    assert {lid for lid, r in runs.items() if r["job_id"] is None} == REALISTIC.runs_without_job
    assert runs[14]["job_id"] == job_of[7]  # the retired job keeps its history
    assert runs[1]["job_id"] == job_of[1] and runs[1]["prompt_id"] == prompts[1]["id"]
    r1 = runs[1]
    assert (r1["result_text"], r1["total_cost_usd"], r1["duration_ms"]) == ("All good.", 0.05,
                                                                             42_000)
    assert (r1["input_tokens"], r1["output_tokens"]) == (1234, None)  # a total, no split
    assert r1["scheduled_for"] == r1["finished_at"] == "2025-06-03T03:00:42.000000Z"
    assert r1["started_at"] == "2025-06-03T03:00:00.000000Z"
    r2 = runs[2]
    assert (r2["input_tokens"], r2["output_tokens"], r2["cache_creation_tokens"],
            r2["cache_read_tokens"]) == (100, 50, 5, 10)
    assert runs[14]["output_tokens"] == 9  # {"usage": {...}}
    # Results 2 and 3 share a job and a (naive) time: attempts 1 and 2 of one scheduled_for.
    assert runs[2]["scheduled_for"] == runs[3]["scheduled_for"] == "2025-06-04T01:00:10.000000Z"
    assert (runs[2]["attempt"], runs[3]["attempt"]) == (1, 2)
    assert t["execution_results"]["numbered_as_later_attempts"] == 1
    assert runs[5]["scheduled_for"] == "2025-06-04T01:20:00.123000Z"  # epoch milliseconds
    assert runs[4]["result_text"] == "Error: boom"
    assert runs[6]["started_at"] is None  # cancelled before it ran
    assert runs[6]["total_cost_usd"] is None
    assert {"table": "execution_results", "legacy_id": 6,
            "note": "cost_usd 'n/a' is not a usable number; not imported"} in report["notes"]
    assert runs[11]["started_at"] is None and "never ran" in runs[11]["reason"]
    assert "outcome was never recorded" in runs[8]["reason"]
    assert "timed out" in runs[10]["reason"]

    # The mapping tables as applied, with counts, and the tables summarized, not imported.
    mapping = report["status_mapping"]
    assert mapping["schedules"]["Active"] == {"to": "enabled", "count": 1}
    assert mapping["schedules"]["Weird"] == {"to": "paused (unknown)", "count": 1}
    assert mapping["schedules"]["Completed"] == {"to": "done", "count": 1}
    assert mapping["execution_results"]["Failed"] == {"to": "failed", "count": 1}
    assert mapping["execution_results"]["bogus"] == {"to": "interrupted (unknown)", "count": 1}
    stats = report["token_usage_stats"]
    assert (stats["rows"], stats["imported"]) == (1, False)
    assert stats["totals"]["total_input_tokens"] == 5000
    assert report["other_tables"] == {"usage_records": 2}

    # The legacy file was only read.
    assert legacy.read_bytes() == before


def test_the_status_mapping_tables() -> None:
    for raw in ("Active", "active", " ACTIVE ", "pending", "running", "Enabled"):
        assert ml.schedule_state(raw) is ml.JobState.ENABLED, raw
    for raw in ("Paused", "inactive", "Disabled", "failed", "Cancelled"):
        assert ml.schedule_state(raw) is ml.JobState.PAUSED, raw
    for raw in ("completed", "Completed", "done"):
        assert ml.schedule_state(raw) is ml.JobState.DONE, raw
    for raw in ("Weird", "", None, 3):
        assert ml.schedule_state(raw) is None, raw

    expected = {
        "completed": "completed", "Completed": "completed", "success": "completed",
        "failed": "failed", "Failed": "failed", "timeout": "failed", "error": "failed",
        "cancelled": "cancelled", "canceled": "cancelled",
        "running": "interrupted", "pending": "missed", "skipped": "skipped",
    }
    for raw, status in expected.items():
        mapping = ml.result_mapping(raw)
        assert mapping is not None and mapping.status == status, raw
    assert ml.result_mapping("bogus") is None and ml.result_mapping(None) is None
    # Nothing imported can ever be picked up and run by a daemon.
    mapped = [m.status for m in ml.RESULT_STATUS.values()] + [ml.UNKNOWN_RESULT.status]
    assert all(s.is_terminal for s in mapped)


def test_legacy_values_in_every_shape() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    at = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)
    for value in ("2025-06-01T00:00:00Z", "2025-06-01T09:00:00+09:00", "2025-06-01 09:00:00",
                  "2025-06-01T09:00", "2025-06-01 00:00:00 UTC", 1748736000, 1748736000.0,
                  "1748736000", 1748736000000, 1748736000000000,
                  "2025-06-01T00:00:00.000000000+00:00"):
        assert ml.parse_legacy_time(value, tokyo) == at, value
    assert ml.parse_legacy_time(None, tokyo) is None
    assert ml.parse_legacy_time("  ", tokyo) is None
    for bad in ("yesterday", "2025-13-01", True, float("nan")):
        with pytest.raises(ValueError, match="is not a time"):
            ml.parse_legacy_time(bad, tokyo)

    assert ml.parse_legacy_tags('["a", " b ", "a", null]') == ["a", "b"]
    assert ml.parse_legacy_tags("x, y,,x") == ["x", "y"]
    assert ml.parse_legacy_tags("[not json") == ["[not json"]
    assert ml.parse_legacy_tags(None) == []

    assert ml.parse_token_usage(1234) == ml.Tokens(input=1234, note=TOTAL_NOTE.format(1234))
    assert ml.parse_token_usage('{"input_tokens": 3, "output_tokens": 4}') == ml.Tokens(3, 4)
    assert ml.parse_token_usage('{"total_tokens": 9}').input == 9
    assert ml.parse_token_usage(None) == ml.Tokens()
    odd = ml.parse_token_usage("lots")
    assert odd.input is None and "not understood" in odd.note

    assert ml.prepare_cron("0 0 9 ? * MON *") == ("0 0 9 * * MON",
                                                  ["the year field '*' was dropped",
                                                   "'?' was read as '*'"])
    assert ml.prepare_cron("0  0 9 * * *") == ("0 0 9 * * *", [])


def test_naive_times_default_to_the_local_zone(
        legacy: Path, cnp_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    report = migrate(str(legacy))
    assert report["timezone"] == "Asia/Tokyo"
    [prompt] = rows(ours(cnp_home), "SELECT created_at FROM prompts WHERE legacy_id = 2")
    assert prompt["created_at"] == "2025-06-01T00:00:00.000000Z"  # 09:00 in Tokyo


# -- idempotency, dry runs, the report --------------------------------------------------------


def test_a_rerun_adds_nothing_and_later_rows_are_imported_once(
        legacy: Path, cnp_home: Path) -> None:
    first = migrate(str(legacy), "--tz", "UTC")
    after_first = counts()
    second = migrate(str(legacy), "--tz", "UTC")
    assert counts() == {**after_first, "audit_log": after_first["audit_log"] + 1}
    for name, t in second["tables"].items():
        assert t["imported"] == 0, name
        assert t["already_imported"] == first["tables"][name]["imported"], name
        assert t["reconciled"] is True
    assert second["imported_ids"] == {"prompts": [], "schedules": [],
                                      "execution_results": []}

    # The old tool ran on: one new prompt, schedule and result. A prompt deleted in cnp since
    # the first import is not brought back.
    db = LegacyDb.__new__(LegacyDb)
    db.db = sqlite3.connect(legacy, isolation_level=None)
    db.prompt(7, "Later", "Added after the first import.")
    db.schedule(14, 7, "0 0 1 * * *", "active")
    db.result(15, 14, "completed", created_at="2025-07-01T00:00:00Z")
    db.result(16, 1, "completed", created_at="2025-07-02T00:00:00Z")
    db.close()
    [gone] = rows(ours(cnp_home), "SELECT id FROM prompts WHERE legacy_id = 4")
    assert cnp("job", "delete", str(rows(ours(cnp_home),
                                         "SELECT id FROM jobs WHERE legacy_id = 11")[0]["id"])
               ).exit_code == 0
    assert cnp("prompt", "delete", str(gone["id"])).exit_code == 0

    third = migrate(str(legacy), "--tz", "UTC")
    t = third["tables"]
    assert (t["prompts"]["imported"], t["schedules"]["imported"],
            t["execution_results"]["imported"]) == (1, 1, 2)
    assert t["prompts"]["already_imported"] == 5  # including the one deleted since
    assert any(n["legacy_id"] == 4 and "deleted since" in n["note"] for n in third["notes"])
    assert rows(ours(cnp_home), "SELECT id FROM prompts WHERE legacy_id = 4") == []
    new_run = rows(ours(cnp_home), "SELECT e.job_id, j.legacy_id FROM job_executions e"
                   " JOIN jobs j ON j.id = e.job_id WHERE e.legacy_id IN (15, 16)"
                   " ORDER BY e.legacy_id")
    assert [r["legacy_id"] for r in new_run] == [14, 1]  # linked to a new and an old job
    assert all(tt["reconciled"] for tt in t.values())


def test_dry_run_writes_nothing(legacy: Path, cnp_home: Path) -> None:
    # With no database yet, a dry run does not create one.
    dry = migrate(str(legacy), "--dry-run", "--tz", "UTC")
    assert dry["dry_run"] is True and dry["audit_id"] is None
    assert not ours(cnp_home).exists()
    assert not cnp_home.exists()

    # With one, nothing in it changes, and the report predicts the real import exactly.
    before = counts()
    dry = migrate(str(legacy), "--dry-run", "--tz", "UTC")
    assert counts() == before
    real = migrate(str(legacy), "--tz", "UTC")
    for key in ("tables", "skipped", "status_mapping", "imported_ids", "reconciled"):
        assert dry[key] == real[key], key
    assert [(e["schedule"], e["match"]) for e in dry["sample"]["schedules"]] == [
        (e["schedule"], e["match"]) for e in real["sample"]["schedules"]]
    # And after the import, a dry run says there is nothing left to do.
    again = migrate(str(legacy), "--dry-run", "--tz", "UTC")
    assert all(t["imported"] == 0 for t in again["tables"].values())


def test_the_report_compares_a_seeded_sample_and_is_kept_in_the_audit_log(
        legacy: Path, cnp_home: Path) -> None:
    report = migrate(str(legacy), "--tz", "UTC", "--sample", "13")
    sample = report["sample"]
    assert (sample["size"], sample["of"], sample["seed"]) == (13, 13, 0)
    by_id = {e["schedule"]: e for e in sample["schedules"]}
    assert by_id[2]["cron_expr"] == {"legacy": "0 30 9 * * mon-fri",
                                     "ours": "0 30 9 * * MON-FRI", "match": True}
    assert by_id[2]["prompt_id"]["legacy"] == 2 and by_id[2]["prompt_id"]["ours_legacy"] == 2
    assert by_id[11]["match"] is True  # '?' read as '*' is the same schedule
    assert by_id[5]["run_at"]["match"] is True
    # The mismatches are exactly the rows that could not be kept as they were, each explained.
    assert {i for i, e in by_id.items() if not e["match"]} == {7, 9, 12}
    assert all("note" in by_id[i] for i in (7, 9, 12))
    assert (sample["matched"], sample["mismatched"], sample["unexplained"]) == (10, 3, 0)

    # Stored: one audit entry whose details are the report.
    audit = rows(ours(cnp_home), "SELECT * FROM audit_log WHERE action = 'migrate_legacy'")
    assert len(audit) == 1 and audit[0]["id"] == report["audit_id"]
    assert audit[0]["entity"] == "database"
    details = json.loads(audit[0]["details"])
    assert details == {k: v for k, v in report.items() if k != "audit_id"}
    assert details["imported_ids"]["prompts"] == [[1, 4], [6, 6]]

    # The same seed picks the same schedules; the size is bounded.
    picks = [[e["schedule"] for e in migrate(str(legacy), "--dry-run", "--sample", "4",
                                             "--seed", "7")["sample"]["schedules"]]
             for _ in range(2)]
    assert picks[0] == picks[1] and len(picks[0]) == 4


def test_the_readable_report(legacy: Path) -> None:
    res = cnp("migrate", "legacy", str(legacy), "--tz", "UTC")
    assert res.exit_code == 0, res.stderr
    out = res.stdout
    assert f"Imported {legacy}" in out
    assert "execution_results → job_executions" in out
    assert "prompts 5: its content is empty" in out
    assert "Sample: 13 of 13 schedules (seed 0): 10 match, 3 mismatch" in out
    assert "Report kept in the audit log (entry 1)" in out


def test_a_failure_mid_import_leaves_our_database_unchanged(
        legacy: Path, cnp_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cnp("prompt", "create", "Mine", "Already here.").exit_code == 0
    before = counts()

    def broken(self: LegacyQueries, *args: Any, **kwargs: Any) -> None:
        raise StorageError("the disk is full")

    for method in ("insert_runs", "record_import"):
        with monkeypatch.context() as patch:
            patch.setattr(LegacyQueries, method, broken)
            res = cnp("migrate", "legacy", str(legacy), "--format", "json")
        assert res.exit_code == 1, method
        assert res.error["message"] == "the disk is full"
        assert counts() == before, method
        assert rows(ours(cnp_home), "SELECT count(*) AS n FROM prompts WHERE legacy_id"
                    " IS NOT NULL")[0]["n"] == 0

    # A row our schema refuses (an id in the legacy file that clashes with nothing we planned
    # for) fails the whole import too: simulate with a run that names the same legacy id twice.
    real = LegacyQueries.insert_runs

    def twice(self: LegacyQueries, runs: Any) -> None:
        runs = list(runs)
        real(self, runs + runs[:1])

    monkeypatch.setattr(LegacyQueries, "insert_runs", twice)
    res = cnp("migrate", "legacy", str(legacy), "--format", "json")
    assert res.exit_code == 1 and "UNIQUE" in json.dumps(res.error)
    assert counts() == before


# -- finding the legacy database ---------------------------------------------------------------


def test_without_a_path_the_working_and_data_directories_are_searched(
        tmp_path: Path, cnp_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "project"
    work.mkdir()
    monkeypatch.chdir(work)

    # Nothing there: a clear error naming where it looked; nothing created.
    res = cnp("migrate", "legacy", "--format", "json")
    assert res.exit_code == 1 and res.error["error"] == "not_found"
    assert str(work) in res.error["message"] and str(cnp_home) in res.error["message"]
    assert LEGACY_DB_FILENAME in res.error["message"]

    # Our own database, under the other name the old tool used, is never a candidate.
    assert cnp("init").exit_code == 0
    res = cnp("migrate", "legacy", "--format", "json")
    assert res.exit_code == 1
    assert "the database cnp itself uses" in res.error["message"]
    # …nor is another cnp database in the working directory (found by its schema).
    assert cnp("init", "--db", str(work / DB_FILENAME)).exit_code == 0
    res = cnp("migrate", "legacy", "--format", "json")
    assert res.exit_code == 1 and "schema_migrations" in res.error["message"]
    (work / DB_FILENAME).unlink()

    # In the data directory.
    build_realistic(cnp_home / LEGACY_DB_FILENAME)
    report = migrate("--dry-run")
    assert report["source"] == str(cnp_home / LEGACY_DB_FILENAME)

    # In the working directory too: two candidates are refused, listed.
    build_realistic(work / DB_FILENAME)
    res = cnp("migrate", "legacy", "--format", "json")
    assert res.exit_code == 1 and res.error["error"] == "conflict"
    assert str(work / DB_FILENAME) in res.error["message"]
    assert str(cnp_home / LEGACY_DB_FILENAME) in res.error["message"]
    assert "cnp migrate legacy PATH" in res.error["hint"]

    # Only the working directory's: that one is imported.
    (cnp_home / LEGACY_DB_FILENAME).unlink()
    report = migrate("--tz", "UTC")
    assert report["source"] == str(work / DB_FILENAME)
    assert report["tables"]["prompts"]["imported"] == 5
    assert report["work_dir"] == str(work)


# -- bad input ---------------------------------------------------------------------------------


def test_bad_input_is_refused_with_a_clear_error(tmp_path: Path, cnp_home: Path) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("my notes, not a database\n" * 20)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE things (id INTEGER PRIMARY KEY)")
    partial = tmp_path / "partial.db"
    with sqlite3.connect(partial) as db:
        db.execute("CREATE TABLE prompts (id INTEGER PRIMARY KEY, body TEXT)")
        db.execute("CREATE TABLE schedules (id INTEGER PRIMARY KEY, prompt_id INTEGER)")
    legacy = tmp_path / "old.db"
    build_realistic(legacy)

    # A file that is not a legacy database is refused before cnp's database is even created.
    # Not SQLite at all is a storage error (1); SQLite without the old tables, bad input (2).
    for bad, code, kind in ((notes, 1, "storage"), (other, 2, "invalid_input")):
        res = cnp("migrate", "legacy", str(bad), "--format", "json")
        assert (res.exit_code, res.error["error"]) == (code, kind), res.stderr
    assert not ours(cnp_home).exists()

    assert cnp("init").exit_code == 0
    before = counts()
    cases: list[tuple[list[str], int, str, list[str]]] = [
        ([str(tmp_path / "missing.db")], 2, "invalid_input", ["does not exist"]),
        ([str(tmp_path)], 2, "invalid_input", ["is not a file"]),
        ([str(notes)], 1, "storage", ["is not an SQLite database"]),
        ([str(other)], 2, "invalid_input", ["no prompts or schedules table", "things"]),
        ([str(partial)], 2, "invalid_input", ["prompts table has no title, content column"]),
        ([str(ours(cnp_home))], 2, "invalid_input", ["the database cnp itself uses"]),
        ([str(legacy), "--tz", "Mars/Olympus"], 2, "invalid_input", ["unknown time zone"]),
        ([str(legacy), "--work-dir", str(tmp_path / "nope")], 2, "invalid_input",
         ["does not exist"]),
        ([str(legacy), "--sample", "-1"], 2, "usage", ["--sample"]),
    ]
    for args, code, kind, words in cases:
        res = cnp("migrate", "legacy", *args, "--format", "json")
        assert res.exit_code == code, (args, res.stderr)
        assert res.stdout == ""
        assert res.error["error"] == kind, args
        for word in words:
            assert word in res.error["message"], (args, res.error)
        assert counts() == before
    assert notes.read_text() == "my notes, not a database\n" * 20
    assert not list(tmp_path.glob("notes.db-*"))

    # A cnp database under the legacy name would create that name: refused before opening.
    named = tmp_path / "x" / LEGACY_DB_FILENAME
    res = cnp("migrate", "legacy", str(legacy), "--db", str(named), "--format", "json")
    assert res.exit_code == 2 and "belongs to the legacy tool" in res.error["message"]
    assert not named.exists() and not named.parent.exists()
    pretty = cnp("migrate", "legacy", str(notes))
    assert pretty.exit_code == 1 and "Error:" in pretty.stderr


def test_a_legacy_database_still_open_in_the_old_tool(tmp_path: Path, cnp_home: Path) -> None:
    # The old tool (WAL mode) is still running: its last rows are only in the WAL so far.
    path = tmp_path / LEGACY_DB_FILENAME
    db = LegacyDb(path)
    db.execute("PRAGMA wal_autocheckpoint = 0")
    db.prompt(1, "Open", "Still being written.")
    db.schedule(1, 1, "*/30 * * * * *", "Active")
    try:
        report = migrate(str(path), "--tz", "UTC")
        assert report["tables"]["schedules"]["imported"] == 1
        assert report["tables"]["execution_results"]["legacy_rows"] == 0
        assert report["token_usage_stats"]["rows"] == 0
        [job] = rows(ours(cnp_home), "SELECT cron_expr, enabled FROM jobs")
        assert job == {"cron_expr": "*/30 * * * * *", "enabled": 1}
        # It keeps writing: we never held a lock on it.
        db.prompt(2, "More", "Written after the import.")
    finally:
        db.close()


def test_a_legacy_file_without_results_or_stats_tables(tmp_path: Path, cnp_home: Path) -> None:
    path = tmp_path / "minimal.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE prompts (id INTEGER PRIMARY KEY, title TEXT, content TEXT,"
                   " tags TEXT, created_at TEXT)")
        db.execute("CREATE TABLE schedules (id INTEGER PRIMARY KEY, prompt_id INTEGER,"
                   " schedule_time TEXT, status TEXT, cron_expr TEXT)")
        db.execute("INSERT INTO prompts VALUES (1, 'T', 'C', NULL, NULL)")
        db.execute("INSERT INTO schedules VALUES (1, 1, NULL, NULL, '0 0 0 1 1 *')")
    report = migrate(str(path), "--tz", "UTC")
    assert report["tables"]["execution_results"]["legacy_rows"] == 0
    assert report["token_usage_stats"] == {"present": False, "rows": 0}
    assert report["status_mapping"]["schedules"] == {"None": {"to": "paused (unknown)",
                                                              "count": 1}}
    [job] = rows(ours(cnp_home), "SELECT enabled FROM jobs")
    assert job["enabled"] == 0
