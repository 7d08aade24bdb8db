"""Output lines written straight into a run's events, for tests that need some stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from night_pilot.store.timefmt import to_db


def add_event(store: Any, run_id: int, seq: int, at: datetime, stream: str, line: str,
              event_type: str | None = None) -> None:
    assert store.events.append(run_id, [(seq, to_db(at), stream, event_type, None, line)],
                               owner=None)
