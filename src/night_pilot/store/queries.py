"""The base of the query objects: each is made with the store it queries (`store.jobs`,
`store.runs`, ...) and reaches the connection, the dialect and the transactions through it."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import BaseStore
    from .dbapi import Connection, Cursor
    from .dialect import Dialect


class Queries:
    def __init__(self, store: BaseStore) -> None:
        self.store = store

    @property
    def db(self) -> Connection:
        return self.store.db

    @property
    def dialect(self) -> Dialect:
        return self.store.dialect

    def write(self) -> AbstractContextManager[Connection]:
        """The store's write transaction (nested calls join the outer one)."""
        return self.store.write()


def new_id(cursor: Cursor) -> int:
    """The id an `INSERT ... RETURNING id` returned (read to the end: the statement is then
    done on every backend)."""
    rows = cursor.fetchall()
    return int(rows[0][0])
