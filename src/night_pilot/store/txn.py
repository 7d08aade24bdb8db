"""Transactions as both backends run them: `write()` nests by joining the outer transaction,
`savepoint()` undoes one step of a batch. Each store says how to begin, commit and roll back."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Transactions(ABC):
    _depth: int = 0
    db: Any

    @abstractmethod
    def _begin(self) -> None:
        """Start a write transaction; raise StorageError if the database refuses."""

    @abstractmethod
    def _commit(self) -> None:
        """Commit; on failure roll back and raise StorageError."""

    @abstractmethod
    def _rollback(self) -> None:
        """Undo the open transaction."""

    @abstractmethod
    def _control(self, sql: str) -> None:
        """Run a transaction-control statement (SAVEPOINT and friends)."""

    @contextmanager
    def write(self) -> Iterator[Any]:
        """A write transaction, committed at the end and rolled back on any exception.

        Nested calls join the outer transaction, so a service can compose several store
        operations into one atomic step (`with store.write(): ...`).
        """
        if self._depth:
            self._depth += 1
            try:
                yield self.db
            finally:
                self._depth -= 1
            return
        self._begin()
        self._depth = 1
        try:
            yield self.db
        except BaseException:
            self._depth = 0
            self._rollback()
            raise
        self._depth = 0
        self._commit()

    transaction = write

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a write transaction: undo only this block if it raises."""
        assert self._depth, "savepoint() needs an open write() transaction"
        self._control("SAVEPOINT step")
        try:
            yield
        except BaseException:
            self._control("ROLLBACK TO SAVEPOINT step")
            self._control("RELEASE SAVEPOINT step")
            raise
        self._control("RELEASE SAVEPOINT step")
