"""The dedup rule of the usage ledger: which transcript rows are copies of one API response
(their key) and which copy's fields a merged entry keeps.
"""

from __future__ import annotations

from typing import Any

# Positions in the entry tuples handed to the store (store.usage.ENTRY_COLUMNS).
_TIMESTAMP, _SESSION, _PROJECT, _REQUEST, _SIDECHAIN, _OUTPUT, _COST, _COST_SOURCE, _FILE = (
    1, 2, 3, 6, 7, 9, 12, 13, 14)


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
    to `anchor`: the uuid of the response's first row (copies keep uuids; see parse.parse_lines).
    """
    counts = f"{model or ''}|{input_tokens}|{cache_creation_tokens}|{cache_read_tokens}"
    if message_id:
        return f"{message_id}|{counts}"
    if request_id:
        return f"~{request_id}|{counts}"
    return f"@{anchor}|{counts}"


def merge_entries(old: tuple[Any, ...], new: tuple[Any, ...]) -> tuple[Any, ...]:
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
