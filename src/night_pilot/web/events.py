"""One line of a run's output, summarized for people: what the assistant said, which tool it
used or was denied, the result. The raw line is always shown beside the summary."""

from __future__ import annotations

import json
from typing import Any

MAX_SUMMARY = 2000


def _cut(text: str, limit: int = MAX_SUMMARY) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize(event: dict[str, Any]) -> tuple[str, str]:
    """(kind, text) for an execution_events row; kind is a CSS-friendly word."""
    line = str(event.get("line") or "")
    if event.get("stream") == "cnp" and event.get("type") == "truncated":
        return "truncated", line
    if event.get("stream") != "stdout":
        return str(event.get("stream") or "other"), _cut(line)
    try:
        doc = json.loads(line)
    except ValueError:
        return "text", _cut(line)
    if not isinstance(doc, dict):
        return "text", _cut(line)
    kind = str(doc.get("type") or "other")
    subtype = doc.get("subtype")
    if kind == "system" and subtype == "init":
        tools = doc.get("tools") or []
        return "system", (f"session started · model {doc.get('model', '?')} · "
                          f"{len(tools)} tools · cwd {doc.get('cwd', '?')}")
    if kind == "system" and subtype == "api_retry":
        return "system", (f"API retry {doc.get('attempt', '?')}/{doc.get('max_retries', '?')} "
                          f"after HTTP {doc.get('error_status', '?')}")
    if kind == "system" and subtype == "permission_denied":
        return "denied", f"permission denied: {doc.get('tool_name', '?')} — " + _cut(
            str(doc.get("message") or ""), 400)
    if kind == "assistant":
        return "assistant", _message_text(doc)
    if kind == "user":
        return "tool", _message_text(doc)
    if kind == "rate_limit_event":
        info = doc.get("rate_limit_info") or {}
        text = f"rate limit {info.get('status', '?')}"
        if info.get("rateLimitType"):
            text += f" · {info['rateLimitType']}"
        resets = info.get("resetsAt")
        if isinstance(resets, (int, float)) and 0 < resets < 10**11:
            from datetime import UTC, datetime

            text += f" · resets {datetime.fromtimestamp(resets, UTC):%Y-%m-%d %H:%M:%S} UTC"
        return "limit" if info.get("status") == "rejected" else "system", text
    if kind == "result":
        cost = doc.get("total_cost_usd")
        head = (f"result: {subtype or '?'}{' (error)' if doc.get('is_error') else ''} · "
                f"{doc.get('num_turns', '?')} turns"
                + (f" · ${cost:.4f}" if isinstance(cost, (int, float)) else ""))
        final = doc.get("result")
        return "result", head + (f"\n{_cut(str(final))}" if final else "")
    return kind, f"{kind}{'/' + str(subtype) if subtype else ''}"


def _message_text(doc: dict[str, Any]) -> str:
    message = doc.get("message") or {}
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return _cut(content)
    parts = []
    for block in content or []:
        if not isinstance(block, dict):
            continue
        btype = block.get("type")
        if btype == "text":
            parts.append(str(block.get("text", "")))
        elif btype == "tool_use":
            args = json.dumps(block.get("input", {}), ensure_ascii=False)
            parts.append(f"→ {block.get('name', '?')} {_cut(args, 300)}")
        elif btype == "tool_result":
            body = block.get("content")
            if isinstance(body, list):
                body = " ".join(str(b.get("text", "")) for b in body if isinstance(b, dict))
            mark = "✗" if block.get("is_error") else "←"
            parts.append(f"{mark} {_cut(str(body or ''), 400)}")
        elif btype == "thinking":
            parts.append("(thinking)")
    return _cut("\n".join(p for p in parts if p)) or "(no text)"
