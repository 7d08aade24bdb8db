"""Shared fixtures: every test gets its own data directory, so no test touches a real database.

Tier policy: tests marked `realcli` need the pinned Claude CLI. They skip only when the
environment says so (CNP_SKIP_REALCLI=1); with CNP_REQUIRE_ALL_TIERS=1 (CI) any skip fails the run.
The same holds for PostgreSQL (CNP_SKIP_POSTGRES=1; see tests/pg.py).

`backend` runs a test once per database backend: it points CNP_DB at a fresh PostgreSQL schema
for the `postgres` case, so everything that resolves the database (CLI, daemon, services) uses it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def cnp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "cnp-home"
    monkeypatch.setenv("CNP_HOME", str(home))
    monkeypatch.delenv("CNP_DB", raising=False)
    monkeypatch.delenv("CLAUDECODE", raising=False)
    yield home


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite"
        return
    from pg import fresh_schema

    with fresh_schema() as url:
        monkeypatch.setenv("CNP_DB", url)
        yield "postgres"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
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
