"""Reading transcript lines into usage entries: every line holding usage becomes one entry
tuple (tokens, cost from the transcript or the price table, time, session, ids), merged by
dedup key; lines that cannot be JSON objects are counted as malformed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .dedup import dedup_key, merge_entries

SYNTHETIC_MODEL = "<synthetic>"  # Claude Code's own error messages: no API call, no tokens

# Lines that cannot carry usage are not parsed, only checked to look like a JSON object. The
# marker is how JSON writers spell the key (one that escaped its letters, "\u0075sage", would
# be missed; none does).
_USAGE_MARKER = b'"usage"'
_CANONICAL_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_DECODER = json.JSONDecoder()


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
        merged[key] = entry if old is None else merge_entries(old, entry)
    counts.lines += lines
    counts.entries += entries
    counts.malformed += malformed
