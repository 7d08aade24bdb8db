"""The usage reports: tokens and cost per local day or month, per session, per 5-hour block
and per job, each with its totals. Reports read the ledger through the store; no prices.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import InvalidInput

if TYPE_CHECKING:
    from ..store import Store

BLOCK_HOURS = 5
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def parse_day(text: str) -> date:
    """`--since` / `--until`: YYYY-MM-DD or YYYYMMDD."""
    raw = text.strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise InvalidInput(f"{text!r} is not a date", hint="use YYYY-MM-DD or YYYYMMDD")


def zone(name: str | None) -> tzinfo | None:
    """The zone reports group days in: a named IANA zone, or None for the system's local
    time (what ccusage does by default, so that both tools draw the same day lines)."""
    if name is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {name!r}",
                           hint="use an IANA name such as Europe/Berlin or UTC") from exc


def zone_label(tz: tzinfo | None) -> str:
    if tz is not None:
        return str(tz)
    return os.environ.get("TZ") or datetime.now().astimezone().tzname() or "local"


def _local(instant: datetime, tz: tzinfo | None) -> datetime:
    return instant.astimezone(tz) if tz is not None else instant.astimezone()


def day_range(since: date | None, until: date | None, tz: tzinfo | None
              ) -> tuple[datetime, datetime]:
    """[since 00:00, until+1 00:00) in the report's zone, as UTC instants."""
    def midnight(d: date) -> datetime:
        naive = datetime.combine(d, time())
        local = naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()
        return local.astimezone(UTC)

    start = midnight(since) if since else _EPOCH
    end = midnight(until + timedelta(days=1)) if until else _FAR_FUTURE
    return start, end


class Row(Protocol):
    """A result row by column name (sqlite3.Row, or a dict)."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass
class Tally:
    """Tokens and cost of a group of responses (or runs)."""

    entries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    known_cost_usd: float = 0.0
    unknown_cost_entries: int = 0
    models: set[str] = field(default_factory=set)

    def add_row(self, row: Row) -> None:
        self.entries += int(row["entries"])
        self.input_tokens += int(row["input_tokens"])
        self.output_tokens += int(row["output_tokens"])
        self.cache_creation_tokens += int(row["cache_creation_tokens"])
        self.cache_read_tokens += int(row["cache_read_tokens"])
        self.known_cost_usd += float(row["known_cost_usd"])
        self.unknown_cost_entries += int(row["unknown_cost_entries"])
        if row["model"]:
            self.models.add(str(row["model"]))

    def add(self, other: Tally) -> None:
        self.entries += other.entries
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_creation_tokens += other.cache_creation_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.known_cost_usd += other.known_cost_usd
        self.unknown_cost_entries += other.unknown_cost_entries
        self.models |= other.models

    @property
    def total_tokens(self) -> int:
        return (self.input_tokens + self.output_tokens + self.cache_creation_tokens
                + self.cache_read_tokens)

    @property
    def cost_usd(self) -> float | None:
        """The cost, or None when some response's model has no price (never a silent 0)."""
        return None if self.unknown_cost_entries else round(self.known_cost_usd, 6)

    def to_dict(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_tokens": self.cache_creation_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": self.cost_usd,
            "known_cost_usd": round(self.known_cost_usd, 6),
            "unknown_cost_entries": self.unknown_cost_entries,
            "models": sorted(self.models),
        }


def _envelope(kind: str, tz: tzinfo | None, since: date | None, until: date | None,
              groups: list[dict[str, Any]], totals: Tally) -> dict[str, Any]:
    return {
        "report": kind,
        "timezone": zone_label(tz),
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "groups": groups,
        "totals": totals.to_dict(),
    }


def _day_of_quarter(tz: tzinfo | None) -> Callable[[str], str]:
    """Maps a UTC quarter ('YYYY-MM-DDTHH:MM') to its local date. Quarters are many and
    hours fewer: an hour whose UTC offset is the same at both ends is converted once, and
    its quarters share its date unless a local midnight falls inside it (offsets with
    minutes)."""
    hours: dict[str, tuple[str, bool, datetime]] = {}

    def day_of(quarter: str) -> str:
        hour = quarter[:13]
        known = hours.get(hour)
        if known is None:
            start = datetime.fromisoformat(hour + ":00").replace(tzinfo=UTC)
            first = _local(start, tz)
            last = _local(start + timedelta(minutes=59), tz)
            whole = first.utcoffset() == last.utcoffset() and (
                first.minute == 0 or first.hour != 23)
            known = hours[hour] = (first.date().isoformat(), whole, first)
        day, whole, first = known
        if whole:
            return day
        instant = datetime.fromisoformat(quarter).replace(tzinfo=UTC)
        return _local(instant, tz).date().isoformat()

    return day_of


def daily_report(store: Store, *, since: date | None = None, until: date | None = None,
                 tz: tzinfo | None = None, monthly: bool = False) -> dict[str, Any]:
    """Tokens and cost per local day (or month), oldest first."""
    start, end = day_range(since, until, tz)
    day_of = _day_of_quarter(tz)
    sums: dict[str, list[Any]] = {}
    models: dict[str, set[str]] = {}
    for quarter, model, n, inp, out, cc, cr, cost, unknown in store.usage.by_quarter_hour(
            start, end):
        day = day_of(quarter)
        key = day[:7] if monthly else day
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = [0, 0, 0, 0, 0, 0.0, 0]
            models[key] = set()
        acc[0] += n
        acc[1] += inp
        acc[2] += out
        acc[3] += cc
        acc[4] += cr
        acc[5] += cost
        acc[6] += unknown
        if model:
            models[key].add(model)
    totals = Tally()
    out_groups = []
    name = "month" if monthly else "date"
    for key in sorted(sums):
        n, inp, out, cc, cr, cost, unknown = sums[key]
        tally = Tally(n, inp, out, cc, cr, cost, unknown, models[key])
        totals.add(tally)
        out_groups.append({name: key, **tally.to_dict()})
    return _envelope("monthly" if monthly else "daily", tz, since, until, out_groups, totals)


def session_report(store: Store, *, since: date | None = None, until: date | None = None,
                   tz: tzinfo | None = None) -> dict[str, Any]:
    """Tokens and cost per Claude Code session, most recently active last."""
    start, end = day_range(since, until, tz)
    groups: dict[str, tuple[Tally, dict[str, Any]]] = {}
    for row in store.usage.by_session(start, end):
        tally, info = groups.setdefault(
            row["session_id"], (Tally(), {"project": None, "first_at": None, "last_at": None}))
        tally.add_row(row)
        info["project"] = info["project"] or row["project"]
        info["first_at"] = min(filter(None, (info["first_at"], row["first_at"])))
        info["last_at"] = max(filter(None, (info["last_at"], row["last_at"])))
    totals = Tally()
    out = []
    for sid, (tally, info) in sorted(groups.items(), key=lambda kv: kv[1][1]["last_at"]):
        totals.add(tally)
        out.append({"session_id": sid or None, "project": info["project"],
                    "first_at": _iso(info["first_at"]), "last_at": _iso(info["last_at"]),
                    **tally.to_dict()})
    return _envelope("session", tz, since, until, out, totals)


def _iso(db_text: str | None) -> str | None:
    return datetime.fromisoformat(db_text).isoformat() if db_text else None


def block_report(store: Store, *, now: datetime, since: date | None = None,
                 until: date | None = None, tz: tzinfo | None = None) -> dict[str, Any]:
    """5-hour billing blocks: a block starts at the UTC hour of its first response and lasts
    five hours; a response at or after its end starts the next block (so a gap of five hours
    or more always does). The block holding `now`, with activity in the last five hours, is
    marked active (one at most, even if transcripts hold times ahead of the clock)."""
    start, end = day_range(since, until, tz)
    span = timedelta(hours=BLOCK_HOURS)
    blocks: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for row in store.usage.timeline(start, end):
        at = datetime.fromisoformat(row["timestamp"])
        if current is None or at >= current["end"]:
            floor = at.replace(minute=0, second=0, microsecond=0)
            current = {"start": floor, "end": floor + span, "tally": Tally(), "first": at}
            blocks.append(current)
        current["last"] = at
        cost = row["cost_usd"]
        current["tally"].add_row({
            "entries": 1, "input_tokens": row["input_tokens"],
            "output_tokens": row["output_tokens"],
            "cache_creation_tokens": row["cache_creation_tokens"],
            "cache_read_tokens": row["cache_read_tokens"],
            "known_cost_usd": cost or 0.0, "unknown_cost_entries": 0 if cost is not None else 1,
            "model": row["model"],
        })
    totals = Tally()
    out = []
    for b in blocks:
        totals.add(b["tally"])
        active = b["start"] <= now < b["end"] and now - b["last"] < span
        out.append({"start": b["start"].isoformat(), "end": b["end"].isoformat(),
                    "first_at": b["first"].isoformat(), "last_at": b["last"].isoformat(),
                    "active": active,
                    "remaining_minutes": int((b["end"] - now).total_seconds() // 60)
                    if active else None,
                    **b["tally"].to_dict()})
    return _envelope("blocks", tz, since, until, out, totals)


def job_report(store: Store, *, since: date | None = None, until: date | None = None,
               tz: tzinfo | None = None) -> dict[str, Any]:
    """Per job, the tokens and cost of its Claude runs as their result events reported them
    (`job_id` null: ad-hoc `cnp execute` runs). Runs that ended without a result event
    (killed, failed to start) count as runs with unknown cost."""
    start, end = day_range(since, until, tz)
    totals = Tally()
    out = []
    for row in store.usage.by_job(start, end):
        tally = Tally(
            entries=int(row["runs"]), input_tokens=int(row["input_tokens"]),
            output_tokens=int(row["output_tokens"]),
            cache_creation_tokens=int(row["cache_creation_tokens"]),
            cache_read_tokens=int(row["cache_read_tokens"]),
            known_cost_usd=float(row["cost_usd"]),
            unknown_cost_entries=int(row["runs"]) - int(row["runs_with_result"]),
        )
        totals.add(tally)
        data = tally.to_dict()
        data.pop("models")
        data["runs"] = data.pop("entries")
        data["runs_without_result"] = data.pop("unknown_cost_entries")
        out.append({"job_id": row["job_id"],
                    "job_name": row["job_name"] if row["job_id"] is not None
                    else "(ad-hoc runs)",
                    "first_run_at": _iso(row["first_at"]), "last_run_at": _iso(row["last_at"]),
                    **data})
    envelope = _envelope("jobs", tz, since, until, out, totals)
    envelope["totals"]["runs"] = envelope["totals"].pop("entries")
    envelope["totals"]["runs_without_result"] = envelope["totals"].pop("unknown_cost_entries")
    envelope["totals"].pop("models")
    return envelope
