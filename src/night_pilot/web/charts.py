"""Inline SVG charts drawn on the server: no chart library, no script, themed by CSS classes
(`s1`…`s4` for series, `axis`, `grid`, `label`) so light and dark modes both read well."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

Series = tuple[str, str, Sequence[float]]  # (name, css class, one value per label)


def _nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value * (1 - 1e-9):
            return float(step * magnitude)
    return 10 * magnitude


def short_number(value: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def money(value: float) -> str:
    if value == 0 or value >= 1:
        return f"${value:.2f}"
    return f"${value:.4f}".rstrip("0").rstrip(".") if value >= 0.0001 else f"${value:.2g}"


def stacked_bars(labels: Sequence[str], series: Sequence[Series], *, title: str,
                 fmt: Callable[[float], str] = short_number, width: int = 720,
                 height: int = 240) -> Markup:
    """Vertical bars, one per label, with the series stacked; a legend when several."""
    left, right, top, bottom = 56, 8, 12, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s[2][i] for s in series) for i in range(len(labels))]
    top_value = _nice_max(max(totals, default=0.0))
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
           f"<title>{escape(title)}</title>"]
    for i in range(5):
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" '
                   f'y2="{y:.1f}"/>')
        out.append(f'<text class="label" x="{left - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{escape(fmt(value))}</text>')
    n = max(1, len(labels))
    slot = plot_w / n
    bar = max(1.0, slot * 0.72)
    every = max(1, round(n / 10))
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        for name, css, values in series:
            v = values[i]
            if v <= 0:
                continue
            h = plot_h * v / top_value
            y -= h
            out.append(f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                       f'height="{h:.1f}"><title>{escape(label)} · {escape(name)}: '
                       f'{escape(fmt(v))}</title></rect>')
        if i % every == 0 or i == n - 1:
            out.append(f'<text class="label" x="{x + bar / 2:.1f}" y="{height - bottom + 16}" '
                       f'text-anchor="middle">{escape(label)}</text>')
    out.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{top + plot_h}" '
               f'y2="{top + plot_h}"/>')
    out.append("</svg>")
    return Markup("".join(out))


def horizontal_bars(rows: Sequence[tuple[str, float]], *, title: str, css: str = "s1",
                    fmt: Callable[[float], str] = short_number, width: int = 480) -> Markup:
    """One labelled horizontal bar per row (largest first is the caller's choice)."""
    row_h, label_w, value_w = 26, 150, 70
    height = max(1, len(rows)) * row_h + 8
    plot_w = width - label_w - value_w
    top_value = max((v for _, v in rows), default=0.0) or 1.0
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
           f"<title>{escape(title)}</title>"]
    for i, (label, value) in enumerate(rows):
        y = 4 + i * row_h
        w = plot_w * value / top_value if value > 0 else 0
        shown = label if len(label) <= 22 else label[:21] + "…"
        out.append(f'<text class="label" x="{label_w - 8}" y="{y + 17}" '
                   f'text-anchor="end">{escape(shown)}</text>')
        out.append(f'<rect class="{css}" x="{label_w}" y="{y + 4}" width="{w:.1f}" '
                   f'height="{row_h - 8}"><title>{escape(label)}: {escape(fmt(value))}</title>'
                   "</rect>")
        out.append(f'<text class="label" x="{label_w + w + 6:.1f}" y="{y + 17}">'
                   f"{escape(fmt(value))}</text>")
    out.append("</svg>")
    return Markup("".join(out))
