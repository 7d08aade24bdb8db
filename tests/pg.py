"""A PostgreSQL server for the tests that need one, and a fresh schema per test.

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
        with psycopg.connect(base, autocommit=True) as conn:
            # Sessions still attached (a killed daemon's) must not block the drop.
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                         " AND application_name = %s AND query ILIKE %s",
                         ("cnp", f"%{schema}%"))
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
