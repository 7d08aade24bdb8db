"""Storage: the only code that talks to the database.

`open_store` picks the backend for a `DbLocation`; everything above this package calls store
methods and never writes SQL of its own.
"""

from __future__ import annotations

from ..config import DbLocation
from ..errors import StorageError
from .sqlite import SqliteStore

Store = SqliteStore


def open_store(location: DbLocation, *, create: bool = True) -> Store:
    if location.is_postgres:
        raise StorageError(
            f"PostgreSQL databases are not supported by this version: {location.display()}"
        )
    assert location.path is not None
    return SqliteStore(location.path, create=create)


__all__ = ["SqliteStore", "Store", "open_store"]
