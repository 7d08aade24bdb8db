"""Notifications: what happened (a run failed, a usage limit began or ended, runs were missed,
optionally a run succeeded), written to an outbox and delivered with apprise.

Services call `enqueue` inside the transaction that records the event; the daemon (or a CLI
command that ran something in the foreground) calls `deliver`. A failing notifier is logged and
retried a few times; it never fails or delays a run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from .models import Run, RunStatus
from .store import Store
from .tracing import trace

# Each event, and the type its notification carries for receivers that filter or colour by
# it (apprise's notification types: info, success, warning, failure).
TYPES = {"failure": "failure", "success": "success", "cooldown_start": "warning",
         "cooldown_end": "info", "missed": "warning"}
EVENTS = tuple(TYPES)
DEFAULT_EVENTS = ("failure", "cooldown_start", "cooldown_end", "missed")
MAX_ATTEMPTS = 5

# send(urls, title, body, type) -> None, raising on failure.
Sender = Callable[[list[str], str, str, str], None]


def enqueue(store: Store, event: str, now: datetime, *, job_id: int | None,
            run_id: int | None, title: str, body: str,
            deliver_at: datetime | None = None) -> None:
    """Record an event for delivery (now, or at `deliver_at`), if any target wants it. Joins
    the caller's transaction."""
    if not store.notifications.urls_for(event, job_id):
        return
    store.notifications.enqueue(event=event, job_id=job_id, run_id=run_id,
                               title=title, body=body, now=now, deliver_at=deliver_at)


def run_summary(run: Run, status: RunStatus, reason: str | None) -> tuple[str, str]:
    """A short title and body for a run's notification."""
    name = run.job_name or (f"job {run.job_id}" if run.job_id else "ad-hoc prompt")
    title = f"[cnp] {name}: {status} (run {run.id})"
    lines = [f"Run {run.id} of {name}, attempt {run.attempt}, "
             f"scheduled for {run.scheduled_for:%Y-%m-%d %H:%M:%S} UTC: {status}."]
    if reason:
        lines.append(f"Reason: {reason}")
    return title, "\n".join(lines)


def run_finished(store: Store, run: Run, status: RunStatus, reason: str | None,
                 now: datetime, *, details: str = "") -> None:
    """Enqueue the notification for a run that ended with no further attempt planned."""
    if status == RunStatus.COMPLETED:
        event = "success"
    elif status in (RunStatus.FAILED, RunStatus.INTERRUPTED):
        event = "failure"
    else:
        return
    title, body = run_summary(run, status, reason)
    enqueue(store, event, now, job_id=run.job_id, run_id=run.id, title=title,
            body=body + (f"\n{details}" if details else ""))


def deliver(store: Store, now: datetime, send: Sender | None = None) -> int:
    """Send what is due in the outbox; returns how many were delivered."""
    sender = send or apprise_send
    delivered = 0
    for note in store.notifications.due(now, MAX_ATTEMPTS):
        urls = store.notifications.urls_for(note["event"], note["job_id"])
        error = None
        if urls:
            try:
                sender(urls, note["title"], note["body"], TYPES[note["event"]])
            except Exception as exc:  # any notifier failure is logged, never raised
                error = f"{type(exc).__name__}: {exc}"
        retry_at = now + timedelta(seconds=30 * 2 ** note["attempts"]) if error else None
        store.notifications.record_delivery(note["id"], ok=error is None, error=error, now=now,
                              retry_at=retry_at)
        if error is None:
            delivered += 1
            trace("notify", kind=note["event"], job_id=note["job_id"],
                  run_id=note["execution_id"], targets=len(urls))
        else:
            trace("notify_failed", level=logging.WARNING, kind=note["event"],
                  job_id=note["job_id"], run_id=note["execution_id"], error=error,
                  attempt=note["attempts"] + 1)
    return delivered


def apprise_send(urls: list[str], title: str, body: str, kind: str) -> None:
    # apprise takes a quarter of a second to import: only the delivering thread pays it.
    import apprise

    client = apprise.Apprise()
    for url in urls:
        if not client.add(url):
            raise ValueError(f"apprise does not understand the URL {redact(url)!r}")
    if not client.notify(title=title, body=body, notify_type=apprise.NotifyType(kind)):
        raise RuntimeError(f"delivery to {len(urls)} target(s) failed")


def redact(url: str) -> str:
    """A target URL safe to show: credentials and tokens in the path are masked."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    if "@" in host:
        host = "***@" + host.rsplit("@", 1)[1]
    return f"{scheme}://{host}{slash}{'***' if path else ''}"
