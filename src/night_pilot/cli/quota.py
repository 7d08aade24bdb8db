"""`cnp quota` and `cnp quota plan`: how full the subscription windows are, what the ceilings
do about it, and where the week's scheduled runs would take the seven-day window."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import click

from .app import Env, cli, common, echo, pass_env
from .output import emit, table


def _account(env: Env) -> str | None:
    from ..quota import shown_account

    return shown_account(env.store(), os.environ)


@cli.group(invoke_without_command=True)
@common
@pass_env
@click.pass_context
def quota(ctx: click.Context, env: Env) -> None:
    """The five-hour and seven-day windows: utilization, reset, age, and the ceilings' effect."""
    if ctx.invoked_subcommand is not None:
        return
    from .. import quota as windows

    now = datetime.now(UTC)
    data = windows.report(env.store(), now, _account(env))

    def pretty() -> None:
        echo(f"account: {data['account'] or 'none seen'}")
        for name in windows.WINDOWS:
            w = data["windows"][name]
            label = windows.LABELS[name]
            if w is None:
                echo(f"{label:>9}: unknown")
                continue
            d = data["details"][name]
            resets = datetime.fromisoformat(w["resets_at"]) if w["resets_at"] else None
            seen = datetime.fromisoformat(w["seen_at"])
            percent = "unknown" if d["percent"] is None else f"{d['percent']:g}%"
            stale = "" if d["current"] else " (that window has reset since)"
            echo(f"{label:>9}: {percent}, resets {w['resets_at'] or 'unknown'} "
                 f"({windows.countdown(resets, now)}), seen {windows.age(seen, now)}{stale}")
        ceilings = data["daemon_ceilings"]
        if ceilings is not None:
            shown = ", ".join(f"{windows.LABELS[k]} {v:g}%" for k, v in ceilings.items()
                              if v is not None) or "none"
            echo(f"daemon ceilings: {shown}")
        echo(data["message"])
        for h in data["held"]:
            echo(f"  held: job {h['job_id']} {h['name']}: {windows.LABELS[h['window']]} "
                 f"ceiling {h['ceiling']:g}% ({h['whose']}), until {h['until']}")
        for s in data["spare"]:
            state = "may start now" if s["may_start"] else "waits for its moment"
            echo(f"  spare: job {s['job_id']} {s['name']}: {state} (within "
                 f"{windows.lead_text(s['lead_s'])} of the five-hour reset, "
                 f"below {s['ceiling']:g}%)")

    emit(env.fmt, data, pretty)


@quota.command("plan")
@common
@pass_env
def quota_plan(env: Env) -> None:
    """Pacing: the seven-day utilization the runs scheduled before the weekly reset would
    reach, from what each job's recent runs added, and which runs the ceilings would hold."""
    from .. import quota as windows

    now = datetime.now(UTC)
    data = windows.plan(env.store(), now, _account(env))

    def pretty() -> None:
        echo(data["method"])
        if data["seven_day"] is None:
            echo(data["message"])
            return
        echo(f"seven-day now: {data['seven_day']['percent']:g}%, resets "
             f"{data['seven_day']['resets_at']}")
        rows: list[tuple[Any, ...]] = [
            (j["job_id"], j["name"], j["runs_before_reset"],
             "unknown" if j["per_run_percent"] is None else f"{j['per_run_percent']:g}%",
             j["sampled_runs"],
             "-" if j["first_held_at"] is None else j["first_held_at"])
            for j in data["jobs"]]
        table(["id", "name", "runs", "per run", "sampled", "first held at"], rows)
        echo(f"projected at the reset: {data['projected_percent']:g}%")
        echo(data["message"])

    emit(env.fmt, data, pretty)
