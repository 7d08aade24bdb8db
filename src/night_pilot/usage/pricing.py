"""The offline price table: what one million tokens of each Claude model cost, for transcript
rows that carry no cost of their own. Data and lookup only; never fetches prices from anywhere.

Prices as of 2026-11-28 (`PRICES_AS_OF`): Anthropic's published per-model API list prices in
USD per million tokens, as recorded in LiteLLM's `model_prices_and_context_window.json` in the
snapshot ccusage 18.0.11 ships for `--offline`; the 1-hour cache write (2× input), which that
file does not list, is from Anthropic's prompt-caching price rules. docs/usage-ledger.md
explains how to update the table.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

PRICES_AS_OF = "2026-11-28"
PRICES_SOURCE = (
    "Anthropic API list prices (USD per million tokens) as recorded in LiteLLM's "
    "model_prices_and_context_window.json, snapshot shipped with ccusage 18.0.11"
)
# Requests whose prompt (input + cache write + cache read) exceeds this are billed entirely at
# the long-context rates, for the models that have them.
LONG_CONTEXT_THRESHOLD = 200_000


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float
    long_context: Price | None = None  # rates above LONG_CONTEXT_THRESHOLD prompt tokens
    fast_multiplier: float | None = None  # `usage.speed == "fast"` (fast mode)


def _p(inp: float, out: float, *, long: tuple[float, float] | None = None,
       fast: float | None = None) -> Price:
    """A price from input and output rates; cache rates follow Anthropic's fixed ratios
    (5-minute write 1.25×, 1-hour write 2×, read 0.1× the input rate)."""
    long_price = _p(*long) if long else None
    return Price(inp, out, inp * 1.25, inp * 2, inp * 0.1, long_price, fast)


# Base model name (no provider prefix, no date suffix) → price.
PRICES: dict[str, Price] = {
    "claude-opus-4-7": _p(5, 25, fast=6),
    "claude-opus-4-6": _p(5, 25, fast=6),
    "claude-opus-4-5": _p(5, 25),
    "claude-opus-4-1": _p(15, 75),
    "claude-opus-4": _p(15, 75),
    "claude-4-opus": _p(15, 75),
    "claude-sonnet-4-6": _p(3, 15),
    "claude-sonnet-4-5": _p(3, 15, long=(6, 22.5)),
    "claude-sonnet-4": _p(3, 15, long=(6, 22.5)),
    "claude-4-sonnet": _p(3, 15, long=(6, 22.5)),
    "claude-3-7-sonnet": _p(3, 15),
    "claude-3-5-sonnet": _p(3, 15),
    "claude-haiku-4-5": _p(1, 5),
    "claude-3-5-haiku": _p(0.8, 4),
    "claude-3-haiku": _p(0.25, 1.25),
    "claude-3-opus": _p(15, 75),
}

# Provider spellings of the same models: "anthropic/…", Bedrock's "us.anthropic.…-v1:0",
# Vertex's "…@20250929", dated ids "…-20250929", and Claude Code's "[1m]" context marker.
_PREFIX = re.compile(r"^(?:[a-z_]+/)?(?:(?:us|eu|apac|global)\.)?(?:anthropic\.)?")
_SUFFIX = re.compile(r"(?:\[1m\])?(?:-v\d+(?::\d+)?)?(?:[-@]\d{8})?(?:-v\d+(?::\d+)?)?$")


@functools.lru_cache(maxsize=256)
def price_for(model: str | None) -> Price | None:
    """The price of a model as transcripts name it, or None when the table does not know it
    (an unknown cost, never zero)."""
    if not model:
        return None
    name = _SUFFIX.sub("", _PREFIX.sub("", model.strip().lower()))
    return PRICES.get(name)


def cost_usd(
    model: str | None, input_tokens: int, output_tokens: int, cache_creation_tokens: int,
    cache_read_tokens: int, *, cache_creation_1h_tokens: int = 0, fast: bool = False,
) -> float | None:
    """What one API response cost by the table, or None when the model has no price.

    `cache_creation_1h_tokens` is the part of the cache write made with a 1-hour lifetime
    (transcripts report it under usage.cache_creation); the rest is billed as 5-minute writes.
    """
    price = price_for(model)
    if price is None:
        return None
    prompt = input_tokens + cache_creation_tokens + cache_read_tokens
    if price.long_context is not None and prompt > LONG_CONTEXT_THRESHOLD:
        price = price.long_context
    one_hour = min(max(cache_creation_1h_tokens, 0), cache_creation_tokens)
    total = (
        input_tokens * price.input
        + output_tokens * price.output
        + (cache_creation_tokens - one_hour) * price.cache_write_5m
        + one_hour * price.cache_write_1h
        + cache_read_tokens * price.cache_read
    ) / 1_000_000
    if fast and price.fast_multiplier:
        total *= price.fast_multiplier
    return total
