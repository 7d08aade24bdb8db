"""The foundation from the CLI down: prompts and jobs persist, one database path, bad input is
refused with a clear error and nothing half-written."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli_runner import cnp
from night_pilot.config import (
    APP_NAME,
    DB_FILENAME,
    LEGACY_DB_FILENAME,
    DbLocation,
    absolute_text,
    data_dir,
    data_dir_text,
    path_text,
    resolve_db,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "night_pilot"


def db_rows(path: Path, sql: str, *args: object) -> list[sqlite3.Row]:
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return db.execute(sql, args).fetchall()


def default_db(cnp_home: Path) -> Path:
    return cnp_home / DB_FILENAME


def make_prompt(content: str = "Review the code in this repository.") -> int:
    res = cnp("prompt", "create", "Nightly review", content, "--tags", "review,nightly",
              "--format", "json")
    assert res.exit_code == 0, res.stderr
    return int(res.json["id"])


def counts() -> dict[str, int]:
    res = cnp("status", "--format", "json")
    assert res.exit_code == 0, res.stderr
    return dict(res.json["counts"])


# -- the seed's cases --------------------------------------------------------------------------


def test_creates_job_and_persists_to_db(cnp_home: Path) -> None:
    prompt_id = make_prompt()
    before = datetime.now(UTC)
    res = cnp("job", "create", str(prompt_id), "0  3 * * mon-fri", "--tz", "Europe/Berlin",
              "--name", "weekday review", "--format", "json")
    assert res.exit_code == 0, res.stderr
    job_id = res.json["id"]

    [row] = db_rows(default_db(cnp_home), "SELECT * FROM jobs WHERE id = ?", job_id)
    assert row["prompt_id"] == prompt_id
    assert row["name"] == "weekday review"
    assert row["cron_expr"] == "0 3 * * MON-FRI"  # normalized: one space, names upper-cased
    assert row["timezone"] == "Europe/Berlin"
    assert row["enabled"] == 1
    next_run = datetime.fromisoformat(row["next_run_at"])
    assert next_run > before
    local = next_run.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute, local.second) == (3, 0, 0)
    assert local.weekday() < 5
    # The prompt content is what was stored, and the creation is in the audit log.
    [prompt] = db_rows(default_db(cnp_home), "SELECT * FROM prompts WHERE id = ?", prompt_id)
    assert prompt["content"] == "Review the code in this repository."
    actions = [(r["entity"], r["action"]) for r in
               db_rows(default_db(cnp_home), "SELECT * FROM audit_log ORDER BY id")]
    assert actions == [("prompt", "create"), ("job", "create")]


def test_db_path_consistency(cnp_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             ) -> None:
    # 1. The default: claude-night-pilot.db in $CNP_HOME, the same file for every command.
    assert resolve_db().path == default_db(cnp_home)
    make_prompt()
    assert cnp("job", "create", "1", "@daily").exit_code == 0
    for args in (["status"], ["init"], ["job", "list"], ["prompt", "list"]):
        res = cnp(*args, "--format", "json")
        assert res.exit_code == 0, res.stderr
        if "database" in res.json:
            assert res.json["database"] == str(default_db(cnp_home))
    assert counts()["jobs"] == 1

    # 2. CNP_DB and --db (before or after the command) all name one other file.
    other = tmp_path / "elsewhere" / "night.db"
    monkeypatch.setenv("CNP_DB", str(other))
    assert resolve_db().path == other
    assert cnp("status", "--format", "json").json["database"] == str(other)
    monkeypatch.delenv("CNP_DB")
    assert cnp("--db", str(other), "status", "--format", "json").json["database"] == str(other)
    assert cnp("status", "--db", str(other), "--format", "json").json["database"] == str(other)
    assert cnp("status", "--db", str(other), "--format", "json").json["counts"]["jobs"] == 0

    # 3. A relative --db is made absolute once, so the daemon and the CLI agree.
    monkeypatch.chdir(tmp_path)
    assert resolve_db("rel.db").path == tmp_path / "rel.db"

    # 4. Nothing anywhere created the legacy file name, and production code never uses it
    #    except to look for it (config names it; health and the legacy migration read it).
    assert not list(tmp_path.rglob(LEGACY_DB_FILENAME))
    users = [p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")
             if "claude-pilot.db" in p.read_text()]
    assert users == ["config.py"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG rule is for Linux")
@pytest.mark.parametrize(("xdg", "base"), [
    (None, "HOME/.local/share"), ("", "HOME/.local/share"),
    ("relative/data", "HOME/.local/share"), ("~/data", "HOME/.local/share"),
    ("/srv/data", "/srv/data"), ("/srv/data/", "/srv/data"), ("//srv//data", "//srv/data"),
])
def test_the_default_data_directory_follows_the_xdg_rule(
        xdg: str | None, base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without CNP_HOME the data directory is platformdirs': on Linux `$XDG_DATA_HOME` if it
    is absolute, else ~/.local/share, then the application's name; existing databases are
    found there."""
    monkeypatch.delenv("CNP_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if xdg is None:
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_DATA_HOME", xdg)
    expected = base.replace("HOME", str(tmp_path / "home")) + "/" + APP_NAME
    assert data_dir_text() == expected
    assert resolve_db().path == Path(expected) / "claude-night-pilot.db"


# Paths are resolved as text, without pathlib (config.py): the text must be what pathlib makes.
PATHS = ["", ".", "/", "//", "///", "//srv/x", "///srv//x/", "a", "a/", "./a/./b//c.db",
         "../x.db", "a/../b", "~", "~/x.db", "./~/x.db", "a/~/x", "~root/x", "/tmp/./x/", "x.db/.",
         "é/ü.db", " spaced /x "]


@pytest.mark.parametrize("raw", PATHS)
def test_paths_as_text_are_what_pathlib_makes(raw: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert path_text(raw) == str(Path(raw))
    assert absolute_text(raw) == str(Path(raw).expanduser().absolute())
    if raw:
        assert resolve_db(raw, env={}).path == Path(raw).expanduser().absolute()
        assert resolve_db(env={"CNP_HOME": raw}).path == (
            Path(raw).expanduser().absolute() / DB_FILENAME)
        assert data_dir({"CNP_HOME": raw}) == Path(raw).expanduser().absolute()


def test_an_unknown_users_home_is_refused_as_pathlib_refuses_it() -> None:
    with pytest.raises(RuntimeError) as ours:
        absolute_text("~no-such-user-here/x.db")
    with pytest.raises(RuntimeError) as theirs:
        Path("~no-such-user-here/x.db").expanduser()
    assert str(ours.value) == str(theirs.value)


def test_a_db_location_is_a_value(tmp_path: Path) -> None:
    as_path = DbLocation(path=tmp_path / "x.db")
    as_text = DbLocation(path=f"{tmp_path}//./x.db")
    assert as_path == as_text and hash(as_path) == hash(as_text)
    assert as_text.path == tmp_path / "x.db" and isinstance(as_text.path, Path)
    assert as_text.file == as_path.file == str(tmp_path / "x.db") == as_text.display()
    assert not as_text.is_postgres and as_text.url is None
    assert repr(as_text) == f"DbLocation(path={tmp_path / 'x.db'!r}, url=None)"
    assert as_path != DbLocation(path=tmp_path / "y.db")
    url = DbLocation(url="postgresql://u:secret@h/db")
    assert url.is_postgres and url.path is None and url.file is None
    assert url.display() == "postgresql://u:***@h/db"
    assert url == DbLocation(url="postgresql://u:secret@h/db") != as_path
    with pytest.raises(AttributeError):
        url.url = "postgresql://other"  # type: ignore[misc]


def test_the_store_makes_each_query_object_on_first_use(cnp_home: Path) -> None:
    """A store's query objects (store/base.py) are made, and their modules imported, the
    first time they are used: a job listing loads none of the others; a query object is made
    once per store, and it queries that store."""
    code = """if True:
        import sys
        from night_pilot.config import resolve_db
        from night_pilot.store import SqliteStore, open_store
        later = ["runs", "claims", "events", "notifications", "usage", "sessions", "legacy"]
        def loaded():
            return [m for m in later if f"night_pilot.store.{m}" in sys.modules]
        store = open_store(resolve_db())
        print(loaded(), store.jobs.rows()[1], "pathlib" in sys.modules)
        print(store.runs.recent(), store.legacy.counts()["jobs"], loaded())
        print(store.runs is store.runs, store.runs.store is store)
        print([c.__name__ for c in SqliteStore.__mro__])
    """
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert lines[0] == "[] [] False"
    assert lines[1] == "[] 0 ['runs', 'legacy']"
    assert lines[2] == "True True"
    assert lines[3] == str(["SqliteStore", "BaseStore", "Transactions", "ABC", "object"])


# -- prompts -----------------------------------------------------------------------------------


def test_prompt_lifecycle(tmp_path: Path) -> None:
    pid = make_prompt()
    assert cnp("prompt", "create", "Other", "text", "--tags", "misc").exit_code == 0
    listed = cnp("prompt", "list", "--tag", "review", "--format", "json").json["prompts"]
    assert [p["id"] for p in listed] == [pid]
    assert listed[0]["tags"] == ["review", "nightly"]

    res = cnp("prompt", "edit", str(pid), "--title", "Renamed", "--tags", "", "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert (res.json["title"], res.json["tags"]) == ("Renamed", [])
    assert res.json["content"] == "Review the code in this repository."

    exported = tmp_path / "prompts.json"
    assert cnp("prompt", "export", "-o", str(exported)).exit_code == 0
    doc = json.loads(exported.read_text())
    assert [p["title"] for p in doc["prompts"]] == ["Renamed", "Other"]
    res = cnp("prompt", "import", str(exported), "--format", "json")
    assert res.exit_code == 0 and res.json["imported"] == 2
    assert counts()["prompts"] == 4

    assert cnp("prompt", "delete", str(pid)).exit_code == 0
    assert cnp("prompt", "show", str(pid)).exit_code == 1


def test_prompt_from_file_and_stdin(tmp_path: Path) -> None:
    f = tmp_path / "p.md"
    f.write_text("héllo from a file\n", encoding="utf-8")
    res = cnp("prompt", "create", "F", "--file", str(f), "--format", "json")
    assert res.json["content"] == "héllo from a file\n"
    res = cnp("prompt", "create", "S", "--stdin", "--format", "json", input="from stdin")
    assert res.json["content"] == "from stdin"


def test_a_one_megabyte_prompt_is_accepted(cnp_home: Path) -> None:
    big = ("Refactor this module carefully. " * 40_000)[: 1024 * 1024]
    res = cnp("prompt", "create", "Big", "--stdin", "--format", "json", input=big)
    assert res.exit_code == 0, res.stderr
    [row] = db_rows(default_db(cnp_home), "SELECT content FROM prompts WHERE id = ?",
                    res.json["id"])
    assert row["content"] == big


def test_deleting_a_prompt_in_use_names_the_jobs() -> None:
    pid = make_prompt()
    ids = [cnp("job", "create", str(pid), "@hourly", "--format", "json").json["id"]
           for _ in range(2)]
    res = cnp("prompt", "delete", str(pid), "--format", "json")
    assert res.exit_code == 1
    assert res.error["error"] == "conflict"
    assert f"job(s) {ids[0]}, {ids[1]}" in res.error["message"]
    # Once the jobs are deleted the prompt can go; the jobs' history stays readable.
    for job_id in ids:
        assert cnp("job", "delete", str(job_id)).exit_code == 0
    assert cnp("prompt", "delete", str(pid)).exit_code == 0
    res = cnp("job", "show", str(ids[0]), "--format", "json")
    assert res.exit_code == 0 and res.json["deleted_at"] is not None


# -- jobs --------------------------------------------------------------------------------------


def test_job_options_are_validated_and_stored(tmp_path: Path) -> None:
    pid = make_prompt()
    res = cnp(
        "job", "create", str(pid), "*/10 * * * * *", "--tz", "UTC", "--work-dir", str(tmp_path),
        "--model", "sonnet", "--allowed-tools", "Bash(git *),Edit Read",
        "--permission-mode", "acceptEdits", "--max-turns", "5", "--max-budget-usd", "1.5",
        "--timeout", "30m", "--idle-timeout", "90s", "--retries", "3", "--misfire", "all",
        "--overlap", "queue", "--executor", "claude", "--on-limit", "resume", "--format", "json",
    )
    assert res.exit_code == 0, res.stderr
    job = res.json
    assert job["cron_expr"] == "*/10 * * * * *"
    assert job["work_dir"] == str(tmp_path)
    assert job["options"] == {
        "model": "sonnet", "allowed_tools": ["Bash(git *)", "Edit", "Read"],
        "permission_mode": "acceptEdits", "max_turns": 5, "max_budget_usd": 1.5,
    }
    assert (job["timeout_s"], job["idle_timeout_s"], job["retries"]) == (1800, 90, 3)
    assert (job["misfire"], job["overlap"], job["on_limit"]) == ("all", "queue", "resume")


def test_dry_run_writes_nothing_and_shows_five_fire_times(cnp_home: Path) -> None:
    pid = make_prompt()
    before = counts()
    res = cnp("job", "create", str(pid), "@weekly", "--tz", "America/New_York", "--dry-run",
              "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert res.json["dry_run"] is True
    assert res.json["job"]["cron_expr"] == "0 0 * * 0"
    assert res.json["job"]["id"] is None
    times = [datetime.fromisoformat(t) for t in res.json["next_fire_times"]]
    assert len(times) == 5 and times == sorted(times)
    assert counts() == before


def test_no_register_stores_the_job_paused_until_resumed() -> None:
    pid = make_prompt()
    res = cnp("job", "create", str(pid), "@hourly", "--no-register", "--format", "json")
    assert res.json["enabled"] is False and res.json["next_run_at"] is None
    job_id = str(res.json["id"])
    resumed = cnp("job", "resume", job_id, "--format", "json").json
    assert resumed["enabled"] is True and resumed["next_run_at"] is not None
    paused = cnp("job", "pause", job_id, "--format", "json").json
    assert paused["enabled"] is False and paused["next_run_at"] is None


def test_one_shot_job_with_at() -> None:
    pid = make_prompt()
    res = cnp("job", "create", str(pid), "--at", "2099-01-02T03:04:05", "--tz", "Asia/Tokyo",
              "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert res.json["cron_expr"] is None
    assert res.json["run_at"] == "2099-01-01T18:04:05+00:00"
    assert res.json["next_run_at"] == res.json["run_at"]
    nxt = cnp("job", "next", str(res.json["id"]), "-n", "3", "--format", "json").json
    assert nxt["next_fire_times"] == ["2099-01-01T18:04:05+00:00"]


def test_job_list_shows_next_run_and_last_status(cnp_home: Path) -> None:
    pid = make_prompt()
    job_id = cnp("job", "create", str(pid), "@daily", "--format", "json").json["id"]
    with sqlite3.connect(default_db(cnp_home)) as db:
        db.execute(
            "INSERT INTO job_executions (job_id, scheduled_for, trigger, status, executor,"
            " timeout_s, idle_timeout_s, created_at, started_at)"
            " VALUES (?, '2026-01-01T00:00:00.000000Z', 'schedule', 'failed', 'claude', 1, 1,"
            " '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:01.000000Z')",
            (job_id,),
        )
    [job] = cnp("job", "list", "--format", "json").json["jobs"]
    assert job["last_status"] == "failed"
    assert job["next_run_at"] is not None
    pretty = cnp("job", "list")
    assert "failed" in pretty.stdout and "@daily" not in pretty.stdout  # normalized form shown


def test_job_next_with_after_in_the_jobs_zone() -> None:
    pid = make_prompt()
    job_id = cnp("job", "create", str(pid), "30 2 * * *", "--tz", "Europe/Berlin",
                 "--format", "json").json["id"]
    res = cnp("job", "next", str(job_id), "-n", "3", "--after", "2026-03-28T12:00",
              "--format", "json")
    assert res.json["next_fire_times"] == [
        "2026-03-29T01:00:00+00:00",  # 02:30 does not exist that night: fires at 03:00 CEST
        "2026-03-30T00:30:00+00:00",
        "2026-03-31T00:30:00+00:00",
    ]
    shown = cnp("job", "show", str(job_id))
    assert "At 02:30 every day (Europe/Berlin)" in shown.stdout


# -- bad input: a clear error, the right exit code, nothing half-written -----------------------


@pytest.mark.usefixtures("initialized")
@pytest.mark.parametrize(
    ("args", "code", "kind", "words"),
    [
        (["job", "create", "1", "0 61 * * *"], 2, "invalid_cron", ["hour field", "61", "0-23"]),
        (["job", "create", "1", "* * *"], 2, "invalid_cron", ["5 fields", "has 3"]),
        (["job", "create", "1", "@sometimes"], 2, "invalid_cron", ["unknown cron macro"]),
        (["job", "create", "1", "@daily", "--tz", "Europe/Atlantis"], 2, "invalid_input",
         ["unknown time zone", "Europe/Atlantis"]),
        (["job", "create", "999", "@daily"], 1, "not_found", ["prompt 999 does not exist"]),
        (["job", "create", "1", "@daily", "--at", "2099-01-01T00:00"], 2, "invalid_input",
         ["either a cron expression or --at"]),
        (["job", "create", "1", "--at", "2001-01-01T00:00"], 2, "invalid_input", ["in the past"]),
        (["job", "create", "1", "@daily", "--work-dir", "/no/such/dir"], 2, "invalid_input",
         ["/no/such/dir", "does not exist"]),
        (["job", "create", "1", "@daily", "--permission-mode", "yolo"], 2, "invalid_input",
         ["--permission-mode", "yolo"]),
        (["job", "create", "1", "@daily", "--timeout", "soon"], 2, "invalid_input",
         ["--timeout", "soon"]),
        (["job", "create", "1", "@daily", "--overlap", "maybe"], 2, "usage", ["--overlap"]),
        (["prompt", "create", "Empty", "   \n\t "], 2, "invalid_input", ["prompt is empty"]),
        (["prompt", "create", "NoText"], 2, "invalid_input", ["exactly once"]),
        (["job", "show", "42"], 1, "not_found", ["job 42 does not exist"]),
        (["job", "next", "1", "--after", "yesterday"], 2, "invalid_input", ["--after"]),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    args: list[str], code: int, kind: str, words: list[str]
) -> None:
    make_prompt()
    if args[:2] == ["job", "next"]:
        cnp("job", "create", "1", "@daily")
    before = counts()
    res = cnp(*args, "--format", "json")
    assert res.exit_code == code, (res.stdout, res.stderr)
    assert res.stdout == ""
    error = res.error
    assert error["error"] == kind
    for word in words:
        assert word in error["message"]
    assert counts() == before
    # The readable form says the same on stderr.
    pretty = cnp(*args)
    assert pretty.exit_code == code
    lines = pretty.stderr.splitlines()
    assert lines[0].startswith("Usage: cnp " if kind == "usage" else "Error: "), lines
    [said] = [line for line in lines if line.startswith("Error: ")]
    for word in words:
        assert word in said


def test_a_non_utf8_prompt_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "latin1.txt"
    f.write_bytes("café crème".encode("latin-1"))
    res = cnp("prompt", "create", "Bad", "--file", str(f), "--format", "json")
    assert res.exit_code == 2
    assert "not UTF-8" in res.error["message"] and "0xe9" in res.error["message"]
    assert counts()["prompts"] == 0


def test_a_file_that_is_not_sqlite_is_left_alone(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("these are my notes, not a database\n" * 10)
    before = bogus.read_bytes()
    res = cnp("status", "--db", str(bogus), "--format", "json")
    assert res.exit_code == 1
    assert res.error["error"] == "storage"
    assert "is not an SQLite database" in res.error["message"]
    assert bogus.read_bytes() == before
    assert not list(tmp_path.glob("notes.db-*"))


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody can create files in, root included (chattr +i when running as root)."""
    d = tmp_path / "locked"
    d.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(d)], check=True)
    else:
        d.chmod(0o500)
    probe = d / "probe"
    with pytest.raises(OSError):
        probe.touch()
    yield d
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(d)], check=True)
    d.chmod(0o700)


def test_a_database_directory_that_is_not_writable(unwritable_dir: Path) -> None:
    target = unwritable_dir / "night.db"
    res = cnp("init", "--db", str(target), "--format", "json")
    assert res.exit_code == 1
    assert res.error["error"] == "storage"
    assert str(unwritable_dir) in res.error["message"]
    assert not target.exists()


def test_database_file_is_private(cnp_home: Path) -> None:
    assert cnp("init").exit_code == 0
    assert (default_db(cnp_home).stat().st_mode & 0o777) == 0o600
