"""What routes share: a per-request store, the clock, and the mapping of domain errors to
HTTP statuses.

Store connections belong to one thread, and FastAPI may run a dependency's set-up, the sync
endpoint and the tear-down on different threads of its pool. So the dependency hands out an
opener, and the endpoint opens (and closes) its store in its own thread:
`with db() as store: ...`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Request

from ..config import DbLocation
from ..errors import CnpError, Conflict, InvalidInput, NotFound, StorageError
from ..store import Store, open_store


class StoreOpener:
    def __init__(self, location: DbLocation) -> None:
        self.location = location

    @contextmanager
    def __call__(self) -> Iterator[Store]:
        try:
            store = open_store(self.location)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {self.location.display()}: {exc}") from exc
        try:
            yield store
        finally:
            store.close()


def get_opener(request: Request) -> StoreOpener:
    opener: StoreOpener = request.app.state.opener
    return opener


Db = Annotated[StoreOpener, Depends(get_opener)]


def now() -> datetime:
    """The web edge's clock (the services take `now` as an argument)."""
    return datetime.now(UTC)


def zone_of(request: Request) -> ZoneInfo:
    zone: ZoneInfo = request.app.state.zone
    return zone


def cwd_of(request: Request) -> Path:
    cwd: Path = request.app.state.cwd
    return cwd


def status_of(exc: CnpError) -> int:
    if isinstance(exc, InvalidInput):
        return 422
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, StorageError):
        return 503
    return 409  # a valid request the current state refuses (e.g. cancel a finished run)


def error_body(exc: CnpError) -> dict[str, Any]:
    return exc.to_dict()
