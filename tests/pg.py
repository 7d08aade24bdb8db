"""A PostgreSQL server for the tests that need one, and a fresh schema per test.

`fresh_schema` is a new, empty schema. `migrated_schema` is one at the code's version with no
rows in it: schemas migrated once are emptied (TRUNCATE ... RESTART IDENTITY, so ids start at 1
again) and handed to the next test, which costs a fifth of migrating a new one. A schema whose
tables a test changed, or that still has sessions attached when the test ends (a killed
daemon's), is dropped instead.

The server comes from CNP_TEST_PG_URL when set (scripts/test.sh starts one with
scripts/postgres.sh), else this module starts it with that script. PostgreSQL tests skip only
when told to (CNP_SKIP_POSTGRES=1); a server that cannot be started is an error, not a skip.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

REPO = Path(__file__).resolve().parent.parent
_server_url: str | None = None


def server_url() -> str:
    global _server_url
    if os.environ.get("CNP_SKIP_POSTGRES") == "1":
        pytest.skip("CNP_SKIP_POSTGRES=1: PostgreSQL tests not requested")
    if _server_url is None:
        url = os.environ.get("CNP_TEST_PG_URL")
        if not url:
            out = subprocess.run(["bash", str(REPO / "scripts" / "postgres.sh"), "start"],
                                 capture_output=True, text=True, timeout=300)
            if out.returncode != 0:
                raise RuntimeError(f"scripts/postgres.sh start failed:\n{out.stderr}")
            url = out.stdout.strip().splitlines()[-1]
        _server_url = url
    return _server_url


def _terminate_sessions(conn: Any, schema: str) -> None:
    """Ends the sessions still attached to `schema` (a killed daemon's), so nothing blocks a
    DROP or TRUNCATE."""
    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                 " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                 " AND application_name = %s AND query ILIKE %s",
                 ("cnp", f"%{schema}%"))


def with_schema(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A URL whose search_path is a new, empty schema; dropped afterwards."""
    import psycopg

    base = server_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_schema(base, schema)
    finally:
        _drop(base, schema)


def _drop(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        _terminate_sessions(conn, schema)
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


# Emptied schemas at the code's version, the tables such a schema has, and the rows its
# migrations put in (the fencing counter's), which emptying puts back.
_pool: list[str] = []
_tables: tuple[str, ...] = ()
_seeds: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}


@contextmanager
def migrated_schema() -> Iterator[str]:
    """A URL whose search_path is a schema at the code's version, with no rows but the record
    of its migrations."""
    base = server_url()
    schema = _pool.pop() if _pool else _new_migrated(base)
    reusable = False
    try:
        yield with_schema(base, schema)
        reusable = _empty(base, schema)
    finally:
        if reusable:
            _pool.append(schema)
        else:
            _drop(base, schema)


def _new_migrated(base: str) -> str:
    global _tables
    import psycopg

    from night_pilot.config import DbLocation
    from night_pilot.store import open_store

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    open_store(DbLocation(url=with_schema(base, schema))).close()
    if not _tables:
        _tables = _tables_of(base, schema)
        with psycopg.connect(base, autocommit=True) as conn:
            for table in _tables:
                cur = conn.execute(f'SELECT * FROM "{schema}"."{table}"')
                rows = cur.fetchall()
                if rows and table != "schema_migrations":
                    _seeds[table] = ([d.name for d in cur.description or ()], rows)
    return schema


def _tables_of(base: str, schema: str) -> tuple[str, ...]:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s"
                            " ORDER BY tablename", (schema,)).fetchall()
    return tuple(row[0] for row in rows)


def _empty(base: str, schema: str) -> bool:
    """Empties `schema` for the next test; False when it cannot be reused as it is."""
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        attached = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND application_name = %s", ("cnp",)).fetchone()
        if attached is None or attached[0]:
            return False
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s"
                            " ORDER BY tablename", (schema,)).fetchall()
        if tuple(row[0] for row in rows) != _tables:
            return False
        from night_pilot.store.migrations import latest_version

        version = conn.execute(
            f'SELECT coalesce(max(version), 0) FROM "{schema}".schema_migrations').fetchone()
        if version is None or version[0] != latest_version():
            return False
        data = [t for t in _tables if t != "schema_migrations"]
        with conn.transaction():
            conn.execute("TRUNCATE " + ", ".join(f'"{schema}"."{t}"' for t in data)
                         + " RESTART IDENTITY CASCADE")
            for table, (columns, seeded) in _seeds.items():
                names = ", ".join(f'"{c}"' for c in columns)
                marks = ", ".join(["%s"] * len(columns))
                conn.cursor().executemany(
                    f'INSERT INTO "{schema}"."{table}" ({names}) VALUES ({marks})', seeded)
    return True


def drop_pool() -> None:
    """Drops the emptied schemas kept for reuse (at the end of the test session)."""
    while _pool:
        _drop(server_url(), _pool.pop())
