"""What the query mixins need of a database connection, whichever backend provides it.

`sqlite3.Connection` satisfies these protocols as it is; the PostgreSQL store wraps psycopg in
an adapter that does (`store/pg.py`). Rows support both `row[0]` and `row["name"]`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol


class Cursor(Protocol):
    @property
    def lastrowid(self) -> int | None: ...

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
