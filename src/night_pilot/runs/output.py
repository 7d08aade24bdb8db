"""A run's output on its way to the database: numbered, capped, and written in batches.

Lines are buffered and stored a batch to a transaction (group commit): when a few hundred are
waiting or the oldest has waited ~100 ms, and the rest with the run's outcome, in the
transaction that records it. A crash loses at most the batch not yet written, of a run that
is then reaped; a completed run always has its result line stored. Every batch is written
only while the run's claim holds (owner and fencing token).

Past the run's output cap, lines are still read (the caller parses them for the result and
usage) but not stored; one marker line (stream `cnp`, type `truncated`) says where the stored
output stops and, once the run is over, how much was left out. The final `result` event is
stored whatever the cap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

from ..claude_stream import api_retry_note
from ..faults import crash_point
from ..models import RunStatus
from ..store import Store

FLUSH_LINES = 500
FLUSH_EVERY_S = 0.1
DEFAULT_MAX_OUTPUT = 64 << 20  # bytes of a run's output stored, by default


def _size(n: int) -> str:
    from ..catalog import format_size

    return format_size(n)


class OutputRecorder:
    def __init__(self, store: Store, run_id: int, owner: tuple[str, int], *, max_bytes: int,
                 flush_lines: int = FLUSH_LINES, flush_every_s: float = FLUSH_EVERY_S) -> None:
        self.store = store
        self.run_id = run_id
        self.owner = owner
        self.max_bytes = max_bytes
        self.flush_lines = flush_lines
        self.flush_every_s = flush_every_s
        self.seq = 0  # the next line's number: lines stored so far, marker included
        self.stored_bytes = 0
        self.dropped_lines = 0
        self.dropped_bytes = 0  # past the cap, and the cut-off ends of over-long lines
        self.marker_seq: int | None = None
        self.batches = 0
        self._rows: list[tuple[int, str | None, str, str | None, str | None, str]] = []
        self._oldest: float | None = None  # when the oldest unwritten row was added

    @property
    def pending(self) -> int:
        return len(self._rows)

    @property
    def truncated(self) -> bool:
        return self.marker_seq is not None or self.dropped_bytes > 0

    def add(self, stream: str, line: str, size: int, received_at: str | None,
            event_type: str | None = None, subtype: str | None = None, *,
            keep: bool = False) -> None:
        """One line as printed (`size` its bytes; `received_at` as `to_db` writes it). With
        `keep` it is stored even past the cap (the result event)."""
        if not keep and (self.marker_seq is not None
                         or self.stored_bytes + size > self.max_bytes):
            self.dropped_lines += 1
            self.dropped_bytes += size
            if self.marker_seq is None:
                self.marker_seq = self._append(
                    "cnp", f"output past the {_size(self.max_bytes)} cap is not stored "
                    "(--max-output); it is still read for the run's result and usage",
                    received_at, "truncated")
            return
        self.stored_bytes += size
        self._append(stream, line, received_at, event_type, subtype)

    def cut(self, size: int) -> None:
        """Bytes of an over-long line that were never kept."""
        self.dropped_bytes += size

    def _append(self, stream: str, line: str, received_at: str | None,
                event_type: str | None = None, subtype: str | None = None) -> int:
        seq = self.seq
        self._rows.append((seq, received_at, stream, event_type, subtype, line))
        self.seq += 1
        if self._oldest is None:
            self._oldest = time.monotonic()
        return seq

    def due(self, mono: float) -> bool:
        return len(self._rows) >= self.flush_lines or (
            self._oldest is not None and mono - self._oldest >= self.flush_every_s)

    def flush(self) -> bool:
        """Write the waiting lines in one transaction. False: the claim is lost (nothing was
        written). A database error leaves them waiting for the next flush, and is raised."""
        rows, self._rows, self._oldest = self._rows, [], None
        try:
            with self.store.write():
                if not self.store.events.append(self.run_id, rows, owner=self.owner):
                    return False
                crash_point("event_batch")  # crash tests: killed inside the transaction
        except BaseException:
            self._rows = rows + self._rows
            self._oldest = time.monotonic()
            raise
        self.batches += 1
        if self.batches == 1:
            crash_point("mid_run")
        return True

    def finish(self) -> bool:
        """Inside the caller's transaction that records the outcome: the last lines, and the
        marker's final words. False if the claim is lost."""
        if self.marker_seq is not None:
            text = (f"output truncated at the {_size(self.max_bytes)} cap (--max-output): "
                    f"{self.dropped_lines:,} lines ({_size(self.dropped_bytes)}) after this "
                    "point were read for the run's result and usage but not stored")
            for i, row in enumerate(self._rows):
                if row[0] == self.marker_seq:
                    self._rows[i] = (*row[:5], text)
                    break
            else:
                if not self.store.events.append(self.run_id, [], owner=self.owner):
                    return False
                self.store.events.set_line(self.run_id, self.marker_seq, text)
        rows, self._rows, self._oldest = self._rows, [], None
        return self.store.events.append(self.run_id, rows, owner=self.owner)

    def note(self) -> str | None:
        """What a run whose output was truncated says about it, else None."""
        if not self.truncated:
            return None
        return (f"output truncated: {_size(self.stored_bytes)} stored, "
                f"{self.dropped_lines:,} lines ({_size(self.dropped_bytes)}) past the "
                f"{_size(self.max_bytes)} cap not stored")


def api_retry_notes(store: Store, runs: Mapping[int, str]) -> dict[int, tuple[int, str]]:
    """For each of these runs (id: status) in which the CLI retried an API call itself: how
    many times, and that said in words (the latest retry while the run is going, how many
    after)."""
    found = store.events.api_retries(list(runs))
    notes = {}
    for run_id, status in runs.items():
        if run_id not in found:
            continue
        count, line = found[run_id]
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            notes[run_id] = (count, api_retry_note(count, event, running=status in (
                RunStatus.QUEUED, RunStatus.RUNNING)))
    return notes
