"""Who may do what: the web token, browser sessions, one-time login codes, CSRF, and the guard
that checks every request before any route sees it.

Rules (docs/web.md explains them for users):

- Reads (GET, HEAD) need nothing when they come from this machine: the client address is
  loopback *and* the Host header names a loopback host (a page from another site that
  re-binds its DNS name to 127.0.0.1 sends its own name and is refused). Reads from
  elsewhere need credentials like writes do.
- Writes (POST, PUT, PATCH, DELETE) need the token kept in `<data dir>/web-token`, either
  as `Authorization: Bearer <token>` / `X-CNP-Token: <token>` (scripts), or as the session
  cookie a browser gets from a one-time login link (or by pasting the token into /login).
  A write that relies on the cookie must also carry the session's CSRF token (form field
  `csrf_token` or header `X-CSRF-Token`), and a cross-origin `Origin` header is refused.
- Login codes are signed with the token too, so `cnp web link` can issue one for a running
  server; each works once and for 15 minutes.
- Sessions are stateless: the cookie is signed with the token, so a session is valid in every
  server of the same data directory and deleting the token file (then restarting) ends all.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import StorageError

TOKEN_FILE = "web-token"
COOKIE = "cnp_session"
SESSION_TTL_S = 7 * 24 * 3600
LOGIN_CODE_TTL_S = 15 * 60
MAX_BODY = 16 * 1024 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Paths anyone may reach: static files, and the login exchange (it checks its own secret).
OPEN_PATHS = ("/static/", "/login", "/favicon.ico")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def load_token(path: Path) -> str:
    """The web token, created (0600, random, URL-safe) on first use."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(32) + "\n")
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)  # someone loosened it; a token is for this user only
        token = path.read_text().strip()
    except OSError as exc:
        raise StorageError(f"cannot read or create the web token {path}: "
                           f"{exc.strerror or exc}") from exc
    if len(token) < 16:
        raise StorageError(f"the web token in {path} is too short (under 16 characters)",
                           hint="delete the file; a new token is made on the next start")
    return token


def _sign(key: bytes, *parts: str) -> str:
    return hmac.new(key, "|".join(parts).encode(), hashlib.sha256).hexdigest()


class LoginCodes:
    """One-time login codes: each works once, within LOGIN_CODE_TTL_S of being issued. A code
    is signed with `key` (the web token), so a server accepts the codes any process that can
    read the token issues (`cnp web link`); the codes it has accepted it remembers until they
    expire. Without a key, only the codes of this object work."""

    def __init__(self, ttl_s: float = LOGIN_CODE_TTL_S, key: bytes | None = None) -> None:
        self.ttl_s = ttl_s
        self._key = key if key is not None else secrets.token_bytes(32)
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        nonce = secrets.token_hex(12)
        expires = str(int(now + self.ttl_s))
        return f"{nonce}-{expires}-{_sign(self._key, 'login', nonce, expires)[:32]}"

    def consume(self, code: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        parts = code.split("-")
        if len(parts) != 3 or not parts[1].isdigit():
            return False
        nonce, expires, sig = parts
        if not hmac.compare_digest(sig, _sign(self._key, "login", nonce, expires)[:32]):
            return False
        if int(expires) <= now:
            return False
        with self._lock:
            self._used = {n: exp for n, exp in self._used.items() if exp > now}
            if nonce in self._used:
                return False
            self._used[nonce] = float(expires)
        return True


@dataclass
class Auth:
    """The token and everything derived from it."""

    token: str
    codes: LoginCodes = field(init=False)

    def __post_init__(self) -> None:
        self.codes = LoginCodes(key=self.key)

    @property
    def key(self) -> bytes:
        return self.token.encode()

    def token_ok(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.key)

    def new_session(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        nonce = secrets.token_urlsafe(16)
        expires = str(int(now + SESSION_TTL_S))
        return f"{nonce}.{expires}.{_sign(self.key, 'session', nonce, expires)}"

    def session_nonce(self, cookie: str | None, now: float | None = None) -> str | None:
        """The session's id if the cookie is genuine and not expired."""
        if not cookie:
            return None
        parts = cookie.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        nonce, expires, sig = parts
        if not hmac.compare_digest(sig, _sign(self.key, "session", nonce, expires)):
            return None
        now = time.time() if now is None else now
        return nonce if int(expires) > now else None

    def csrf_token(self, nonce: str) -> str:
        return _sign(self.key, "csrf", nonce)[:40]


def is_loopback_address(host: str | None) -> bool:
    if not host:
        return False
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost"
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def is_loopback_host_header(host_header: str | None) -> bool:
    if not host_header:
        return True  # HTTP/1.0 without Host: nothing to re-bind
    name = _host_name(host_header).lower()
    return name == "localhost" or name.endswith(".localhost") or is_loopback_address(name)


def _cookie(headers: dict[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


class Guard:
    """Pure ASGI middleware: authenticate, enforce the rules above, then call the app.

    Sets `scope["state"]`: `cnp_auth` ("token", "session" or None), `cnp_local` (a loopback
    read), `cnp_csrf` (the session's CSRF token, for templates).
    """

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_security_headers(send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        method = scope["method"].upper()
        path = scope.get("path", "")
        state = scope.setdefault("state", {})
        nonce = self.auth.session_nonce(_cookie(headers, COOKIE))
        state["cnp_csrf"] = self.auth.csrf_token(nonce) if nonce else None
        client = scope.get("client")
        local = is_loopback_address(client[0] if client else None) and \
            is_loopback_host_header(headers.get("host"))
        state["cnp_local"] = local

        length = headers.get("content-length", "0")
        if length.isdigit() and int(length) > MAX_BODY:
            await _deny(send, headers, path, 413, "too_large",
                        f"the request body is larger than {MAX_BODY // (1024 * 1024)} MiB")
            return

        given = _header_token(headers)
        if given is not None:
            if not self.auth.token_ok(given):
                await _deny(send, headers, path, 403, "forbidden", "the web token is wrong")
                return
            state["cnp_auth"] = "token"
        else:
            state["cnp_auth"] = "session" if nonce else None

        if path.startswith(OPEN_PATHS) or path == "/login":
            await self.app(scope, receive, send)
            return
        if method in SAFE_METHODS:
            if state["cnp_auth"] or local:
                await self.app(scope, receive, send)
            else:
                await _deny(send, headers, path, 401, "unauthorized",
                            "reading from another machine needs the web token or a session")
            return
        if state["cnp_auth"] == "token":
            await self.app(scope, receive, send)
            return
        if state["cnp_auth"] != "session":
            await _deny(send, headers, path, 401, "unauthorized",
                        "changes need the web token: send it as 'Authorization: Bearer <token>'"
                        " or 'X-CNP-Token', or log in with the link `cnp serve` printed")
            return
        origin = headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != headers.get("host"):
            await _deny(send, headers, path, 403, "forbidden",
                        f"cross-origin request from {origin} refused")
            return
        expected = state["cnp_csrf"]
        assert expected is not None
        csrf = headers.get("x-csrf-token")
        replay = receive
        if csrf is None and headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"):
            body = await _read_body(receive)
            if body is None:
                await _deny(send, headers, path, 413, "too_large", "the request body is too large")
                return
            try:
                fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                fields = {}
            csrf = fields.get("csrf_token", [""])[0] or None
            replay = _replay(body)
        if csrf is None or not hmac.compare_digest(csrf.encode(), expected.encode()):
            await _deny(send, headers, path, 403, "csrf",
                        "the form's CSRF token is missing or wrong; reload the page and retry")
            return
        await self.app(scope, replay, send)


def _header_token(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization")
    if auth is not None:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip()
    return headers.get("x-cnp-token")


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _with_security_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {k.lower() for k, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return wrapped


def wants_html(headers: dict[str, str], path: str) -> bool:
    return not path.startswith("/api") and "text/html" in headers.get("accept", "")


_DENIED_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Claude Night Pilot</title><link rel="stylesheet" href="/static/app.css"></head>
<body><main class="narrow"><h1>{title}</h1><p class="error-box">{message}</p>
<p><a href="/login">Log in</a> with the link <code>cnp serve</code> printed, or paste the token
from the data directory's <code>web-token</code> file. <a href="/">Back to the overview</a></p>
</main></body></html>"""


async def _deny(send: Send, headers: dict[str, str], path: str, status: int, error: str,
                message: str) -> None:
    if wants_html(headers, path):
        import html

        title = {401: "Not logged in", 403: "Refused", 413: "Too large"}.get(status, "Refused")
        body = _DENIED_PAGE.format(title=title, message=html.escape(message)).encode()
        ctype = b"text/html; charset=utf-8"
    else:
        body = json.dumps({"error": error, "message": message}).encode()
        ctype = b"application/json"
    response_headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()),
                        (b"cache-control", b"no-store")]
    if status == 401:
        response_headers.append((b"www-authenticate", b'Bearer realm="cnp"'))
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})
