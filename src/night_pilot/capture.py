"""Reading a child's output pipes to the end, at the speed it prints.

One thread per pipe reads large chunks, splits them into lines and hands them on through a
queue bounded by bytes: if whoever stores the lines falls behind, the readers wait, the pipes
fill and the child waits on its own writes. The readers keep the facts the watchdog needs to
judge the child rather than us: when the child last printed, whether it is silent now (every
open pipe waiting in `read`), and how long it was held up by our back-pressure.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

READ_SIZE = 1 << 16
# Lines read and not yet taken, at most (in bytes): what the storing side may lag behind.
QUEUE_BYTES = 2 << 20
# One line longer than this is cut: its first bytes are kept, the rest counted as dropped.
MAX_LINE_BYTES = 16 << 20


@dataclass(slots=True)
class Chunk:
    """Lines of one pipe that arrived together, each with its size in bytes as printed."""

    stream: str
    lines: list[tuple[str, int]]
    received_at: datetime
    cut_bytes: int = 0  # bytes of over-long lines that were not kept


@dataclass
class _Pipe:
    name: str
    reading_since: float | None = None  # in read() since then (monotonic), waiting on the child
    stalled_s: float = 0.0  # time spent waiting for room in the queue
    eof: bool = False
    abandoned: bool = False


@dataclass
class _Queue:
    """A FIFO of chunks bounded by the bytes they hold; `None` chunks mark a pipe's end."""

    limit: int
    items: deque[tuple[Chunk | None, int]] = field(default_factory=deque)
    held: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)

    def put(self, chunk: Chunk | None, size: int, pipe: _Pipe) -> None:
        with self.cond:
            if size and self.held and self.held + size > self.limit:
                began = time.monotonic()
                while self.held and self.held + size > self.limit and not pipe.abandoned:
                    self.cond.wait(0.5)
                pipe.stalled_s += time.monotonic() - began
            if pipe.abandoned:
                return
            self.items.append((chunk, size))
            self.held += size
            self.cond.notify_all()

    def get(self, timeout: float) -> tuple[bool, Chunk | None]:
        """(True, chunk) for the next item, (False, None) if none came within `timeout`."""
        with self.cond:
            if not self.items:
                self.cond.wait(timeout)
                if not self.items:
                    return False, None
            chunk, size = self.items.popleft()
            self.held -= size
            self.cond.notify_all()
            return True, chunk


class Capture:
    """Reads `pipes` (name → binary pipe) on threads of its own until each ends."""

    def __init__(self, pipes: dict[str, IO[bytes]], clock: Callable[[], datetime], *,
                 queue_bytes: int = QUEUE_BYTES, max_line: int = MAX_LINE_BYTES) -> None:
        self._queue = _Queue(queue_bytes)
        self._clock = clock
        self._max_line = max_line
        self._pipes = {name: _Pipe(name) for name in pipes}
        self.last_output = time.monotonic()
        self._ended = 0
        for name, pipe in pipes.items():
            threading.Thread(target=self._read, args=(pipe, self._pipes[name]),
                             name=f"capture-{name}", daemon=True).start()

    # -- the consumer's side ----------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Every pipe has ended (or was abandoned) and every line read has been taken."""
        return self._ended >= len(self._pipes) and not self._queue.items

    def take(self, timeout: float) -> Chunk | None:
        """The next chunk of lines, or None if nothing arrived within `timeout`."""
        got, chunk = self._queue.get(timeout)
        if got and chunk is None:
            self._ended += 1
        return chunk

    def open_pipes(self) -> list[str]:
        return [p.name for p in self._pipes.values() if not p.eof and not p.abandoned]

    def abandon_open(self) -> list[str]:
        """Stop waiting for pipes that have not ended (something outside the process group
        still holds them). Lines already read stay in the queue to be taken; whatever such a
        pipe yields from now on is dropped."""
        names = []
        with self._queue.cond:
            for pipe in self._pipes.values():
                if not pipe.eof and not pipe.abandoned:
                    pipe.abandoned = True
                    names.append(pipe.name)
        for _ in names:
            self._queue.put(None, 0, _Pipe("end"))  # counts as that pipe's end
        return names

    def silent_for(self, now: float) -> float:
        """How long the child has printed nothing while we waited on it: 0 when a reader is
        busy handing lines on (then we are the slow side, not the child)."""
        open_ = [p for p in self._pipes.values() if not p.eof and not p.abandoned]
        if not open_:
            return now - self.last_output
        if any(p.reading_since is None for p in open_):
            return 0.0
        return now - max(p.reading_since for p in open_ if p.reading_since is not None)

    def stalled_s(self) -> float:
        """How long the child's output waited for us (the longest of the pipes)."""
        return max((p.stalled_s for p in self._pipes.values()), default=0.0)

    # -- the reader threads -----------------------------------------------------------------

    def _read(self, pipe: IO[bytes], state: _Pipe) -> None:
        fd = pipe.fileno()
        partial = bytearray()
        cut = 0  # bytes dropped from the line being read (it is over-long)
        try:
            while not state.abandoned:
                state.reading_since = time.monotonic()
                try:
                    data = os.read(fd, READ_SIZE)
                except OSError:
                    data = b""
                state.reading_since = None
                if state.abandoned:
                    return
                if not data:
                    break
                self.last_output = time.monotonic()
                lines: list[tuple[str, int]] = []
                size = start = 0
                while True:
                    end = data.find(b"\n", start)
                    piece = data[start:len(data) if end < 0 else end]
                    room = self._max_line - len(partial)
                    if len(piece) > room:
                        cut += len(piece) - room
                        piece = piece[:room]
                    if end < 0:
                        partial += piece
                        break
                    if partial:
                        partial += piece
                        piece = bytes(partial)
                        partial.clear()
                    lines.append((_text(piece), len(piece)))
                    size += len(piece) + 1
                    start = end + 1
                if lines:
                    self._queue.put(Chunk(state.name, lines, self._clock(), cut), size, state)
                    cut = 0
            if partial and not state.abandoned:
                self._queue.put(Chunk(state.name, [(_text(bytes(partial)), len(partial))],
                                      self._clock(), cut), len(partial), state)
        finally:
            with self._queue.cond:
                ended = not state.abandoned
                state.eof = state.eof or ended
            if ended:
                self._queue.put(None, 0, state)
            with contextlib.suppress(OSError):
                pipe.close()


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return text[:-1] if text.endswith("\r") else text


class Tail:
    """The last `limit` characters of the lines added, kept without holding the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines: deque[str] = deque()
        self.size = 0

    def add(self, line: str) -> None:
        if len(line) > self.limit:
            line = line[-self.limit:]
        self.lines.append(line)
        self.size += len(line) + 1
        while self.size - len(self.lines[0]) - 1 >= self.limit:
            self.size -= len(self.lines.popleft()) + 1

    def text(self) -> str:
        return "\n".join(self.lines)[-self.limit:]
