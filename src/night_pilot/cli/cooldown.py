"""`cnp cooldown [--watch]` and `cnp cooldown clear`: the usage limit in force, if any."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import click

from ..shapes import cooldown_dict
from .app import Env, cli, common, echo, pass_env
from .output import emit, fields, local_time, user_zone, when


def _state(env: Env) -> dict[str, Any]:
    now = datetime.now(UTC)
    return cooldown_dict(env.store().cooldowns.active(now), now)


def _countdown(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"


@cli.group(invoke_without_command=True)
@click.option("--watch", is_flag=True, help="Keep a live countdown until the limit resets.")
@common
@pass_env
@click.pass_context
def cooldown(ctx: click.Context, env: Env, watch: bool) -> None:
    """The usage limit in force, when it resets, and which run hit it."""
    if ctx.invoked_subcommand is not None:
        return
    state = _state(env)
    if watch and env.fmt != "json":
        while state["active"]:
            echo(f"\r{state['kind']} limit: resets in {_countdown(state['seconds_left'])} "
                 f"(at {local_time(state['reset_at'], user_zone())})   ", nl=False)
            time.sleep(1)
            state = _state(env)
        echo("\rNo usage limit in force." + " " * 40)
        return

    resume = None if state["active"] else _resuming(env)
    if resume is not None:
        state["hint"] = resume

    def pretty() -> None:
        if not state["active"]:
            echo("No usage limit in force." + (f" {resume}" if resume else ""))
            return
        now = datetime.now(UTC)
        fields([("limit", state["kind"]), ("resets at", when(state["reset_at"], None, now)),
                ("resets in", _countdown(state["seconds_left"])),
                ("detected at", when(state["detected_at"], None, now)),
                ("detected by run", state["source_execution_id"])])

    emit(env.fmt, state, pretty)


def _resuming(env: Env) -> str | None:
    """Between a limit's reset and the end of the margin after it, when Claude runs resume."""
    from datetime import timedelta

    from ..runs import FollowUpPolicy

    now = datetime.now(UTC)
    margin = timedelta(seconds=FollowUpPolicy().cooldown_margin_s)
    recent = env.store().cooldowns.active(now - margin)
    if recent is None:
        return None
    reset, resume = (t.astimezone() for t in (recent["reset_at"], recent["reset_at"] + margin))
    return (f"The {recent['kind']} limit reset at {reset:%H:%M}; runs resume at "
            f"{resume:%H:%M} {resume:%Z} (the daemon's --cooldown-margin, "
            f"{margin.total_seconds():g}s by default).")


@cooldown.command("clear")
@common
@pass_env
def cooldown_clear(env: Env) -> None:
    """Forget the recorded limit: deferred runs become due now."""
    cleared = env.store().cooldowns.clear(datetime.now(UTC))
    emit(env.fmt, {"cleared": cleared},
         lambda: echo(f"Cleared {cleared} usage limit(s); deferred runs are due now."))
