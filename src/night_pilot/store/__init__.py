"""Storage: the only code that talks to the database.

`open_store` picks the backend for a `DbLocation`: an SQLite file (the default, stdlib only)
or a PostgreSQL URL (psycopg, the `postgres` extra, imported only then). Everything above this
package calls store methods and never writes SQL of its own.
"""

from __future__ import annotations

from ..config import DbLocation
from ..errors import StorageError
from .sqlite import SqliteStore

TYPE_CHECKING = False  # typing's, without importing typing (docs/architecture.md)
if TYPE_CHECKING:
    from .pg import PostgresStore

    Store = SqliteStore | PostgresStore
else:
    Store = SqliteStore


def open_store(location: DbLocation, *, create: bool = True) -> Store:
    if location.is_postgres:
        assert location.url is not None
        try:
            from .pg import PostgresStore
        except ImportError as exc:
            raise StorageError(
                f"{location.display()} is a PostgreSQL database, but psycopg is not installed",
                hint="pip install 'claude-night-pilot[postgres]'",
            ) from exc
        return PostgresStore(location.url, create=create)
    assert location.file is not None
    return SqliteStore(location.file, create=create)


__all__ = ["SqliteStore", "Store", "open_store"]
