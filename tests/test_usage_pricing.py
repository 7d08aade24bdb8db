"""The offline price table: model names as transcripts spell them, the cache-write lifetimes,
long-context and fast-mode rates, and unknown models (an unknown cost, never zero)."""

from __future__ import annotations

import pytest

from night_pilot.usage.pricing import PRICES_AS_OF, PRICES_SOURCE, cost_usd, price_for


@pytest.mark.parametrize(
    ("model", "base"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5[1m]", "claude-sonnet-4-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("anthropic/claude-haiku-4-5", "claude-haiku-4-5"),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("Claude-Opus-4-7", "claude-opus-4-7"),
    ],
)
def test_provider_spellings_find_the_same_price(model: str, base: str) -> None:
    assert price_for(model) is price_for(base) is not None


@pytest.mark.parametrize("model", ["claude-opus-5-5", "<synthetic>", "gpt-4o", "", None])
def test_unknown_models_have_no_price(model: str | None) -> None:
    assert price_for(model) is None
    assert cost_usd(model, 100, 100, 0, 0) is None


def test_a_response_priced_by_the_table() -> None:
    # Opus 4.5: $5 in, $25 out, $6.25 5-minute write, $10 1-hour write, $0.50 read per MTok.
    cost = cost_usd("claude-opus-4-5-20251101", 1_000, 2_000, 10_000, 100_000,
                    cache_creation_1h_tokens=4_000)
    expected = (1_000 * 5 + 2_000 * 25 + 6_000 * 6.25 + 4_000 * 10 + 100_000 * 0.5) / 1e6
    assert cost == pytest.approx(expected)


def test_long_context_requests_are_billed_at_the_higher_rates() -> None:
    below = cost_usd("claude-sonnet-4-5", 100_000, 1_000, 0, 100_000)
    above = cost_usd("claude-sonnet-4-5", 100_001, 1_000, 0, 100_000)
    assert below == pytest.approx((100_000 * 3 + 1_000 * 15 + 100_000 * 0.3) / 1e6)
    assert above == pytest.approx((100_001 * 6 + 1_000 * 22.5 + 100_000 * 0.6) / 1e6)


def test_fast_mode_multiplies_where_the_model_has_it() -> None:
    normal = cost_usd("claude-opus-4-6", 1_000, 1_000, 0, 0)
    assert normal is not None
    assert cost_usd("claude-opus-4-6", 1_000, 1_000, 0, 0, fast=True) == pytest.approx(
        normal * 6)
    assert cost_usd("claude-haiku-4-5", 1_000, 1_000, 0, 0, fast=True) == cost_usd(
        "claude-haiku-4-5", 1_000, 1_000, 0, 0)


def test_the_table_says_when_and_where_from() -> None:
    assert PRICES_AS_OF == "2026-11-28" and "Anthropic" in PRICES_SOURCE
