"""The subscription windows: how full the five-hour and seven-day windows of a Claude plan are,
as the CLI's `rate_limit_event` reported them, and what the scheduler does because of it.

A figure is about one window: once that window's reset has passed it says nothing more (the
window started again, empty as far as we know). A job's ceiling (percent of a window) holds
its runs back while the last known utilization is at or above it; a spare-capacity job runs
only in the lead time before the five-hour window resets, while it is below its ceiling.
Every function takes `now`; nothing here reads the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import Store

FIVE_HOUR = "five_hour"
SEVEN_DAY = "seven_day"
WINDOWS = (FIVE_HOUR, SEVEN_DAY)
LABELS = {FIVE_HOUR: "five-hour", SEVEN_DAY: "seven-day"}
# Every reason of a run held back by a ceiling says this (the dashboard marks such runs).
CEILING_MARK = "quota ceiling"
# A spare-capacity job may start this long before the five-hour reset unless it says.
DEFAULT_SPARE_WINDOW = timedelta(minutes=45)
# The ceiling of a spare-capacity job without one of its own or the daemon's: any headroom.
SPARE_DEFAULT_CEILING = 100.0


@dataclass(frozen=True)
class Window:
    """The last known figures of one window."""

    name: str
    utilization: float | None  # 0-1
    resets_at: datetime | None
    seen_at: datetime
    status: str | None = None

    def current(self, now: datetime) -> bool:
        """Whether the figure is still about the window in force (its reset is ahead)."""
        return self.resets_at is None or self.resets_at > now

    def percent(self) -> str:
        return "unknown" if self.utilization is None else f"{self.utilization * 100:.0f}%"

    def to_dict(self) -> dict[str, Any]:
        return {"utilization": self.utilization, "resets_at": _iso(self.resets_at),
                "seen_at": _iso(self.seen_at)}


def windows_of(reported: Mapping[str, Mapping[str, float | None]], seen_at: datetime,
               status: str | None = None) -> list[Window]:
    """The windows a run's stream reported (`StreamSummary.rate_limit_windows`), known ones
    first, as seen at `seen_at`."""
    found = []
    for name in sorted(reported, key=lambda n: (n not in WINDOWS, n)):
        figures = reported[name]
        resets = figures.get("resets_at")
        found.append(Window(
            name, figures.get("utilization"),
            datetime.fromtimestamp(resets, UTC) if resets is not None else None,
            seen_at, status))
    return found


def account_of(env: Mapping[str, str]) -> str:
    """The account a process with this environment runs Claude as: its credential source
    (`health.credential_source`: an environment variable's name, or the login's file), never
    the credential itself."""
    from .health import credential_source

    home = Path(env.get("CLAUDE_CONFIG_DIR") or Path(env.get("HOME", "~")) / ".claude")
    return credential_source(env, home.expanduser()) or "unknown"


def shown_account(store: Store, env: Mapping[str, str]) -> str | None:
    """The account a report shows: this environment's if runs have reported its windows, else
    None (the account seen last: the daemon's environment may differ from the reader's)."""
    mine = account_of(env)
    return mine if any(a == mine for a, _ in store.quota.accounts()) else None


@dataclass(frozen=True)
class Ceilings:
    """Percent of each window at which runs are held back (None: no ceiling)."""

    five_hour: float | None = None
    seven_day: float | None = None
    own: frozenset[str] = frozenset()  # the windows whose ceiling is the job's own

    def over(self, job_five: float | None, job_seven: float | None) -> Ceilings:
        """A job's own ceilings, else these defaults."""
        own = frozenset(n for n, v in ((FIVE_HOUR, job_five), (SEVEN_DAY, job_seven))
                        if v is not None)
        return Ceilings(job_five if job_five is not None else self.five_hour,
                        job_seven if job_seven is not None else self.seven_day, own)

    def whose(self, window: str) -> str:
        return "job's" if window in self.own else "daemon's"

    def of(self, window: str) -> float | None:
        return self.five_hour if window == FIVE_HOUR else self.seven_day


@dataclass(frozen=True)
class Hold:
    """A run held back by a ceiling: the window over it, and until when."""

    window: Window
    ceiling: float
    until: datetime
    reason: str


def hold(windows: Mapping[str, Window], ceilings: Ceilings, now: datetime, *,
         margin: timedelta = timedelta(0)) -> Hold | None:
    """Whether a run under these ceilings may start now: None, or the hold until the later
    reset (plus `margin`, as after a usage limit) of the windows at or above their ceiling."""
    found: Hold | None = None
    for name in WINDOWS:
        ceiling = ceilings.of(name)
        window = windows.get(name)
        if ceiling is None or window is None or window.utilization is None:
            continue
        if window.resets_at is None or not window.current(now):
            continue
        if window.utilization * 100 < ceiling - 1e-9:
            continue
        until = window.resets_at + margin
        if found is None or until > found.until:
            found = Hold(window, ceiling, until, (
                f"deferred: the {LABELS[name]} window is at {window.percent()}, at or above "
                f"the {ceilings.whose(name)} {LABELS[name]} {CEILING_MARK} of {ceiling:g}%, "
                f"until it resets at {window.resets_at:%Y-%m-%d %H:%M:%S} UTC"))
    return found


def spare_opening(windows: Mapping[str, Window], ceiling: float, lead: timedelta,
                  now: datetime) -> Window | None:
    """The five-hour window, if a spare-capacity job may start now: it resets within `lead`
    and its utilization is below `ceiling` (capacity that would expire unused)."""
    window = windows.get(FIVE_HOUR)
    if window is None or window.utilization is None or window.resets_at is None:
        return None
    if not now < window.resets_at <= now + lead:
        return None
    if window.utilization * 100 >= ceiling - 1e-9:
        return None
    return window


def basis(window: Window, ceiling: float, now: datetime) -> dict[str, Any]:
    """What a spare-capacity run records about the window that let it start."""
    assert window.resets_at is not None
    return {"window": window.name, "utilization": window.utilization,
            "resets_at": _iso(window.resets_at), "seen_at": _iso(window.seen_at),
            "ceiling": ceiling, "decided_at": _iso(now)}


def parse_percent(text: str | float | None, option: str) -> float | None:
    """A ceiling as given (`80`, `80%`, `0.8` is read as 0.8 %): a percent from 0 to 100."""
    from .errors import InvalidInput

    if text is None or text == "":
        return None
    raw = str(text).strip().rstrip("%").strip()
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{option} must be a percentage such as 80 or 80%, not {text!r}"
                           ) from None
    if not 0 <= value <= 100:
        raise InvalidInput(f"{option} must be between 0 and 100 (percent), not {text!r}")
    return value


def age(seen_at: datetime, now: datetime) -> str:
    """How old a figure is, in words."""
    seconds = max(0, int((now - seen_at).total_seconds()))
    if seconds < 90:
        return f"{seconds}s ago"
    if seconds < 5400:
        return f"{seconds // 60}m ago"
    if seconds < 172800:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def lead_text(seconds: int) -> str:
    """A spare-capacity job's lead time as given: minutes when whole, else seconds."""
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m" if rest == 0 else f"{seconds}s"


def countdown(until: datetime | None, now: datetime) -> str:
    """How long until `until`, in words ("passed" once it has)."""
    if until is None:
        return "unknown"
    seconds = int((until - now).total_seconds())
    if seconds <= 0:
        return "passed"
    hours, rest = divmod(seconds, 3600)
    days, hours = divmod(hours, 24)
    if days:
        return f"in {days}d {hours}h"
    if hours:
        return f"in {hours}h {rest // 60:02d}m"
    return f"in {rest // 60}m {rest % 60:02d}s"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


UNKNOWN_MESSAGE = (
    "the subscription windows are unknown: no run has reported them for this account yet "
    "(runs on an API key, Bedrock or Vertex never do); no ceiling holds any run back")


def report(store: Store, now: datetime, account: str | None) -> dict[str, Any]:
    """What `cnp quota`, `/api/quota` and the overview show: each window's last known figures
    for `account` (None: the account seen last), how old they are, and what the scheduler does
    because of them (the runs each enabled job's ceilings hold back, the spare-capacity jobs
    that may start)."""
    windows = store.quota.latest(account)
    known = [a for a, _ in store.quota.accounts()]
    if account is None and known:
        account = known[0]
    daemon = store.quota.daemon_ceilings()
    defaults = daemon or Ceilings()
    shown: dict[str, Any] = {}
    details: dict[str, Any] = {}
    for name in WINDOWS:
        w = windows.get(name)
        shown[name] = w.to_dict() if w is not None else None
        details[name] = None if w is None else {
            "percent": None if w.utilization is None else round(w.utilization * 100, 1),
            "age_s": max(0, int((now - w.seen_at).total_seconds())),
            "current": w.current(now),
            "resets_in_s": None if w.resets_at is None
            else max(0, int((w.resets_at - now).total_seconds())),
            "status": w.status,
        }
    current = [w for w in windows.values() if w.utilization is not None and w.current(now)]
    held: list[dict[str, Any]] = []
    # Every job is read only when a figure could hold one back (the overview shows this).
    for job in store.jobs.all() if current else []:
        if not job.enabled or str(job.executor) != "claude":
            continue
        ceilings = defaults.over(job.quota_ceiling, job.weekly_ceiling)
        why = hold(windows, ceilings, now)
        if why is not None:
            held.append({"job_id": job.id, "name": job.name, "window": why.window.name,
                         "ceiling": why.ceiling, "whose": ceilings.whose(why.window.name),
                         "until": _iso(why.window.resets_at), "reason": why.reason})
    spare: list[dict[str, Any]] = []
    spare_jobs = store.quota.spare_jobs()
    names = dict(store.jobs.names()) if spare_jobs else {}
    for job_id, lead_s, own in spare_jobs:
        ceiling = own if own is not None else (
            defaults.five_hour if defaults.five_hour is not None else SPARE_DEFAULT_CEILING)
        opening = spare_opening(windows, ceiling, timedelta(seconds=lead_s), now)
        spare.append({"job_id": job_id, "name": names.get(job_id), "ceiling": ceiling,
                      "lead_s": lead_s, "may_start": opening is not None})
    if not windows:
        message = UNKNOWN_MESSAGE
    elif not current:
        message = ("the last known figures are about windows that have reset since; no "
                   "ceiling holds any run back until a run reports the new ones")
    elif held:
        message = f"{len(held)} job(s) held back by a quota ceiling until their window resets"
    else:
        message = "below every ceiling: runs start as scheduled"
    return {
        "account": account,
        "known": bool(windows),
        "windows": shown,
        "details": details,
        "daemon_ceilings": None if daemon is None else {
            FIVE_HOUR: daemon.five_hour, SEVEN_DAY: daemon.seven_day},
        "held": held,
        "spare": spare,
        "message": message,
        "accounts": known,
    }


PLAN_METHOD = (
    "How this is computed: each run records the seven-day utilization its stream last "
    "reported. A run's share is that figure minus the one recorded by the run that finished "
    "before it in the same window (never below zero; other use of the account in between "
    "counts too). A job's share per run is the mean over its last {n} runs with a share. Its "
    "fire times before the weekly reset are taken in time order from the figure known now; "
    "a run is counted as held back (not adding its share) once the projection is at or above "
    "its seven-day ceiling. Jobs with no measured run add nothing and are listed as unknown.")
PLAN_SAMPLE = 5
PLAN_MAX_FIRES = 1000  # fire times per job looked at before the reset


def plan(store: Store, now: datetime, account: str | None) -> dict[str, Any]:
    """Pacing across the week (`cnp quota plan`): see PLAN_METHOD."""
    from .catalog import schedule_of

    method = PLAN_METHOD.format(n=PLAN_SAMPLE)
    week = store.quota.latest(account).get(SEVEN_DAY)
    if week is None or week.utilization is None or week.resets_at is None \
            or not week.current(now):
        return {"method": method, "seven_day": None, "jobs": [], "held": [],
                "projected_percent": None,
                "message": "the seven-day window is unknown (or has reset since it was last "
                           "reported): nothing to project"}
    shares: dict[int, list[float]] = {}
    costs: dict[int, list[float]] = {}
    previous: dict[str, Any] | None = None
    for r in store.quota.run_figures():
        if previous is not None and r["job_id"] is not None \
                and previous["quota_7d_resets_at"] == r["quota_7d_resets_at"]:
            shares.setdefault(r["job_id"], []).append(
                max(0.0, r["quota_7d_utilization"] - previous["quota_7d_utilization"]))
            if r["total_cost_usd"] is not None:
                costs.setdefault(r["job_id"], []).append(float(r["total_cost_usd"]))
        previous = r
    defaults = store.quota.daemon_ceilings() or Ceilings()
    fires: list[tuple[datetime, int]] = []
    jobs: dict[int, dict[str, Any]] = {}
    for job in store.jobs.all():
        if not job.enabled or str(job.executor) != "claude" or job.id is None:
            continue
        times = [t for t in schedule_of(job).next_times(now, PLAN_MAX_FIRES)
                 if t < week.resets_at]
        sample = shares.get(job.id, [])[-PLAN_SAMPLE:]
        spent = costs.get(job.id, [])[-PLAN_SAMPLE:]
        per_run = sum(sample) / len(sample) if sample else None
        jobs[job.id] = {
            "job_id": job.id, "name": job.name, "runs_before_reset": len(times),
            "per_run_percent": None if per_run is None else round(per_run * 100, 2),
            "per_run_cost_usd": round(sum(spent) / len(spent), 4) if spent else None,
            "sampled_runs": len(sample),
            "weekly_ceiling": defaults.over(job.quota_ceiling, job.weekly_ceiling).seven_day,
            "held_runs": 0, "first_held_at": None, "_share": per_run or 0.0,
        }
        fires += [(t, job.id) for t in times]
    projected = week.utilization
    held: list[dict[str, Any]] = []
    for at, job_id in sorted(fires):
        j = jobs[job_id]
        ceiling = j["weekly_ceiling"]
        if ceiling is not None and projected * 100 >= ceiling - 1e-9:
            j["held_runs"] += 1
            if j["first_held_at"] is None:
                j["first_held_at"] = _iso(at)
                held.append({"job_id": job_id, "name": j["name"], "from": _iso(at),
                             "ceiling": ceiling})
            continue
        projected += j["_share"]
    listed = []
    for j in jobs.values():
        j.pop("_share")
        listed.append(j)
    message = (f"{len(held)} job(s) would be held back by their seven-day ceiling before the "
               "reset" if held else "no run scheduled before the reset would be held back")
    return {
        "method": method,
        "seven_day": {"percent": round(week.utilization * 100, 1),
                      **week.to_dict()},
        "jobs": listed, "held": held,
        "projected_percent": round(projected * 100, 1),
        "message": message,
    }
