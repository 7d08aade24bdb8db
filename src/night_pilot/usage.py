"""The usage ledger: imports Claude Code's transcripts (every API response once, re-reading only
what was appended) and builds the daily, monthly, session, 5-hour-block and per-job reports.
A service: it reads transcript files and calls the store; no SQL here, and nothing printed.
"""

from __future__ import annotations

import gc
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from .errors import InvalidInput

if TYPE_CHECKING:
    from .store import Store

HEAD_BYTES = 1024  # a file whose first KiB (or the KiB before the position) changed was rewritten
CHUNK_BYTES = 8 << 20  # read size; bounds memory for files of any length
FLUSH_ENTRIES = 20_000  # responses held before they are written (bounds memory)
FLUSH_BYTES = 64 << 20  # ... or after this much was read (bounds the work a crash repeats)
BLOCK_HOURS = 5
SYNTHETIC_MODEL = "<synthetic>"  # Claude Code's own error messages: no API call, no tokens

# Lines that cannot carry usage are not parsed, only checked to look like a JSON object. The
# marker is how JSON writers spell the key (one that escaped its letters, "\u0075sage", would
# be missed; none does).
_USAGE_MARKER = b'"usage"'
_CANONICAL_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_DECODER = json.JSONDecoder()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)

# Positions in the entry tuples handed to the store (store.usage.ENTRY_COLUMNS).
_TIMESTAMP, _SESSION, _PROJECT, _REQUEST, _SIDECHAIN, _OUTPUT, _COST, _COST_SOURCE, _FILE = (
    1, 2, 3, 6, 7, 9, 12, 13, 14)


# -- where transcripts are ---------------------------------------------------------------------


def default_roots(env: Mapping[str, str] | None = None) -> list[Path]:
    """The `projects` directories Claude Code writes transcripts to: each one of
    `$CLAUDE_CONFIG_DIR` (comma-separated) if set, else `$XDG_CONFIG_HOME/claude` (default
    `~/.config/claude`) and `~/.claude`. Only those that exist."""
    env = os.environ if env is None else env
    configured = [p.strip() for p in env.get("CLAUDE_CONFIG_DIR", "").split(",") if p.strip()]
    if configured:
        bases = [Path(p).expanduser() for p in configured]
    else:
        home = Path(env.get("HOME") or Path.home())
        xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        bases = [xdg / "claude", home / ".claude"]
    return _unique_dirs(b / "projects" for b in bases)


def roots_for_paths(paths: Iterable[Path]) -> list[Path]:
    """`--path DIR`: a Claude config directory (its `projects/` is read) or any directory of
    transcripts (read as is)."""
    return _unique_dirs((p / "projects" if (p / "projects").is_dir() else p) for p in paths)


def _unique_dirs(paths: Iterable[Path]) -> list[Path]:
    seen: set[str] = set()
    out = []
    for p in paths:
        if not p.is_dir():
            continue
        real = os.path.realpath(p)
        if real not in seen:
            seen.add(real)
            out.append(Path(os.path.abspath(p)))
    return out


def transcript_files(root: Path) -> list[tuple[str, os.stat_result]]:
    """Every `*.jsonl` below root (subagent files in `<project>/<session>/subagents/` too),
    with its stat, least recently written first: a session forked from another is written
    after it, so the copies it starts with are credited to the session they were copied
    from."""
    found: list[tuple[int, str, os.stat_result]] = []
    stack = [str(root)]
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as it:
                for e in it:
                    # Symlinked directories are not followed: a loop must not hang the import.
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    elif e.name.endswith(".jsonl") and e.is_file():
                        st = e.stat()
                        found.append((st.st_mtime_ns, e.path, st))
        except OSError:
            continue  # vanished or unreadable directory: the rest still counts
    found.sort(key=lambda f: (f[0], f[1]))
    return [(path, st) for _mtime, path, st in found]


# -- the dedup rule ----------------------------------------------------------------------------


def dedup_key(
    message_id: str | None, request_id: str | None, anchor: str, model: str | None,
    input_tokens: int, cache_creation_tokens: int, cache_read_tokens: int,
) -> str:
    """What stays the same in every copy of one API response, and differs between responses.

    Copies Claude Code makes (one row per content block, rows copied into a resumed or forked
    session, a parent message replayed in a sidechain under a new request id) keep the message
    id, model and usage. The prompt-side counts (input, cache write, cache read) are fixed when
    a response starts, so they also tell apart two responses a proxy gave the same id; the
    output count is left out because streaming snapshots of one response grow it (the largest
    is kept). A row without a message id falls back to its request id, and a row with neither
    to `anchor`: the uuid of the response's first row (copies keep uuids; see parse_lines).
    """
    counts = f"{model or ''}|{input_tokens}|{cache_creation_tokens}|{cache_read_tokens}"
    if message_id:
        return f"{message_id}|{counts}"
    if request_id:
        return f"~{request_id}|{counts}"
    return f"@{anchor}|{counts}"


def _merge(old: tuple[Any, ...], new: tuple[Any, ...]) -> tuple[Any, ...]:
    """Two rows of one response (same rule as the store's upsert): the larger output count
    wins with its cost; the main conversation's row (its time, session, request id and file)
    wins over a sidechain replay."""
    more_output = new[_OUTPUT] > old[_OUTPUT]
    from_main = old[_SIDECHAIN] > new[_SIDECHAIN]
    if not (more_output or from_main):
        return old
    out = list(old)
    if more_output:
        for i in (_OUTPUT, _COST, _COST_SOURCE):
            out[i] = new[i]
    if from_main:
        for i in (_TIMESTAMP, _SESSION, _PROJECT, _REQUEST, _SIDECHAIN, _FILE):
            out[i] = new[i]
    return tuple(out)


# -- reading one transcript --------------------------------------------------------------------


def normalize_timestamp(value: object) -> str | None:
    """A transcript timestamp as the store writes instants (fixed-width UTC), or None."""
    if not isinstance(value, str):
        return None
    if _CANONICAL_TS.fullmatch(value):  # what Claude Code writes: skip the parse
        return value[:23] + "000Z"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class ParseCounts:
    lines: int = 0
    entries: int = 0  # rows that carried usage, before dedup
    malformed: int = 0
    # The last row seen without a message or request id: (uuid, model and prompt counts,
    # anchor). The next content-block row of the same response names it as its parent.
    last_anonymous: tuple[object, tuple[object, ...], str] | None = None


def _line_shapes(data: bytes) -> tuple[int, int]:
    """(lines, lines that cannot be a whole JSON object) in `data` (ending at a line break),
    counting only lines without the usage marker (those are parsed instead). A line cut short
    by a crash does not end with '}'; when every line break follows one, no line is looked at
    one by one."""
    breaks = data.count(b"\n")
    if data.count(b"}\n") == breaks:
        return breaks, 0
    lines = bad = 0
    for line in data.split(b"\n"):
        line = line.rstrip(b"\r\t ")
        if not line:
            continue
        lines += 1
        if (line[0] != 0x7B or line[-1] != 0x7D) and _USAGE_MARKER not in line:
            bad += 1
    return lines, bad


def parse_lines(
    data: bytes, *, file_key: str | None, session: str | None, project: str | None,
    merged: dict[str, tuple[Any, ...]], counts: ParseCounts,
) -> None:
    """Read complete lines (`data` ends at a line break or is empty) into `merged`, one tuple
    per dedup key. `session` and `project` name the file's own, for rows that omit them;
    `file_key` is stored with each response (the store resolves it to the file's row)."""
    decode = _DECODER.raw_decode  # on str: skips json.loads' encoding sniffing
    from .pricing import cost_usd as get_cost  # here: reports never need prices
    canonical = _CANONICAL_TS.fullmatch
    find = data.find
    lines, malformed = _line_shapes(data)
    entries = 0
    # Only lines holding the marker can carry usage: find them in the whole buffer (one fast
    # search, whatever the text looks like) rather than testing every line.
    pos = find(_USAGE_MARKER)
    while pos >= 0:
        start = data.rfind(b"\n", 0, pos) + 1
        end = find(b"\n", pos)
        line = data[start:end]
        pos = find(_USAGE_MARKER, end)
        try:
            text = line.decode()
            row, stop = decode(text)
        except ValueError:  # also bad UTF-8
            malformed += 1
            continue
        if type(row) is not dict or (stop != len(text) and not text[stop:].isspace()):
            malformed += 1
            continue
        message = row.get("message")
        if type(message) is not dict:
            continue
        usage = message.get("usage")
        if type(usage) is not dict:
            continue
        inp = usage.get("input_tokens")
        out = usage.get("output_tokens")
        if type(inp) is not int or type(out) is not int:
            continue  # a usage object without the two counts every response has
        model = message.get("model")
        if model == SYNTHETIC_MODEL:
            continue
        raw_ts = row.get("timestamp")
        if type(raw_ts) is str and canonical(raw_ts):
            ts: str | None = raw_ts[:23] + "000Z"
        else:
            ts = normalize_timestamp(raw_ts)
            if ts is None:
                malformed += 1
                continue
        entries += 1
        cc = usage.get("cache_creation_input_tokens") or 0
        cr = usage.get("cache_read_input_tokens") or 0
        if type(cc) is not int or type(cr) is not int:
            cc = int(cc) if isinstance(cc, (int, float)) else 0
            cr = int(cr) if isinstance(cr, (int, float)) else 0
        model = model if type(model) is str and model else None
        message_id = message.get("id")
        message_id = message_id if type(message_id) is str and message_id else None
        request_id = row.get("requestId")
        request_id = request_id if type(request_id) is str and request_id else None
        anchor = ""
        if message_id is None and request_id is None:
            # No id at all: a response's content-block rows form a parentUuid chain, so
            # they share the uuid of its first row, which copies keep.
            shape = (model, inp, cc, cr)
            last = counts.last_anonymous
            if last is not None and last[0] == row.get("parentUuid") and last[1] == shape:
                anchor = last[2]
            else:
                anchor = str(row.get("uuid") or raw_ts)
            counts.last_anonymous = (row.get("uuid"), shape, anchor)
        key = dedup_key(message_id, request_id, anchor, model, inp, cc, cr)
        row_cost = row.get("costUSD")
        if isinstance(row_cost, (int, float)) and not isinstance(row_cost, bool):
            cost: float | None = float(row_cost)
            source: str | None = "transcript"
        else:
            split = usage.get("cache_creation")
            one_hour = split.get("ephemeral_1h_input_tokens") if type(split) is dict else 0
            cost = get_cost(model, inp, out, cc, cr,
                            cache_creation_1h_tokens=one_hour if type(one_hour) is int else 0,
                            fast=usage.get("speed") == "fast")
            source = "price_table" if cost is not None else None
        entry = (
            key, ts, row.get("sessionId") or session, row.get("cwd") or project, model,
            message_id, request_id, 1 if row.get("isSidechain") is True else 0,
            inp, out, cc, cr, cost, source, file_key,
        )
        old = merged.get(key)
        merged[key] = entry if old is None else _merge(old, entry)
    counts.lines += lines
    counts.entries += entries
    counts.malformed += malformed


def _file_identity(root: str, path: str) -> tuple[str | None, str | None]:
    """The session and project a file belongs to by its place under `projects/`:
    `<project>/<session>.jsonl` or `<project>/<session>/subagents/<agent>.jsonl`."""
    parts = path[len(root):].strip(os.sep).split(os.sep)
    project = parts[0] if len(parts) > 1 else None
    if len(parts) >= 4 and parts[-2] == "subagents":
        return parts[-3], project
    return parts[-1].removesuffix(".jsonl"), project


# -- importing ---------------------------------------------------------------------------------


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
            self.store.save_usage_files(self.files, self.now)
            self.store.add_usage_entries(self.entries.values())
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
    states = store.usage_file_states()
    report.entries_before = store.usage_counts()["entries"]
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
    report.entries_after = store.usage_counts()["entries"]
    return report


def _import_all(store: Store, roots: list[Path], states: Mapping[str, Row],
                batch: _Batch, report: ImportReport) -> None:
    with store.usage_import_session():
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
    session, project = _file_identity(str(root), path)
    counts = ParseCounts()
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
        start, action = 0, "new"
        if state is not None:
            offset = state["offset"]
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


# -- reports -----------------------------------------------------------------------------------


def parse_day(text: str) -> date:
    """`--since` / `--until`: YYYY-MM-DD or YYYYMMDD."""
    raw = text.strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise InvalidInput(f"{text!r} is not a date", hint="use YYYY-MM-DD or YYYYMMDD")


def zone(name: str | None) -> tzinfo | None:
    """The zone reports group days in: a named IANA zone, or None for the system's local
    time (what ccusage does by default, so that both tools draw the same day lines)."""
    if name is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {name!r}",
                           hint="use an IANA name such as Europe/Berlin or UTC") from exc


def zone_label(tz: tzinfo | None) -> str:
    if tz is not None:
        return str(tz)
    return os.environ.get("TZ") or datetime.now().astimezone().tzname() or "local"


def _local(instant: datetime, tz: tzinfo | None) -> datetime:
    return instant.astimezone(tz) if tz is not None else instant.astimezone()


def day_range(since: date | None, until: date | None, tz: tzinfo | None
              ) -> tuple[datetime, datetime]:
    """[since 00:00, until+1 00:00) in the report's zone, as UTC instants."""
    def midnight(d: date) -> datetime:
        naive = datetime.combine(d, time())
        local = naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()
        return local.astimezone(UTC)

    start = midnight(since) if since else _EPOCH
    end = midnight(until + timedelta(days=1)) if until else _FAR_FUTURE
    return start, end


class Row(Protocol):
    """A result row by column name (sqlite3.Row, or a dict)."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass
class Tally:
    """Tokens and cost of a group of responses (or runs)."""

    entries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    known_cost_usd: float = 0.0
    unknown_cost_entries: int = 0
    models: set[str] = field(default_factory=set)

    def add_row(self, row: Row) -> None:
        self.entries += int(row["entries"])
        self.input_tokens += int(row["input_tokens"])
        self.output_tokens += int(row["output_tokens"])
        self.cache_creation_tokens += int(row["cache_creation_tokens"])
        self.cache_read_tokens += int(row["cache_read_tokens"])
        self.known_cost_usd += float(row["known_cost_usd"])
        self.unknown_cost_entries += int(row["unknown_cost_entries"])
        if row["model"]:
            self.models.add(str(row["model"]))

    def add(self, other: Tally) -> None:
        self.entries += other.entries
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_creation_tokens += other.cache_creation_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.known_cost_usd += other.known_cost_usd
        self.unknown_cost_entries += other.unknown_cost_entries
        self.models |= other.models

    @property
    def total_tokens(self) -> int:
        return (self.input_tokens + self.output_tokens + self.cache_creation_tokens
                + self.cache_read_tokens)

    @property
    def cost_usd(self) -> float | None:
        """The cost, or None when some response's model has no price (never a silent 0)."""
        return None if self.unknown_cost_entries else round(self.known_cost_usd, 6)

    def to_dict(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_tokens": self.cache_creation_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": self.cost_usd,
            "known_cost_usd": round(self.known_cost_usd, 6),
            "unknown_cost_entries": self.unknown_cost_entries,
            "models": sorted(self.models),
        }


def _envelope(kind: str, tz: tzinfo | None, since: date | None, until: date | None,
              groups: list[dict[str, Any]], totals: Tally) -> dict[str, Any]:
    return {
        "report": kind,
        "timezone": zone_label(tz),
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "groups": groups,
        "totals": totals.to_dict(),
    }


def _day_of_quarter(tz: tzinfo | None) -> Callable[[str], str]:
    """Maps a UTC quarter ('YYYY-MM-DDTHH:MM') to its local date. Quarters are many and
    hours fewer: an hour whose UTC offset is the same at both ends is converted once, and
    its quarters share its date unless a local midnight falls inside it (offsets with
    minutes)."""
    hours: dict[str, tuple[str, bool, datetime]] = {}

    def day_of(quarter: str) -> str:
        hour = quarter[:13]
        known = hours.get(hour)
        if known is None:
            start = datetime.fromisoformat(hour + ":00").replace(tzinfo=UTC)
            first = _local(start, tz)
            last = _local(start + timedelta(minutes=59), tz)
            whole = first.utcoffset() == last.utcoffset() and (
                first.minute == 0 or first.hour != 23)
            known = hours[hour] = (first.date().isoformat(), whole, first)
        day, whole, first = known
        if whole:
            return day
        instant = datetime.fromisoformat(quarter).replace(tzinfo=UTC)
        return _local(instant, tz).date().isoformat()

    return day_of


def daily_report(store: Store, *, since: date | None = None, until: date | None = None,
                 tz: tzinfo | None = None, monthly: bool = False) -> dict[str, Any]:
    """Tokens and cost per local day (or month), oldest first."""
    start, end = day_range(since, until, tz)
    day_of = _day_of_quarter(tz)
    sums: dict[str, list[Any]] = {}
    models: dict[str, set[str]] = {}
    for quarter, model, n, inp, out, cc, cr, cost, unknown in store.usage_by_quarter_hour(
            start, end):
        day = day_of(quarter)
        key = day[:7] if monthly else day
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = [0, 0, 0, 0, 0, 0.0, 0]
            models[key] = set()
        acc[0] += n
        acc[1] += inp
        acc[2] += out
        acc[3] += cc
        acc[4] += cr
        acc[5] += cost
        acc[6] += unknown
        if model:
            models[key].add(model)
    totals = Tally()
    out_groups = []
    name = "month" if monthly else "date"
    for key in sorted(sums):
        n, inp, out, cc, cr, cost, unknown = sums[key]
        tally = Tally(n, inp, out, cc, cr, cost, unknown, models[key])
        totals.add(tally)
        out_groups.append({name: key, **tally.to_dict()})
    return _envelope("monthly" if monthly else "daily", tz, since, until, out_groups, totals)


def session_report(store: Store, *, since: date | None = None, until: date | None = None,
                   tz: tzinfo | None = None) -> dict[str, Any]:
    """Tokens and cost per Claude Code session, most recently active last."""
    start, end = day_range(since, until, tz)
    groups: dict[str, tuple[Tally, dict[str, Any]]] = {}
    for row in store.usage_by_session(start, end):
        tally, info = groups.setdefault(
            row["session_id"], (Tally(), {"project": None, "first_at": None, "last_at": None}))
        tally.add_row(row)
        info["project"] = info["project"] or row["project"]
        info["first_at"] = min(filter(None, (info["first_at"], row["first_at"])))
        info["last_at"] = max(filter(None, (info["last_at"], row["last_at"])))
    totals = Tally()
    out = []
    for sid, (tally, info) in sorted(groups.items(), key=lambda kv: kv[1][1]["last_at"]):
        totals.add(tally)
        out.append({"session_id": sid or None, "project": info["project"],
                    "first_at": _iso(info["first_at"]), "last_at": _iso(info["last_at"]),
                    **tally.to_dict()})
    return _envelope("session", tz, since, until, out, totals)


def _iso(db_text: str | None) -> str | None:
    return datetime.fromisoformat(db_text).isoformat() if db_text else None


def block_report(store: Store, *, now: datetime, since: date | None = None,
                 until: date | None = None, tz: tzinfo | None = None) -> dict[str, Any]:
    """5-hour billing blocks: a block starts at the UTC hour of its first response and lasts
    five hours; a response at or after its end starts the next block (so a gap of five hours
    or more always does). The block holding `now`, with activity in the last five hours, is
    marked active (one at most, even if transcripts hold times ahead of the clock)."""
    start, end = day_range(since, until, tz)
    span = timedelta(hours=BLOCK_HOURS)
    blocks: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for row in store.usage_timeline(start, end):
        at = datetime.fromisoformat(row["timestamp"])
        if current is None or at >= current["end"]:
            floor = at.replace(minute=0, second=0, microsecond=0)
            current = {"start": floor, "end": floor + span, "tally": Tally(), "first": at}
            blocks.append(current)
        current["last"] = at
        cost = row["cost_usd"]
        current["tally"].add_row({
            "entries": 1, "input_tokens": row["input_tokens"],
            "output_tokens": row["output_tokens"],
            "cache_creation_tokens": row["cache_creation_tokens"],
            "cache_read_tokens": row["cache_read_tokens"],
            "known_cost_usd": cost or 0.0, "unknown_cost_entries": 0 if cost is not None else 1,
            "model": row["model"],
        })
    totals = Tally()
    out = []
    for b in blocks:
        totals.add(b["tally"])
        active = b["start"] <= now < b["end"] and now - b["last"] < span
        out.append({"start": b["start"].isoformat(), "end": b["end"].isoformat(),
                    "first_at": b["first"].isoformat(), "last_at": b["last"].isoformat(),
                    "active": active,
                    "remaining_minutes": int((b["end"] - now).total_seconds() // 60)
                    if active else None,
                    **b["tally"].to_dict()})
    return _envelope("blocks", tz, since, until, out, totals)


def job_report(store: Store, *, since: date | None = None, until: date | None = None,
               tz: tzinfo | None = None) -> dict[str, Any]:
    """Per job, the tokens and cost of its Claude runs as their result events reported them
    (`job_id` null: ad-hoc `cnp execute` runs). Runs that ended without a result event
    (killed, failed to start) count as runs with unknown cost."""
    start, end = day_range(since, until, tz)
    totals = Tally()
    out = []
    for row in store.usage_by_job(start, end):
        tally = Tally(
            entries=int(row["runs"]), input_tokens=int(row["input_tokens"]),
            output_tokens=int(row["output_tokens"]),
            cache_creation_tokens=int(row["cache_creation_tokens"]),
            cache_read_tokens=int(row["cache_read_tokens"]),
            known_cost_usd=float(row["cost_usd"]),
            unknown_cost_entries=int(row["runs"]) - int(row["runs_with_result"]),
        )
        totals.add(tally)
        data = tally.to_dict()
        data.pop("models")
        data["runs"] = data.pop("entries")
        data["runs_without_result"] = data.pop("unknown_cost_entries")
        out.append({"job_id": row["job_id"],
                    "job_name": row["job_name"] if row["job_id"] is not None
                    else "(ad-hoc executions)",
                    "first_run_at": _iso(row["first_at"]), "last_run_at": _iso(row["last_at"]),
                    **data})
    envelope = _envelope("jobs", tz, since, until, out, totals)
    envelope["totals"]["runs"] = envelope["totals"].pop("entries")
    envelope["totals"]["runs_without_result"] = envelope["totals"].pop("unknown_cost_entries")
    envelope["totals"].pop("models")
    return envelope
