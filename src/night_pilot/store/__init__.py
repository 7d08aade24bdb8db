"""Storage: the only code that talks to the database.

`open_store` picks the backend for a `DbLocation`: an SQLite file (the default, stdlib only)
or a PostgreSQL URL (psycopg, the `postgres` extra, imported only then). A store holds the
connection, its dialect and the transactions; its queries are grouped by subject in query
objects (`store.jobs.get(...)`, `store.claims.finish(...)`). Everything above this package
calls those and never writes SQL of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import DbLocation
from ..errors import StorageError
from .base import BaseStore
from .sqlite import SqliteStore

if TYPE_CHECKING:
    from .pg import PostgresStore

    Store = SqliteStore | PostgresStore
else:
    Store = SqliteStore


def require_postgres(shown: str) -> None:
    """Make sure the PostgreSQL driver can be imported; the error names the database
    (`shown`, its URL without the password) and how to install it."""
    try:
        from . import pg  # noqa: F401
    except ImportError as exc:
        raise StorageError(
            f"{shown} is a PostgreSQL database, but psycopg is not installed",
            hint="pip install 'claude-night-pilot[postgres]'",
        ) from exc


def open_store(location: DbLocation, *, create: bool = True) -> Store:
    if location.is_postgres:
        assert location.url is not None
        require_postgres(location.display())
        from .pg import PostgresStore

        return PostgresStore(location.url, create=create)
    assert location.file is not None
    return SqliteStore(location.file, create=create)


__all__ = ["BaseStore", "SqliteStore", "Store", "open_store", "require_postgres"]
