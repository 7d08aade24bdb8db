"""What the query objects need of a database connection, whichever backend provides it, and
the errors a refused statement raises on both.

Each store wraps its driver in an adapter that satisfies these protocols (`store/sqlite.py`,
`store/pg.py`) and turns the driver's errors into these. Rows support both `row[0]` and
`row["name"]`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from ..errors import Conflict, StorageError


class DatabaseError(StorageError):
    """A statement the database refused; `sqlstate` says why where the backend tells
    (PostgreSQL's SQLSTATE; None on SQLite)."""

    def __init__(self, message: str, sqlstate: str | None = None, *,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.sqlstate = sqlstate


class ConstraintViolation(Conflict):
    """A write the schema's constraints refuse (unique, foreign key, check): the request was
    understood, the data's state forbids it."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class RawCursor(Cursor, Protocol):
    """A cursor whose rows can be switched to plain tuples (`row_factory = None`)."""

    row_factory: Any

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


class Connection(Protocol):
    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...

    def cursor(self) -> RawCursor: ...
