"""`cnp notify …`: where notifications go (apprise URLs, global or per job), and a test send."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from ..errors import InvalidInput
from .app import Env, cli, common, echo, pass_env
from .output import emit, table


@cli.group()
def notify() -> None:
    """Notifications on failure, usage limits, missed runs (and success, if asked)."""


def _events(text: str) -> list[str]:
    from ..notify import EVENTS

    wanted = []
    for raw in text.split(","):
        name = raw.strip()
        name = {"cooldown": "cooldown_start,cooldown_end"}.get(name, name)
        for part in name.split(","):
            if part not in EVENTS:
                raise InvalidInput(f"unknown event {part!r}; choose from {', '.join(EVENTS)}"
                                   " (or 'cooldown' for both cooldown events)")
            if part not in wanted:
                wanted.append(part)
    return wanted


@notify.command("add")
@click.argument("url", help="An apprise URL, e.g. json://host/hook or mailto://…")
@click.option("--job", "job_id", type=int, help="Only for this job (default: every job).")
@click.option("--on", "events", default="failure,cooldown,missed", show_default=True,
              help="Events: failure, success, cooldown (start and end), missed.")
@common
@pass_env
def notify_add(env: Env, url: str, job_id: int | None, events: str) -> None:
    """Send notifications to an apprise URL (e.g. json://host/path, mailto://, ntfy://)."""
    from ..notify import redact

    if "://" not in url:
        raise InvalidInput(f"{url!r} is not an apprise URL (scheme://…)")
    wanted = _events(events)
    target_id = env.store().notifications.add_target(url, wanted, job_id, datetime.now(UTC))
    emit(env.fmt, {"id": target_id, "url": redact(url), "job_id": job_id, "events": wanted},
         lambda: echo(f"Added notification target {target_id} ({', '.join(wanted)})"))


@notify.command("list")
@common
@pass_env
def notify_list(env: Env) -> None:
    """List notification targets (URLs shown with secrets masked)."""
    from ..notify import redact

    targets = [{**t, "url": redact(t["url"])} for t in env.store().notifications.targets()]
    emit(env.fmt, {"targets": targets}, lambda: table(
        ["id", "job", "events", "url"],
        [(t["id"], t["job_id"] or "all", t["events"], t["url"]) for t in targets]))


@notify.command("remove")
@click.argument("target_id", type=int, help="The target's id (see `cnp notify list`).")
@common
@pass_env
def notify_remove(env: Env, target_id: int) -> None:
    """Stop sending to a target."""
    env.store().notifications.remove_target(target_id)
    emit(env.fmt, {"id": target_id, "removed": True},
         lambda: echo(f"Removed notification target {target_id}"))


@notify.command("test")
@click.argument("url", required=False,
              help="An apprise URL to test (default: every configured target).")
@common
@pass_env
def notify_test(env: Env, url: str | None) -> None:
    """Send a test message to URL, or to every configured target."""
    from ..notify import apprise_send, redact

    urls = [url] if url else list(dict.fromkeys(
        t["url"] for t in env.store().notifications.targets()))
    if not urls:
        raise InvalidInput("no notification targets: give a URL or `cnp notify add` one first")
    apprise_send(urls, "[cnp] test notification", "Claude Night Pilot can reach you.",
                 "info")
    emit(env.fmt, {"sent": [redact(u) for u in urls]},
         lambda: echo(f"Sent a test message to {len(urls)} target(s)"))
