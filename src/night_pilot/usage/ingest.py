"""Incremental import of transcripts into the ledger: a file is read from where the last
import stopped unless it was rewritten, and what was read is written in bounded batches, each
one transaction holding the responses and the file positions they came from.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .parse import ParseCounts, parse_lines
from .scan import file_identity, transcript_files

if TYPE_CHECKING:
    from ..store import Store
    from .reports import Row

HEAD_BYTES = 1024  # a file whose first KiB (or the KiB before the position) changed was rewritten
CHUNK_BYTES = 8 << 20  # read size; bounds memory for files of any length
FLUSH_ENTRIES = 20_000  # responses held before they are written (bounds memory)
FLUSH_BYTES = 64 << 20  # ... or after this much was read (bounds the work a crash repeats)


@dataclass
class FileImport:
    """What one import did with one file."""

    path: str
    action: str  # "new", "appended", "reread" (rewritten or truncated)
    bytes_read: int
    lines: int
    entries: int
    malformed: int
    pending_bytes: int  # a last line still being written: read once it is complete

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ImportReport:
    roots: list[str]
    files_seen: int = 0
    files_unchanged: int = 0
    bytes_read: int = 0
    lines_read: int = 0
    entries_read: int = 0
    malformed_lines: int = 0
    pending_bytes: int = 0
    entries_before: int = 0
    entries_after: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    files: list[FileImport] = field(default_factory=list)

    @property
    def entries_added(self) -> int:
        return self.entries_after - self.entries_before

    def to_dict(self) -> dict[str, Any]:
        read = [f for f in self.files if f.bytes_read]
        return {
            "roots": self.roots,
            "files_seen": self.files_seen,
            "files_read": len(read),
            "files_new": sum(f.action == "new" for f in read),
            "files_appended": sum(f.action == "appended" for f in read),
            "files_reread": sum(f.action == "reread" for f in self.files),
            "files_unchanged": self.files_unchanged,
            "bytes_read": self.bytes_read,
            "lines_read": self.lines_read,
            "entries_read": self.entries_read,
            "entries_added": self.entries_added,
            "entries_total": self.entries_after,
            "malformed_lines": self.malformed_lines,
            "pending_bytes": self.pending_bytes,
            "malformed_by_file": [{"path": f.path, "malformed_lines": f.malformed}
                                  for f in self.files if f.malformed],
            "errors": self.errors,
        }


def _hash(data: bytes) -> str:
    import hashlib

    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _tail_hash(f: BinaryIO, offset: int) -> str:
    """The hash of the (up to) 1 KiB a file held just before `offset`."""
    start = max(0, offset - HEAD_BYTES)
    f.seek(start)
    return _hash(f.read(offset - start))


class _Batch:
    """Responses and file positions read but not yet written. They are written together in
    one transaction, so a file's position never runs ahead of its responses; and because
    responses merge by key, a crash before the write only means reading those bytes again."""

    def __init__(self, store: Store, now: datetime) -> None:
        self.store = store
        self.now = now
        self.entries: dict[str, tuple[Any, ...]] = {}
        self.files: list[tuple[Any, ...]] = []
        self.bytes = 0

    def flush(self) -> None:
        if not self.files and not self.entries:
            return
        with self.store.write():
            self.store.usage.save_files(self.files, self.now)
            self.store.usage.add_entries(self.entries.values())
        self.entries = {}
        self.files = []
        self.bytes = 0

    def full(self) -> bool:
        return len(self.entries) >= FLUSH_ENTRIES or self.bytes >= FLUSH_BYTES


def import_transcripts(store: Store, roots: list[Path], now: datetime) -> ImportReport:
    """Read what is new in every transcript under `roots` into the ledger.

    Per file: unchanged (same inode, size and mtime) → not opened; grown with the same first
    KiB → only the bytes after the last complete line are read; rewritten, truncated or
    replaced → read again from the start (responses already in the ledger stay: they were
    billed, and a re-read merges into them by dedup key). A last line without its line break
    is left for the next import.
    """
    report = ImportReport(roots=[str(r) for r in roots])
    states = store.usage.file_states()
    report.entries_before = store.usage.counts()["entries"]
    batch = _Batch(store, now)
    # The parser allocates millions of short-lived, acyclic objects; letting the cyclic
    # collector walk them (and the batch) over and over costs more than the parse itself.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _import_all(store, roots, states, batch, report)
    finally:
        if collecting:
            gc.enable()
    report.entries_after = store.usage.counts()["entries"]
    return report


def _import_all(store: Store, roots: list[Path], states: Mapping[str, Row],
                batch: _Batch, report: ImportReport) -> None:
    with store.usage.import_session():
        for root in roots:
            for path, st in transcript_files(root):
                report.files_seen += 1
                state = states.get(path)
                # Most files did not change since the last import: not even opened.
                if (state is not None and state["size"] == st.st_size
                        and state["mtime_ns"] == st.st_mtime_ns and state["inode"] == st.st_ino):
                    report.files_unchanged += 1
                    continue
                try:
                    done = _import_file(batch, root, path, st, state)
                except OSError as exc:
                    report.errors.append({"path": path, "error": exc.strerror or str(exc)})
                    continue
                report.files.append(done)
                report.bytes_read += done.bytes_read
                report.lines_read += done.lines
                report.entries_read += done.entries
                report.malformed_lines += done.malformed
                report.pending_bytes += done.pending_bytes
                if batch.full():
                    batch.flush()
        batch.flush()


def _import_file(batch: _Batch, root: Path, path: str, st: os.stat_result,
                 state: Row | None) -> FileImport:
    session, project = file_identity(str(root), path)
    counts = ParseCounts()
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
        start, action = 0, "new"
        if state is not None:
            offset = state["read_offset"]
            # Replaced (new inode), shorter than before, or different where it was read: the
            # first KiB and the KiB before the position must be as they were.
            rewritten = (
                state["inode"] != st.st_ino
                or st.st_size < state["size"]
                or _hash(head[: state["head_len"]]) != state["head_hash"]
                or _tail_hash(f, offset) != state["tail_hash"]
            )
            start, action = (0, "reread") if rewritten else (offset, "appended")
        f.seek(start)
        offset = start
        carry = b""
        while True:
            chunk = f.read(CHUNK_BYTES)
            if not chunk:
                break
            data = carry + chunk if carry else chunk
            cut = data.rfind(b"\n") + 1  # only whole lines; the rest waits for more bytes
            parse_lines(data[:cut] if cut < len(data) else data, file_key=path,
                        session=session, project=project, merged=batch.entries, counts=counts)
            offset += cut
            carry = data[cut:]
        end = f.tell()
        tail = _tail_hash(f, offset)
    batch.files.append((
        path, end, st.st_mtime_ns, st.st_ino, len(head), _hash(head), tail, offset,
        counts.lines, counts.entries, counts.malformed, 1 if action == "reread" else 0,
    ))
    batch.bytes += end - start
    return FileImport(path, action, end - start, counts.lines, counts.entries, counts.malformed,
                      end - offset)
