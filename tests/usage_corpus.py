"""A generator of Claude Code transcript corpora whose true usage is known exactly.

Owns the shapes Claude Code 2.1.328 writes (assistant rows as observed from the real CLI, user
prompts, tool results, request records) and every way it repeats a response: one row per content
block, rows copied into a resumed session's new file, a parent message replayed in a subagent's
sidechain under a new request id, rows without a request id (or without a message id), growing
streaming snapshots; plus lines cut short by a crash, garbage and half-written last lines.

`generate()` returns the ground truth (each API response once, with its final usage) and what
ccusage 18.0.11 will report on the same files under its rule (a row is skipped only when its
message id and request id were both seen before), split by the cause of each difference. It
never imports night_pilot: the truth must not share code with what it checks. Used by the tests
(small corpora) and bench/usage_import.py (≥ 500 MB).
"""

from __future__ import annotations

import json
import os
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

# USD per million tokens: input, output, 5-minute cache write, 1-hour cache write, cache read.
# Written out here independently of night_pilot.usage.pricing, so that a wrong table fails the
# tests.
PRICES = {
    "claude-sonnet-4-5-20250929": (3.0, 15.0, 3.75, 6.0, 0.30),
    "claude-opus-4-5-20251101": (5.0, 25.0, 6.25, 10.0, 0.50),
    "claude-haiku-4-5-20251001": (1.0, 5.0, 1.25, 2.0, 0.10),
}
UNPRICED_MODEL = "claude-opus-5-5"  # what the test stand-in answers as; no published price
MODELS = [*PRICES, UNPRICED_MODEL]
MODEL_WEIGHTS = [50, 25, 15, 10]
SYNTHETIC = "<synthetic>"

# Share of API responses with each peculiarity (the rest are ordinary 2.1.328 responses).
P_NO_REQUEST_ID = 0.03
P_NO_MESSAGE_ID = 0.005  # of those, half have a request id and half have no id at all
P_SNAPSHOTS = 0.01
P_SYNTHETIC = 0.01
P_SUBAGENT = 0.06
P_REPLAY = 0.5  # of subagent files: the parent's last message is replayed first
P_RESUME = 0.15  # of sessions: continued later in a new session file that copies the history
P_COST_FIELD = 0.1  # of sessions: written by an old version that put costUSD on each row
P_MALFORMED = 0.004  # of lines: preceded by a copy cut short by a crash, or by garbage
P_BLANK = 0.002
P_HALF_WRITTEN = 0.3  # of sessions: the file ends in the middle of a line

# Plain text to cut prompts and tool output from (fast to generate, realistic to escape).
_FILLER = "".join(random.Random(7).choice("abcdefghijklmnopqrstuvwxyz      .,:;\n\"")
                  for _ in range(1 << 16))

# Causes of a difference between ccusage's figures and the truth.
REPLAY = "sidechain replay of a parent message under a new request id"
NO_REQUEST_BLOCKS = "content-block rows of a response without a request id"
NO_REQUEST_COPIES = "resumed-session copies of rows without a request id"
NO_MESSAGE = "repeated rows of a response without a message id"
SNAPSHOT = "streaming snapshots: first row's output count kept instead of the final one"


@dataclass
class Tokens:
    input: int = 0
    output: int = 0
    cache_creation: int = 0
    cache_read: int = 0

    def add(self, other: Tokens, sign: int = 1) -> None:
        self.input += sign * other.input
        self.output += sign * other.output
        self.cache_creation += sign * other.cache_creation
        self.cache_read += sign * other.cache_read

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_creation + self.cache_read

    def as_dict(self) -> dict[str, int]:
        return {"input_tokens": self.input, "output_tokens": self.output,
                "cache_creation_tokens": self.cache_creation,
                "cache_read_tokens": self.cache_read, "total_tokens": self.total}


@dataclass(eq=False)
class Response:
    """One API response: what the truth counts once."""

    message_id: str | None
    request_id: str | None
    model: str
    timestamp: datetime  # of its first row
    tokens: Tokens
    cache_1h: int  # part of the cache write made with a 1-hour lifetime
    cost_field: float | None  # costUSD written on its rows, if any
    session_id: str
    project: str

    @property
    def cost(self) -> float | None:
        if self.cost_field is not None:
            return self.cost_field
        price = PRICES.get(self.model)
        if price is None:
            return None
        t = self.tokens
        return (t.input * price[0] + t.output * price[1]
                + (t.cache_creation - self.cache_1h) * price[2] + self.cache_1h * price[3]
                + t.cache_read * price[4]) / 1e6


@dataclass
class UsageRow:
    """One complete row carrying usage, as written to disk."""

    response: Response
    message_id: str | None
    request_id: str | None
    output: int
    copy: bool  # written into a resumed session's file as a copy


@dataclass
class Corpus:
    root: Path  # a Claude config dir: transcripts are under root/projects
    responses: list[Response] = field(default_factory=list)
    rows: list[UsageRow] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    bytes_written: int = 0
    lines_written: int = 0
    malformed_lines: int = 0
    pending: dict[Path, bytes] = field(default_factory=dict)  # rest of each half-written line
    pending_responses: dict[Path, Response] = field(default_factory=dict)
    # Main conversation files that end with a whole line: (session id, cwd, last row's uuid).
    conversations: dict[Path, tuple[str, str, str | None]] = field(default_factory=dict)

    @property
    def truth(self) -> Tokens:
        total = Tokens()
        for r in self.responses:
            total.add(r.tokens)
        return total

    def truth_cost(self) -> tuple[float, int]:
        """(sum of known costs, number of responses whose cost is unknown)."""
        known = sum(c for r in self.responses if (c := r.cost) is not None)
        return known, sum(r.cost is None for r in self.responses)

    def daily(self, tz: tzinfo) -> dict[str, Tokens]:
        days: dict[str, Tokens] = {}
        for r in self.responses:
            days.setdefault(r.timestamp.astimezone(tz).date().isoformat(), Tokens()).add(r.tokens)
        return days

    def sessions(self) -> dict[str, Tokens]:
        out: dict[str, Tokens] = {}
        for r in self.responses:
            out.setdefault(r.session_id, Tokens()).add(r.tokens)
        return out

    def ccusage_differences(self) -> dict[str, tuple[int, Tokens]]:
        """What ccusage 18.0.11 counts beyond the truth (negative: short of it), by cause:
        (rows, tokens). Its rule, applied to every complete row in the order written: a row
        is skipped when both its message id and request id were seen before; any other row is
        added with its own usage. File order cannot change the result: copies of a row are
        identical, and a response's snapshots live in one file."""
        seen: set[tuple[str, str]] = set()
        counted: set[int] = set()
        out: dict[str, tuple[int, Tokens]] = {}

        def add(cause: str, rows: int, tokens: Tokens) -> None:
            n, t = out.get(cause, (0, Tokens()))
            t.add(tokens)
            out[cause] = (n + rows, t)

        for row in self.rows:
            resp = row.response
            if resp.model == SYNTHETIC:
                continue  # zero usage: changes nothing for anyone
            if row.message_id is not None and row.request_id is not None:
                if (row.message_id, row.request_id) in seen:
                    continue
                seen.add((row.message_id, row.request_id))
                cause = REPLAY
            elif row.message_id is None:
                cause = NO_MESSAGE
            else:
                cause = NO_REQUEST_COPIES if row.copy else NO_REQUEST_BLOCKS
            row_tokens = Tokens(resp.tokens.input, row.output, resp.tokens.cache_creation,
                                resp.tokens.cache_read)
            if id(resp) not in counted:
                counted.add(id(resp))
                if row.output != resp.tokens.output:
                    add(SNAPSHOT, 0, Tokens(output=row.output - resp.tokens.output))
                continue
            add(cause, 1, row_tokens)
        return out

    @property
    def ccusage_expected(self) -> Tokens:
        total = self.truth
        for _rows, tokens in self.ccusage_differences().values():
            total.add(tokens)
        return total

    def complete_pending(self) -> None:
        """Finish every half-written last line, as Claude Code does when it writes the rest."""
        for path, rest in self.pending.items():
            with open(path, "ab") as f:
                f.write(rest)
            response = self.pending_responses[path]
            self.responses.append(response)
            self.rows.append(UsageRow(response, response.message_id, response.request_id,
                                      response.tokens.output, False))
        self.pending.clear()
        self.pending_responses.clear()


def project_dir_name(cwd: str) -> str:
    """How Claude Code names a project's transcript folder: every char outside [A-Za-z0-9]
    of the working directory becomes '-'."""
    return re.sub(r"[^A-Za-z0-9]", "-", cwd)


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


class _Session:
    """One transcript file being built: its lines, and the usage rows among them."""

    def __init__(self, gen: _Generator, session_id: str, cwd: str, version: str,
                 cost_field: bool, *, sidechain: bool = False, agent_id: str | None = None
                 ) -> None:
        self.gen = gen
        self.session_id = session_id
        self.cwd = cwd
        self.version = version
        self.cost_field = cost_field
        self.sidechain = sidechain
        self.agent_id = agent_id
        self.lines: list[bytes] = []
        self.usage: dict[int, UsageRow] = {}  # line index → the usage it carries
        self.parent: str | None = None
        self.last_at: datetime | None = None

    def _row(self, kind: str, at: datetime, **extra: Any) -> dict[str, Any]:
        uid = str(uuid.UUID(int=self.gen.rng.getrandbits(128), version=4))
        row: dict[str, Any] = {"parentUuid": self.parent, "isSidechain": self.sidechain}
        row.update(extra)
        row.update({"type": kind, "uuid": uid, "timestamp": _ts(at), "userType": "external",
                    "entrypoint": "sdk-cli", "cwd": self.cwd, "sessionId": self.session_id,
                    "version": self.version, "gitBranch": "main"})
        if self.agent_id:
            row["agentId"] = self.agent_id
        self.parent = uid
        self.last_at = at
        return row

    def add(self, row: dict[str, Any], usage: UsageRow | None = None) -> None:
        if usage is not None:
            self.usage[len(self.lines)] = usage
        self.lines.append(json.dumps(row, separators=(",", ":")).encode())

    def filler(self, low: int, high: int) -> str:
        rng = self.gen.rng
        n = int(rng.triangular(low, high, low + (high - low) // 8))
        start = rng.randrange(0, len(_FILLER) - n - 1)
        return _FILLER[start:start + n]

    def user_prompt(self, at: datetime) -> None:
        self.add(self._row("user", at, message={"role": "user",
                                                "content": self.filler(40, 2000)}))

    def tool_result(self, at: datetime, tool_id: str) -> None:
        # Command output and file contents: mostly a few KB (median 2 KB), now and then a
        # whole file of tens of KB.
        n = min(int(self.gen.rng.lognormvariate(7.6, 1.1)), 60_000)
        start = self.gen.rng.randrange(0, len(_FILLER) - n - 1)
        text = _FILLER[start:start + n]
        if self.gen.rng.random() < 0.02:
            text += ' see "usage" in the README'  # output that happens to hold the marker
        self.add(self._row(
            "user", at,
            message={"role": "user", "content": [
                {"tool_use_id": tool_id, "type": "tool_result", "content": text}]},
            toolUseResult={"stdout": text[:400], "stderr": "", "interrupted": False}))

    def request_record(self, at: datetime, model: str) -> None:
        rng = self.gen.rng
        self.add({"type": "api-request", "sessionId": self.session_id,
                  "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                  "timestamp": _ts(at), "version": self.version, "querySource": "sdk",
                  "params": {"model": model, "max_tokens": 32000,
                             "betas": ["claude-code-20250219", "interleaved-thinking-2025-05-14",
                                       "context-management-2025-06-27"]},
                  "requestDigest": f"{rng.getrandbits(256):064x}"})

    def response(self, at: datetime, response: Response, blocks: list[dict[str, Any]], *,
                 snapshots: bool = False, request_id: str | None = None) -> None:
        """One row per content block, all with the response's ids and usage (with
        `snapshots`, the output count grows until the last row). `request_id` overrides the
        response's own (a replay)."""
        t = response.tokens
        rid = request_id or response.request_id
        for i, block in enumerate(blocks):
            last = i == len(blocks) - 1
            output = t.output if (last or not snapshots) else max(1, t.output * (i + 1) // 8)
            usage = {
                "input_tokens": t.input, "cache_creation_input_tokens": t.cache_creation,
                "cache_read_input_tokens": t.cache_read, "output_tokens": output,
                "output_tokens_details": {"thinking_tokens": 0},
                "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
                "service_tier": "standard",
                "cache_creation": {"ephemeral_1h_input_tokens": response.cache_1h,
                                   "ephemeral_5m_input_tokens":
                                       t.cache_creation - response.cache_1h},
                "inference_geo": "", "iterations": [], "speed": "standard",
            }
            message: dict[str, Any] = {"type": "message", "role": "assistant",
                                       "model": response.model, "content": [block],
                                       "stop_reason": "tool_use" if last else None,
                                       "stop_sequence": None, "usage": usage}
            if response.message_id is not None:
                message = {"id": response.message_id, **message}
            extra: dict[str, Any] = {"message": message}
            if rid is not None:
                extra["requestId"] = rid
            if response.cost_field is not None:
                extra["costUSD"] = response.cost_field
            row = self._row("assistant", at + timedelta(milliseconds=7 * i), **extra)
            self.add(row, UsageRow(response, response.message_id, rid, output, False))


class _Generator:
    def __init__(self, root: Path, seed: int, start: datetime, days: int) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.start = start
        self.days = days
        self.corpus = Corpus(root)

    def ident(self, prefix: str) -> str:
        return f"{prefix}_{self.rng.getrandbits(96):024x}"

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def blocks(self, n: int) -> list[dict[str, Any]]:
        rng = self.rng
        out: list[dict[str, Any]] = []
        for i in range(n):
            if i == 0 and n > 1 and rng.random() < 0.5:
                out.append({"type": "thinking", "thinking": _FILLER[:rng.randint(100, 2500)],
                            "signature": f"{rng.getrandbits(512):0128x}"})
            elif i == n - 1 and n > 1:
                out.append({"type": "tool_use", "id": self.ident("toolu"), "name": "Bash",
                            "input": {"command": "ls -la " + _FILLER[:rng.randint(5, 900)],
                                      "description": "List files"}})
            else:
                out.append({"type": "text", "text": _FILLER[:rng.randint(20, 1200)]})
        return out

    def new_response(self, s: _Session, at: datetime, model: str | None = None) -> Response:
        rng = self.rng
        cache_read = rng.choice([0, rng.randint(5_000, 150_000)])
        cache_creation = rng.randint(0, 20_000)
        one_hour = cache_creation // 2 if rng.random() < 0.2 else 0
        message_id: str | None = self.ident("msg")
        request_id: str | None = self.ident("req")
        if rng.random() < P_NO_MESSAGE_ID:
            message_id = None
            request_id = request_id if rng.random() < 0.5 else None
        elif rng.random() < P_NO_REQUEST_ID:
            request_id = None
        return Response(
            message_id=message_id, request_id=request_id,
            model=model or rng.choices(MODELS, MODEL_WEIGHTS)[0], timestamp=at,
            tokens=Tokens(rng.randint(1, 60), rng.randint(10, 4_000), cache_creation,
                          cache_read),
            cache_1h=one_hour,
            cost_field=round(rng.uniform(0.0001, 0.5), 6) if s.cost_field else None,
            session_id=s.session_id, project=s.cwd)

    # -- sessions ----------------------------------------------------------------------

    def session(self, cwd: str, at: datetime, turns: int) -> None:
        rng = self.rng
        cost_field = rng.random() < P_COST_FIELD
        s = _Session(self, self.new_uuid(), cwd, "1.0.30" if cost_field else "2.1.328",
                     cost_field)
        proj_dir = self.root / "projects" / project_dir_name(cwd)
        subagents: list[_Session] = []
        for _ in range(turns):
            at = self.turn(s, at, subagents)
        # Subagents finish before the turn that started them does: their files are older.
        for sub in subagents:
            self.write(sub, proj_dir / s.session_id / "subagents" / f"agent-{sub.agent_id}.jsonl")
        self.write(s, proj_dir / f"{s.session_id}.jsonl",
                   half_written=rng.random() < P_HALF_WRITTEN)
        if rng.random() < P_RESUME:
            self.resume(s, proj_dir, at + timedelta(hours=rng.randint(1, 30)))

    def turn(self, s: _Session, at: datetime, subagents: list[_Session] | None) -> datetime:
        """A prompt and the agent loop that answers it: 1-6 API responses, each followed by a
        tool result. Returns the time after it."""
        rng = self.rng
        s.user_prompt(at)
        at += timedelta(seconds=rng.randint(1, 20))
        for _step in range(rng.randint(1, 6)):
            s.request_record(at, "claude-sonnet-4-5-20250929")
            if rng.random() < P_SYNTHETIC:
                # An error Claude Code writes itself: no API call, zero usage.
                zero = Response(self.ident("msg"), None, SYNTHETIC, at, Tokens(), 0, None,
                                s.session_id, s.cwd)
                s.response(at, zero, [{"type": "text", "text": "API Error: overloaded"}])
            response = self.new_response(s, at)
            snapshots = (rng.random() < P_SNAPSHOTS and response.message_id is not None
                         and response.request_id is not None)
            blocks = self.blocks(3 if snapshots else rng.choice([1, 1, 2, 2, 2, 3]))
            s.response(at, response, blocks, snapshots=snapshots)
            self.corpus.responses.append(response)
            at += timedelta(seconds=rng.randint(2, 90))
            if (subagents is not None and rng.random() < P_SUBAGENT
                    and response.message_id is not None):
                subagents.append(self.subagent(s, at, response, blocks))
            s.tool_result(at, self.ident("toolu"))
            at += timedelta(seconds=rng.randint(1, 30))
        return at + timedelta(minutes=rng.randint(1, 40))

    def subagent(self, parent: _Session, at: datetime, parent_response: Response,
                 parent_blocks: list[dict[str, Any]]) -> _Session:
        rng = self.rng
        sub = _Session(self, parent.session_id, parent.cwd, parent.version, parent.cost_field,
                       sidechain=True, agent_id=f"a{rng.getrandbits(64):016x}")
        sub.user_prompt(at)
        if rng.random() < P_REPLAY:
            # The parent's message replayed into the sidechain: same message id and usage,
            # a request id of its own. One API response; ccusage counts it twice.
            sub.response(at + timedelta(milliseconds=50), parent_response, parent_blocks[-1:],
                         request_id=self.ident("req"))
        for _ in range(rng.randint(1, 4)):
            at += timedelta(seconds=rng.randint(1, 20))
            response = self.new_response(sub, at, model="claude-haiku-4-5-20251001")
            sub.response(at, response, self.blocks(rng.choice([1, 2])))
            self.corpus.responses.append(response)
            sub.tool_result(at, self.ident("toolu"))
        return sub

    def resume(self, original: _Session, proj_dir: Path, at: datetime) -> None:
        """`claude --resume … --fork-session`: a new session file that starts with a copy of
        the original's rows (its own session id; uuids, message and request ids kept), then
        goes on. Observed with the real CLI 2.1.328."""
        rng = self.rng
        s = _Session(self, self.new_uuid(), original.cwd, "2.1.328", False)
        for i, line in enumerate(original.lines):
            row = json.loads(line)
            if "sessionId" in row:
                row["sessionId"] = s.session_id
            old = original.usage.get(i)
            s.add(row, None if old is None else UsageRow(old.response, old.message_id,
                                                         old.request_id, old.output, True))
        s.parent = json.loads(original.lines[-1]).get("uuid") or original.parent
        for _ in range(rng.randint(1, 3)):
            s.user_prompt(at)
            at += timedelta(seconds=5)
            response = self.new_response(s, at)
            s.response(at, response, self.blocks(2))
            self.corpus.responses.append(response)
            s.tool_result(at, self.ident("toolu"))
            at += timedelta(seconds=rng.randint(5, 60))
        self.write(s, proj_dir / f"{s.session_id}.jsonl")

    # -- writing -----------------------------------------------------------------------

    def write(self, s: _Session, path: Path, *, half_written: bool = False) -> None:
        rng = self.rng
        out: list[bytes] = []
        for i, line in enumerate(s.lines):
            if rng.random() < P_MALFORMED:
                # A copy cut short by a crash (never right after a '}', which would look like
                # a whole object), or garbage; the intact line follows.
                if rng.random() < 0.2:
                    out.append(b"\x00\x00 not json at all")
                else:
                    cut = rng.randint(1, len(line) - 2)
                    while line[cut - 1:cut] == b"}":
                        cut -= 1
                    out.append(line[:cut])
                self.corpus.malformed_lines += 1
            if rng.random() < P_BLANK:
                out.append(b"")  # skipped by everyone, counted by nobody
            out.append(line)
            if i in s.usage:
                self.corpus.rows.append(s.usage[i])
        text = b"\n".join(out) + b"\n"
        last_at = s.last_at or self.start
        if half_written:
            # The session's next response, half written when the corpus was taken.
            at = last_at + timedelta(seconds=3)
            response = self.new_response(s, at)
            tail = _Session(self, s.session_id, s.cwd, s.version, s.cost_field)
            tail.parent = s.parent
            tail.response(at, response, self.blocks(1))
            line = tail.lines[0]
            cut = rng.randint(len(line) // 3, len(line) - 2)
            text += line[:cut]
            self.corpus.pending[path] = line[cut:] + b"\n"
            self.corpus.pending_responses[path] = response
            last_at = at
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.write(text)
        # The file's mtime is its last write, as on a real disk (the importer reads older
        # files first).
        stamp = last_at.timestamp()
        os.utime(path, (stamp, stamp))
        self.corpus.files.append(path)
        self.corpus.bytes_written += len(text)
        self.corpus.lines_written += len(out)
        if not s.sidechain and not half_written:
            self.corpus.conversations[path] = (s.session_id, s.cwd, s.parent)


def append_activity(corpus: Corpus, target_bytes: int, *, seed: int,
                    at: datetime | None = None) -> int:
    """Append new turns (at least `target_bytes` of them) to existing conversations, as Claude
    Code does when a session goes on; the truth grows with them. Returns the bytes appended."""
    gen = _Generator(corpus.root, seed, corpus_start(corpus), 1)
    gen.corpus = corpus
    at = at or datetime.now(UTC)
    paths = sorted(corpus.conversations)
    written = 0
    while written < target_bytes:
        path = gen.rng.choice(paths)
        session_id, cwd, parent = corpus.conversations[path]
        s = _Session(gen, session_id, cwd, "2.1.328", False)
        s.parent = parent
        at = gen.turn(s, at, None)
        text = b"\n".join(s.lines) + b"\n"
        with open(path, "ab") as f:
            f.write(text)
        corpus.rows.extend(s.usage[i] for i in sorted(s.usage))
        corpus.conversations[path] = (session_id, cwd, s.parent)
        corpus.bytes_written += len(text)
        corpus.lines_written += len(s.lines)
        written += len(text)
    return written


def corpus_start(corpus: Corpus) -> datetime:
    return min((r.timestamp for r in corpus.responses), default=datetime.now(UTC))


PROJECTS = [f"/home/dev/{name}" for name in
            ("night-pilot", "api.server", "web_app", "infra", "notes", "data-pipeline")]


def generate(root: Path, *, seed: int = 1, sessions: int = 12,
             target_bytes: int | None = None, start: datetime | None = None, days: int = 6
             ) -> Corpus:
    """Write a corpus under `root/projects` and return its truth.

    `sessions` sessions spread over `days` days from `start` (default: midnight UTC `days`
    days ago), or, with `target_bytes`, as many as it takes to write that much.
    """
    start = start or datetime.combine(date.today() - timedelta(days=days), datetime.min.time(),
                                      UTC)
    gen = _Generator(root, seed, start, days)
    n = 0
    while (gen.corpus.bytes_written < target_bytes) if target_bytes else (n < sessions):
        at = start + timedelta(seconds=gen.rng.randint(0, days * 86400 - 4 * 3600))
        gen.session(gen.rng.choice(PROJECTS), at, gen.rng.randint(1, 6))
        n += 1
    return gen.corpus
