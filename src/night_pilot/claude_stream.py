"""Reading what `claude -p --output-format stream-json --verbose` prints, one NDJSON line at a time.

Owns the meaning of the stream: the session, the result event, tokens and cost, permission
denials, API errors and the CLI's own retries, and whether the run succeeded. No I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# API statuses worth another attempt: rate limiting that is not a usage limit, server errors,
# and overload. The CLI has already retried these itself before giving up.
TRANSIENT_API_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
# API statuses another attempt gets again: the request itself is wrong (an unknown model is a
# 404 not_found_error), or the credential is.
PERMANENT_API_STATUSES = {400: "the API refused the request", 401: "the credential was refused",
                          403: "the credential may not do this",
                          404: "the model or resource does not exist"}


@dataclass
class StreamSummary:
    """What a run printed, folded into the fields we record."""

    session_id: str | None = None
    model: str | None = None
    result_seen: bool = False
    is_error: bool | None = None
    subtype: str | None = None
    result_text: str | None = None
    num_turns: int | None = None
    duration_ms: int | None = None
    duration_api_ms: int | None = None
    total_cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_tokens: int | None = None
    cache_read_tokens: int | None = None
    permission_denials: list[dict[str, Any]] = field(default_factory=list)
    terminal_reason: str | None = None
    api_error_status: int | None = None
    api_error: str | None = None
    api_retries: int = 0
    last_api_retry: dict[str, Any] | None = None  # the CLI's latest system/api_retry event
    events_seen: int = 0  # JSON events read (none: the CLI stopped before starting a session)
    rate_limit_rejections: list[dict[str, Any]] = field(default_factory=list)
    # The last figures of each subscription window (`five_hour`, `seven_day`) that a
    # rate_limit_event reported: {"utilization": 0-1 or None, "resets_at": epoch or None}.
    rate_limit_windows: dict[str, dict[str, float | None]] = field(default_factory=dict)
    rate_limit_status: str | None = None
    assistant_errors: list[str] = field(default_factory=list)
    last_assistant_text: str | None = None
    unparsed_lines: int = 0

    def feed(self, line: str) -> dict[str, Any] | None:
        """Fold one stdout line in; returns the parsed event (None if the line is not JSON)."""
        text = line.strip()
        if not text:
            return None
        try:
            event = json.loads(text)
        except json.JSONDecodeError:
            self.unparsed_lines += 1
            return None
        if not isinstance(event, dict):
            self.unparsed_lines += 1
            return None
        kind = event.get("type")
        self.events_seen += 1
        if event.get("session_id") and not self.session_id:
            self.session_id = str(event["session_id"])
        if kind == "system":
            self._system(event)
        elif kind == "assistant":
            self._assistant(event)
        elif kind == "rate_limit_event":
            info = event.get("rate_limit_info") or {}
            if info.get("status") == "rejected":
                self.rate_limit_rejections.append(info)
            self._rate_limit_windows(info)
        elif kind == "result":
            self._result(event)
        return event

    def _system(self, event: dict[str, Any]) -> None:
        if event.get("subtype") == "init":
            self.model = event.get("model") or self.model
        elif event.get("subtype") == "api_retry":
            self.api_retries += 1
            self.last_api_retry = event

    def _rate_limit_windows(self, info: Any) -> None:
        """Fold `rate_limit_info.unifiedWindows` (and a top-level `rateLimitType` that carries
        its own `utilization`) into the last known figures of each window."""
        if not isinstance(info, dict):
            return
        if isinstance(info.get("status"), str):
            self.rate_limit_status = info["status"]
        windows = info.get("unifiedWindows")
        found: dict[str, Any] = dict(windows) if isinstance(windows, dict) else {}
        kind = info.get("rateLimitType")
        if isinstance(kind, str) and kind not in found and "utilization" in info:
            found[kind] = info
        for name, figures in found.items():
            if not isinstance(figures, dict):
                continue
            utilization, resets = figures.get("utilization"), figures.get("resetsAt")
            self.rate_limit_windows[str(name)] = {
                "utilization": _number(utilization),
                "resets_at": _number(resets),
            }

    def _assistant(self, event: dict[str, Any]) -> None:
        message = event.get("message") or {}
        model = message.get("model")
        if model and model != "<synthetic>":
            self.model = model
        if event.get("error"):
            self.assistant_errors.append(str(event["error"]))
        texts = [
            block.get("text", "")
            for block in message.get("content") or []
            if isinstance(block, dict) and block.get("type") == "text"
        ]
        if texts:
            self.last_assistant_text = "".join(texts)

    def _result(self, event: dict[str, Any]) -> None:
        self.result_seen = True
        self.is_error = bool(event.get("is_error"))
        self.subtype = event.get("subtype")
        result = event.get("result")
        self.result_text = result if isinstance(result, str) else self.result_text
        self.num_turns = _int(event.get("num_turns"))
        self.duration_ms = _int(event.get("duration_ms"))
        self.duration_api_ms = _int(event.get("duration_api_ms"))
        cost = event.get("total_cost_usd")
        self.total_cost_usd = float(cost) if isinstance(cost, (int, float)) else None
        usage = event.get("usage") or {}
        self.input_tokens = _int(usage.get("input_tokens"))
        self.output_tokens = _int(usage.get("output_tokens"))
        self.cache_creation_tokens = _int(usage.get("cache_creation_input_tokens"))
        self.cache_read_tokens = _int(usage.get("cache_read_input_tokens"))
        denials = event.get("permission_denials") or []
        self.permission_denials = [d for d in denials if isinstance(d, dict)]
        self.terminal_reason = event.get("terminal_reason")
        self.api_error_status = _int(event.get("api_error_status"))
        self.api_error = event.get("api_error") or event.get("api_error_type")
        model_usage = event.get("modelUsage") or {}
        if isinstance(model_usage, dict) and model_usage and not self.model:
            self.model = next(iter(model_usage))

    @property
    def succeeded(self) -> bool:
        """A result arrived and it is not an error. (The exit code is checked by the caller.)"""
        return self.result_seen and self.is_error is False

    def failure_reason(self, exit_code: int | None) -> str:
        """Why the run failed, in words a user can act on."""
        if not self.result_seen:
            if exit_code == 0:
                return "the CLI exited 0 without a result event (no work was reported)"
            return f"the CLI exited {exit_code} without a result event"
        if self.is_error:
            detail = self.result_text or self.api_error or "is_error: true"
            status = f"API error {self.api_error_status}: " if self.api_error_status else ""
            return f"{status}{detail}"
        return f"the CLI printed a successful result but exited {exit_code}"

    @property
    def transient(self) -> bool:
        """Would another attempt plausibly succeed? (Usage limits are handled separately.)"""
        if not self.result_seen:
            return True  # a crash or a silent exit: worth one more try
        return self.api_error_status in TRANSIENT_API_STATUSES


    def permanent(self, exit_code: int | None, stderr: str | None) -> str | None:
        """Why another attempt would fail the same way, if it would: the CLI refused its
        arguments before starting a session (it printed an error and no event), or the API
        answered a status that the same request gets again."""
        if not self.result_seen:
            if self.events_seen == 0 and exit_code is not None and exit_code > 0 and (
                    stderr or "").strip():
                return "the CLI refused to start with these arguments"
            return None
        if self.is_error and self.api_error_status in PERMANENT_API_STATUSES:
            kind = f" {self.api_error}" if self.api_error else ""
            return (f"{PERMANENT_API_STATUSES[self.api_error_status]} "
                    f"(HTTP {self.api_error_status}{kind})")
        return None


def api_retry_text(event: dict[str, Any]) -> str:
    """One of the CLI's own retries, in words: "CLI retrying after 429, attempt 2/10"."""
    status = event.get("error_status") or event.get("error") or "an error"
    return (f"CLI retrying after {status}, attempt {event.get('attempt', '?')}/"
            f"{event.get('max_retries', '?')}")


def api_retry_note(count: int, last: dict[str, Any], *, running: bool) -> str:
    """A run's own API retries: while it runs, the latest ("CLI retrying after 429, attempt
    2/10"); after, how many ("CLI retried 2× (last: after 429, attempt 2/10)")."""
    latest = api_retry_text(last)
    if running:
        return latest
    return f"CLI retried {count}× (last: {latest.removeprefix('CLI retrying ')})"


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
