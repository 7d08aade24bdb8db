"""A local stand-in for the Anthropic Messages API that the real `claude` CLI can talk to.

Owns the scripted answers (text, tool_use, usage-limit 429, overloaded 529, 5xx, stalls) and the
record of every request the CLI sent, so tests can assert on both sides of the conversation.

Usage::

    with StandinAPI(default=text("ok")) as api:
        api.push(tool_use("Bash", {"command": "echo night > night.txt"}), text("done"))
        run_claude(env={"ANTHROPIC_BASE_URL": api.url, ...})
        assert api.main_requests()[0].prompt_text() == "hello"

Answers (all frozen dataclasses, built directly or with the lower-case factories):

- ``Text(text)`` / ``text(...)``: an assistant text message. ``delay`` waits before answering
  (slow model); ``usage`` overrides the token counts; ``stop_reason`` defaults to ``end_turn``.
- ``ToolUse(name, input)`` / ``tool_use(...)``: one ``tool_use`` block (stop_reason ``tool_use``).
  The CLI runs (or refuses) the tool and sends a follow-up request carrying the ``tool_result``;
  the next queued answer (or the default) replies to that one.
- ``UsageLimit(reset_at, claim)`` / ``usage_limit(...)``: HTTP 429 with the unified rate-limit
  headers the subscription API sends when a plan limit is reached (``claim`` ``five_hour``,
  ``seven_day``, ...). ``claim=None`` gives the server-side 429 that is *not* a usage limit (no
  representative claim, no rejected window), which the CLI reports as "not your usage limit".
- ``ApiError(status, error_type, message)`` / ``overloaded()`` (529 ``overloaded_error``) /
  ``server_error(status)`` (generic 5xx ``api_error``).
- ``Stall(seconds, after_message_start)`` / ``stall(...)``: accept the request, optionally send
  the SSE headers and ``message_start``, then send nothing for ``seconds`` (``None``: until the
  server is closed), then drop the connection. Closing the server wakes every stalled handler.
- ``Dynamic(fn)`` or any plain callable: ``fn(request) -> Answer`` decides per request (it gets
  the ``RecordedRequest``, whose ``body`` is the parsed JSON).

Every response carries its own ``msg_<hex>`` id and ``request-id: req_<hex>`` header (the CLI copies
both into the transcript). ``Text.headers`` / ``ToolUse.headers`` add response headers, e.g. the
unified rate-limit headers of an allowed request: ``window_headers(five_hour=0.85, five_reset=...,
seven_day=..., seven_reset=...)`` builds them, ``allowed(text, **windows)`` is a text answer with
them.

Main conversation vs side requests: with ``-p`` and CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 the
2.1.328 CLI sends only the conversation itself (plus a non-streaming retry of the same request if
a stream breaks). Side calls do exist: helpers such as title or summary generation send no
``tools``, and ``--prompt-suggestions`` (with nonessential traffic allowed) forks the finished
conversation with the same model, tools and prefix, appending a user message that starts with
``[SUGGESTION MODE``. ``default_classify`` therefore calls a request *side* when it has no
``tools`` or its last user message starts with a marker in ``SIDE_PROMPT_MARKERS``, else *main*.
Only main requests consume the queue / ``default``; side requests get ``side_default``. Pass
``classify=`` to change the rule. Every request to any path is recorded in ``api.requests``;
paths the stand-in does not know get ``{}`` and are also listed in ``api.unknown_paths``, as are
CONNECTs that reach it as the proxy claude_env() configures.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import secrets
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# The token counts the reference transcripts were produced with (see tests/data/claude-cli-2.1.328):
# they make usage and total_cost_usd non-zero without being confusable with real traffic.
DEFAULT_USAGE: dict[str, int] = {
    "input_tokens": 12,
    "output_tokens": 7,
    "cache_creation_input_tokens": 100,
    "cache_read_input_tokens": 200,
}


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Text:
    text: str
    delay: float = 0.0
    usage: dict[str, int] | None = None
    stop_reason: str = "end_turn"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolUse:
    name: str
    input: dict[str, Any]
    tool_use_id: str | None = None
    text: str | None = None  # optional text block sent before the tool_use block
    delay: float = 0.0
    usage: dict[str, int] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UsageLimit:
    reset_at: int | None = None  # epoch seconds; None = one hour from the moment of answering
    claim: str | None = "five_hour"  # None = server-side 429 that is not a plan usage limit
    # Pay-as-you-go overage refused too, as for the account the reference run imitated.
    overage_disabled_reason: str | None = "org_level_disabled"
    message: str = "This request would exceed your account's rate limit. Please try again later."


@dataclass(frozen=True)
class ApiError:
    status: int
    error_type: str = "api_error"
    message: str = "Internal server error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stall:
    seconds: float | None = None  # None = until the server is closed
    after_message_start: bool = False


@dataclass(frozen=True)
class Dynamic:
    fn: Callable[[RecordedRequest], Answer]


def text(s: str, *, delay: float = 0.0, usage: dict[str, int] | None = None) -> Text:
    return Text(s, delay=delay, usage=usage)


def slow_text(s: str, delay: float) -> Text:
    return Text(s, delay=delay)


def tool_use(name: str, tool_input: dict[str, Any], *, tool_use_id: str | None = None) -> ToolUse:
    return ToolUse(name, tool_input, tool_use_id=tool_use_id)


def usage_limit(reset_at: int | None = None, claim: str | None = "five_hour") -> UsageLimit:
    return UsageLimit(reset_at=reset_at, claim=claim)


def not_usage_limit_429() -> UsageLimit:
    return UsageLimit(claim=None)


def overloaded() -> ApiError:
    return ApiError(529, "overloaded_error", "Overloaded")


def server_error(status: int = 500) -> ApiError:
    return ApiError(status, "api_error", "Internal server error")


def stall(seconds: float | None = None, *, after_message_start: bool = False) -> Stall:
    return Stall(seconds, after_message_start)


def window_headers(*, five_hour: float | None = None, five_reset: int | None = None,
                   seven_day: float | None = None, seven_reset: int | None = None,
                   status: str = "allowed") -> dict[str, str]:
    """The unified rate-limit headers the subscription API sends on a successful answer: the
    overall status and, for each window given, its utilization (0-1) and reset (epoch
    seconds). The CLI reports them in a rate_limit_event's `unifiedWindows`."""
    unified = "anthropic-ratelimit-unified"
    headers = {f"{unified}-status": status}
    for prefix, used, reset in (("5h", five_hour, five_reset), ("7d", seven_day, seven_reset)):
        if used is not None:
            headers[f"{unified}-{prefix}-utilization"] = f"{used:g}"
        if reset is not None:
            headers[f"{unified}-{prefix}-reset"] = str(reset)
    return headers


def allowed(s: str, **windows: Any) -> Text:
    """A text answer that carries the windows' figures (`window_headers`)."""
    return Text(s, headers=window_headers(**windows))


# Per-window header prefix of each claim: the real API reports the rejected window under its own
# prefix next to the representative claim (2.1.328 knows only these two windows' headers).
_CLAIM_PREFIX = {"five_hour": "5h", "seven_day": "7d"}


# --------------------------------------------------------------------------- requests


@dataclass
class RecordedRequest:
    method: str
    path: str  # as sent, query string included
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or None when the body was empty / not JSON
    received_at: float  # time.time() when the request was fully read
    kind: str = "other"  # "main" | "side" (POST /v1/messages) or "other"
    raw_size: int = 0

    @property
    def route(self) -> str:
        return urlsplit(self.path).path

    @property
    def is_messages(self) -> bool:
        return self.method == "POST" and self.route == "/v1/messages"

    def messages(self) -> list[dict[str, Any]]:
        if isinstance(self.body, dict):
            return list(self.body.get("messages") or [])
        return []

    def texts(self, role: str | None = None) -> list[str]:
        """All text blocks (and string contents) of the request's messages, in order."""
        out: list[str] = []
        for m in self.messages():
            if role is not None and m.get("role") != role:
                continue
            content = m.get("content")
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                out.extend(
                    b["text"] for b in content if isinstance(b, dict) and b.get("type") == "text"
                )
        return out

    def all_text(self) -> str:
        return "\n".join(self.texts())

    def prompt_texts(self) -> list[str]:
        """The user's own text blocks: user-role texts minus the CLI's <system-reminder> blocks.

        The CLI sends the prompt as its own text block, byte for byte as read from stdin
        (a trailing newline included), after reminder blocks it adds to the first message.
        """
        return [t for t in self.texts("user") if not t.startswith("<system-reminder>")]

    def prompt_text(self) -> str:
        """The latest prompt of the conversation (the new one, on a resumed session)."""
        prompts = self.prompt_texts()
        return prompts[-1] if prompts else ""

    def tool_results(self) -> list[dict[str, Any]]:
        return [
            b
            for m in self.messages()
            if isinstance(m.get("content"), list)
            for b in m["content"]
            if isinstance(b, dict) and b.get("type") == "tool_result"
        ]


Resolved = Text | ToolUse | UsageLimit | ApiError | Stall
Answer = Resolved | Dynamic
AnswerLike = Answer | Callable[[RecordedRequest], Answer]


# Side calls that fork the main conversation (same tools and prefix, to share the prompt cache)
# are recognisable only by the instruction they append as the last user message.
SIDE_PROMPT_MARKERS: tuple[str, ...] = ("[SUGGESTION MODE",)


def default_classify(req: RecordedRequest) -> str:
    """Tell the agent conversation ("main") from the CLI's helper calls ("side"); see module doc."""
    body = req.body if isinstance(req.body, dict) else {}
    if not body.get("tools"):
        return "side"
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    if isinstance(last, dict) and last.get("role") == "user":
        content = last.get("content")
        texts = (
            [content]
            if isinstance(content, str)
            else [b.get("text", "") for b in content or [] if isinstance(b, dict)]
        )
        if any(t.lstrip().startswith(SIDE_PROMPT_MARKERS) for t in texts):
            return "side"
    return "main"


# --------------------------------------------------------------------------- server


class StandinAPI:
    """Threaded HTTP server on 127.0.0.1 with an OS-chosen port; use as a context manager."""

    def __init__(
        self,
        *answers: AnswerLike,
        default: AnswerLike | None = None,
        side_default: AnswerLike | None = None,
        classify: Callable[[RecordedRequest], str] = default_classify,
        model: str | None = None,
    ) -> None:
        self.queue: deque[AnswerLike] = deque(answers)
        self.default: AnswerLike = default if default is not None else Text("Hello from stand-in")
        self.side_default: AnswerLike = (
            side_default if side_default is not None else Text("Stand-in side answer")
        )
        self.classify = classify
        self.model = model  # None = echo the model the request asked for
        self.requests: list[RecordedRequest] = []
        self.unknown_paths: list[str] = []
        self.message_ids: list[str] = []
        self.request_ids: list[str] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> StandinAPI:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.api = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        # Wake stalled handlers first: shutdown() only stops the accept loop.
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StandinAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        assert self._server is not None, "StandinAPI is not running"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- scripting

    def push(self, *answers: AnswerLike) -> None:
        with self._lock:
            self.queue.extend(answers)

    def _next_answer(self, req: RecordedRequest) -> Resolved:
        with self._lock:
            if req.kind == "main":
                chosen = self.queue.popleft() if self.queue else self.default
            else:
                chosen = self.side_default
        # Resolve callables outside the lock: they may call back into the API (e.g. push()).
        while True:
            if isinstance(chosen, Dynamic):
                chosen = chosen.fn(req)
            elif isinstance(chosen, Text | ToolUse | UsageLimit | ApiError | Stall):
                return chosen
            else:
                chosen = chosen(req)

    # -- inspection

    def _record(self, req: RecordedRequest) -> None:
        with self._changed:
            self.requests.append(req)
            self._changed.notify_all()

    def messages_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.is_messages]

    def main_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.is_messages and r.kind == "main"]

    def side_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.is_messages and r.kind == "side"]

    def wait_for(
        self, predicate: Callable[[list[RecordedRequest]], bool], timeout: float = 10.0
    ) -> bool:
        """Block until predicate(requests) holds (True) or the timeout passes (False)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self.requests):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def wait_for_main_requests(self, n: int = 1, timeout: float = 10.0) -> bool:
        return self.wait_for(
            lambda rs: sum(1 for r in rs if r.is_messages and r.kind == "main") >= n, timeout
        )

    # Ids are listed in the order sent: request_ids for every /v1/messages response (errors
    # included, as the real API does), message_ids only for responses that carried a message.
    def _new_request_id(self) -> str:
        req_id = f"req_{secrets.token_hex(12)}"
        with self._lock:
            self.request_ids.append(req_id)
        return req_id

    def _new_message_id(self) -> str:
        msg_id = f"msg_{secrets.token_hex(12)}"
        with self._lock:
            self.message_ids.append(msg_id)
        return msg_id


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Stalled or keep-alive handler threads must not make server_close() wait for them.
    block_on_close = False
    allow_reuse_address = True
    api: StandinAPI


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive + chunked SSE, like the real API
    server: _Server

    def log_message(self, fmt: str, *args: Any) -> None:
        pass  # requests are recorded in api.requests; stderr noise would clutter test output

    @property
    def api(self) -> StandinAPI:
        return self.server.api

    # -- plumbing

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            data = b"".join(chunks)
        else:
            data = self.rfile.read(int(self.headers.get("content-length") or 0))
        encoding = self.headers.get("content-encoding", "").lower()
        if encoding == "gzip":
            data = gzip.decompress(data)
        elif encoding == "deflate":
            data = zlib.decompress(data)
        return data

    def _handle(self) -> None:
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        req = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            received_at=time.time(),
            raw_size=len(raw),
        )
        if req.is_messages:
            req.kind = self.api.classify(req)
        self.api._record(req)
        # The CLI may give up on a request (timeout, abort) while we answer; nothing to do then.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._dispatch(req)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def do_CONNECT(self) -> None:
        # Reached only through the HTTPS_PROXY that claude_env() points here: something tried to
        # leave loopback. Record it and refuse at once so the client fails fast.
        self.api._record(
            RecordedRequest(
                method="CONNECT",
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=None,
                received_at=time.time(),
            )
        )
        with self.api._lock:
            self.api.unknown_paths.append(f"CONNECT {self.path}")
        self.send_response(403)
        self.send_header("content-length", "0")
        self.end_headers()
        self.close_connection = True

    def do_HEAD(self) -> None:
        self._read_body()
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, name: str, payload: dict[str, Any]) -> None:
        self._chunk(f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode())

    # -- routes

    def _dispatch(self, req: RecordedRequest) -> None:
        route = req.route
        if req.is_messages:
            self._messages(req)
        elif route == "/v1/messages/count_tokens":
            text_len = len(json.dumps(req.body or {}))
            self._send_json(200, {"input_tokens": max(1, text_len // 4)})
        elif route.startswith("/v1/models"):
            self._send_json(200, {"data": [], "has_more": False, "first_id": None, "last_id": None})
        else:
            with self.api._lock:
                self.api.unknown_paths.append(f"{req.method} {req.path}")
            self._send_json(200, {})

    def _messages(self, req: RecordedRequest) -> None:
        answer = self.api._next_answer(req)
        body = req.body if isinstance(req.body, dict) else {}
        model = self.api.model or str(body.get("model") or "claude-standin")
        streaming = bool(body.get("stream"))
        req_id = self.api._new_request_id()
        base_headers = {"request-id": req_id, "anthropic-organization-id": "standin-org"}

        if isinstance(answer, Stall):
            self._stall(answer, model, base_headers)
            return
        if isinstance(answer, UsageLimit):
            self._usage_limit(answer, base_headers)
            return
        if isinstance(answer, ApiError):
            payload = {
                "type": "error",
                "error": {"type": answer.error_type, "message": answer.message},
                "request_id": req_id,
            }
            self._send_json(answer.status, payload, {**base_headers, **answer.headers})
            return
        if answer.delay and self.api._closing.wait(answer.delay):
            return  # server closing while we were pretending to think
        usage = {**DEFAULT_USAGE, **(answer.usage or {})}
        stop = answer.stop_reason if isinstance(answer, Text) else "tool_use"
        message = _message(self.api._new_message_id(), model, _blocks(answer), usage, stop)
        headers = {**base_headers, **answer.headers}
        if streaming:
            self._stream(message, headers)
        else:
            self._send_json(200, message, headers)

    def _usage_limit(self, answer: UsageLimit, base_headers: dict[str, str]) -> None:
        reset = answer.reset_at if answer.reset_at is not None else int(time.time()) + 3600
        headers = {**base_headers, "retry-after": str(max(0, reset - int(time.time())))}
        if answer.claim is not None:
            unified = "anthropic-ratelimit-unified"
            headers.update(
                {
                    f"{unified}-status": "rejected",
                    f"{unified}-reset": str(reset),
                    f"{unified}-representative-claim": answer.claim,
                }
            )
            prefix = _CLAIM_PREFIX.get(answer.claim)
            if prefix:
                headers.update(
                    {
                        f"{unified}-{prefix}-status": "rejected",
                        f"{unified}-{prefix}-reset": str(reset),
                        f"{unified}-{prefix}-utilization": "1.0",
                    }
                )
            if answer.overage_disabled_reason:
                headers[f"{unified}-overage-status"] = "rejected"
                headers[f"{unified}-overage-disabled-reason"] = answer.overage_disabled_reason
        payload = {
            "type": "error",
            "error": {"type": "rate_limit_error", "message": answer.message},
            "request_id": base_headers["request-id"],
        }
        self._send_json(429, payload, headers)

    def _start_stream(self, headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _stream_start(self, message: dict[str, Any], headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        # The real API opens with no content, no stop reason and output counted so far.
        opening = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {**message["usage"], "output_tokens": 1},
        }
        self._event("message_start", {"type": "message_start", "message": opening})

    def _stream(self, message: dict[str, Any], headers: dict[str, str]) -> None:
        self._stream_start(message, headers)
        for i, block in enumerate(message["content"]):
            start: dict[str, Any]
            if block["type"] == "text":
                start = {"type": "text", "text": ""}
                delta = {"type": "text_delta", "text": block["text"]}
            else:
                start = {**block, "input": {}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            self._event(
                "content_block_start",
                {"type": "content_block_start", "index": i, "content_block": start},
            )
            if i == 0:
                self._event("ping", {"type": "ping"})
            self._event(
                "content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}
            )
            self._event("content_block_stop", {"type": "content_block_stop", "index": i})
        self._event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        )
        self._event("message_stop", {"type": "message_stop"})
        self._chunk(b"")  # zero-length chunk ends the chunked body

    def _stall(self, answer: Stall, model: str, headers: dict[str, str]) -> None:
        if answer.after_message_start:
            message = _message(self.api._new_message_id(), model, [], DEFAULT_USAGE, None)
            self._stream_start(message, headers)
        self.api._closing.wait(answer.seconds)
        # Then hang up without finishing: the client sees a dropped or truncated response.
        self.close_connection = True


def _blocks(answer: Text | ToolUse) -> list[dict[str, Any]]:
    if isinstance(answer, Text):
        return [{"type": "text", "text": answer.text}]
    blocks: list[dict[str, Any]] = []
    if answer.text:
        blocks.append({"type": "text", "text": answer.text})
    blocks.append(
        {
            "type": "tool_use",
            "id": answer.tool_use_id or f"toolu_{secrets.token_hex(12)}",
            "name": answer.name,
            "input": answer.input,
        }
    )
    return blocks


def _message(
    msg_id: str, model: str, blocks: list[dict[str, Any]], usage: dict[str, int], stop: str | None
) -> dict[str, Any]:
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
