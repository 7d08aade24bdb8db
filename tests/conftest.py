"""Shared fixtures: every test gets its own data directory, so no test touches a real database.

Tier policy: tests marked `realcli` need the pinned Claude CLI. They skip only when the
environment says so (CNP_SKIP_REALCLI=1); with CNP_REQUIRE_ALL_TIERS=1 (CI) any skip fails the run.
The same holds for PostgreSQL (CNP_SKIP_POSTGRES=1; see tests/pg.py).

`backend` runs a test once per database backend: it points CNP_DB at a PostgreSQL schema of its
own for the `postgres` case (migrated, with no rows: tests/pg.py), so everything that resolves
the database (CLI, daemon, services) uses it. `blank_backend` is the same with nothing created
yet, for tests of creating and migrating a database.

`initialized` makes the test's default database exist, migrated and empty (a module of tests
that are not about creating one asks for it with `pytestmark`).
`store` is a fresh, migrated store on the test's database: the one `cnp` run in-process (or a
daemon) in the same test uses too; SQLite unless the test also asks for `backend`. A fresh
SQLite database is a copy of one migrated once per session (migrating costs more than copying).
`clock` is a fake `now` for code that takes one: it stands still until told to `advance`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from night_pilot.config import resolve_db
from night_pilot.store import SqliteStore, Store, open_store

STANDIN_CLAUDE = Path(__file__).with_name("standin_claude.py")


@pytest.fixture(autouse=True)
def cnp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "cnp-home"
    monkeypatch.setenv("CNP_HOME", str(home))
    monkeypatch.delenv("CNP_DB", raising=False)
    monkeypatch.delenv("CLAUDECODE", raising=False)
    yield home


@pytest.fixture(scope="session")
def fresh_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Path]:
    """Makes a path a new SQLite database at the latest schema version, with nothing in it
    (private, as the store creates it): a copy of one migrated once."""
    template = tmp_path_factory.mktemp("template") / "migrated.db"
    SqliteStore(template).close()

    def make(path: Path) -> Path:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copyfile(template, path)
        path.chmod(0o600)
        return path

    return make


@pytest.fixture
def initialized(fresh_sqlite: Callable[[Path], Path]) -> Path:
    """The test's default database exists, migrated and empty, as `cnp init` leaves it: for
    tests of what commands do, not of how a database is created."""
    path = resolve_db().path
    assert path is not None
    return fresh_sqlite(Path(path))


@pytest.fixture
def store(request: pytest.FixtureRequest, fresh_sqlite: Callable[[Path], Path]
          ) -> Iterator[Store]:
    if "backend" in request.fixturenames:
        request.getfixturevalue("backend")  # CNP_DB at PostgreSQL first, for that case
    location = resolve_db()
    if location.path is not None and not os.path.exists(location.path):
        fresh_sqlite(Path(location.path))
    s = open_store(location)
    yield s
    s.close()


START = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)


class Clock:
    """A `now` that moves only when told: `clock.now` where code takes a clock, `clock.now()`
    where it takes the time."""

    def __init__(self, start: datetime = START) -> None:
        self.at = start

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> datetime:
        self.at += timedelta(seconds=seconds)
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@dataclass
class StandinClaude:
    """`tests/standin_claude.py` as the `claude` every run in this test finds
    (CNP_CLAUDE_BIN); `configure` says what it prints, `calls` what it was given."""

    path: Path
    log: Path
    monkeypatch: pytest.MonkeyPatch

    def configure(self, **settings: object) -> StandinClaude:
        for name, value in settings.items():
            self.monkeypatch.setenv(f"STANDIN_{name.upper()}", str(value))
        return self

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def standin_claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StandinClaude:
    for name in list(os.environ):
        if name.startswith("STANDIN_"):
            monkeypatch.delenv(name)
    log = tmp_path / "standin-claude.log"
    monkeypatch.setenv("CNP_CLAUDE_BIN", str(STANDIN_CLAUDE))
    monkeypatch.setenv("STANDIN_LOG", str(log))
    return StandinClaude(STANDIN_CLAUDE, log, monkeypatch)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite"
        return
    from pg import migrated_schema

    with migrated_schema() as url:
        monkeypatch.setenv("CNP_DB", url)
        yield "postgres"


@pytest.fixture(params=["sqlite", "postgres"])
def blank_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
                  ) -> Iterator[str]:
    """`backend` for tests of creating and migrating a database: nothing exists yet (no
    SQLite file, an empty PostgreSQL schema)."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    from pg import fresh_schema

    with fresh_schema() as url:
        monkeypatch.setenv("CNP_DB", url)
        yield "postgres"


@pytest.fixture(scope="session", autouse=True)
def _drop_pooled_schemas() -> Iterator[None]:
    yield
    if "pg" in sys.modules:
        sys.modules["pg"].drop_pool()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A test on PostgreSQL (marked, or the `postgres` case of `backend`) talks to a server:
    # it belongs to the slow tier, which CI runs whole.
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_pg = callspec is not None and "postgres" in (
            callspec.params.get("backend"), callspec.params.get("blank_backend"))
        if on_pg:
            item.add_marker(pytest.mark.postgres)
        if item.get_closest_marker("postgres") is not None:
            item.add_marker(pytest.mark.slow)
    if os.environ.get("CNP_SKIP_REALCLI") == "1":
        skip = pytest.mark.skip(reason="CNP_SKIP_REALCLI=1: real Claude CLI tests not requested")
        for item in items:
            if "realcli" in item.keywords:
                item.add_marker(skip)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CNP_REQUIRE_ALL_TIERS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        if reporter:
            reporter.write_line(
                f"CNP_REQUIRE_ALL_TIERS=1: {skipped} test(s) were skipped; every tier must run.",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
