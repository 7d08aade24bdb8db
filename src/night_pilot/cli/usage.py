"""`cnp usage [daily|monthly|session|blocks|jobs]` and `cnp usage import`: the usage ledger.

Parses options and renders reports (table, one JSON document, or CSV); the work is in the
`usage` service, imported only when a command runs so the CLI starts fast.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import click

from .app import Env, cli, common, echo, pass_env

REPORTS = ("daily", "monthly", "session", "blocks", "jobs")


def _day(text: str) -> date:
    from ..errors import InvalidInput
    from ..usage import parse_day

    try:
        return parse_day(text)
    except InvalidInput as exc:
        raise click.BadParameter(f"{exc.message} (use YYYY-MM-DD or YYYYMMDD)") from exc


def report_options(fn: Callable[..., None]) -> Callable[..., None]:
    """--since/--until/--tz and the shared --db/--format (with csv) of every report. Given to
    the group (`cnp usage --since X daily`) they apply unless repeated after the report's name.
    """
    fn = click.option("--no-import", "no_import", is_flag=True, default=None,
                      help="Report the ledger as it is, without first reading what is new in "
                      "Claude Code's transcripts.")(fn)
    fn = common(formats=("pretty", "json", "csv"), logging=False,
                format_help="A table (default), one JSON document, or CSV (a header row, "
                "then one row per group).")(fn)
    fn = click.option("--tz", default=None, metavar="ZONE",
                      help="Group days in this IANA zone (default: the system's local time, "
                      "as ccusage does).")(fn)
    fn = click.option("--until", type=_day, default=None, metavar="DATE",
                      help="Last day to include (YYYY-MM-DD or YYYYMMDD).")(fn)
    fn = click.option("--since", type=_day, default=None, metavar="DATE",
                      help="First day to include (YYYY-MM-DD or YYYYMMDD).")(fn)
    return fn


@cli.group(invoke_without_command=True)
@report_options
@pass_env
@click.pass_context
def usage(ctx: click.Context, env: Env, since: date | None, until: date | None,
          tz: str | None, no_import: bool | None) -> None:
    """Tokens and cost per day (default), month, session, 5-hour block or job.

    Transcript reports read the usage ledger, after reading what is new in Claude Code's
    transcripts into it (as `cnp usage import` does; --no-import skips that); `jobs` reads
    what each run's result reported.
    """
    if ctx.invoked_subcommand is None:
        _report(env, "daily", since, until, tz, no_import=bool(no_import))


def _import_new(env: Env) -> tuple[list[str], int]:
    """Read what is new in the default transcript directories into the ledger: the
    directories looked in, and how many entries the ledger then holds. Problems reading a
    file go to stderr; the report goes on."""
    from datetime import UTC, datetime

    from .. import usage as service

    store = env.store()
    roots = service.default_roots()
    report = service.import_transcripts(store, roots, datetime.now(UTC)).to_dict()
    if env.fmt == "pretty":
        for err in report["errors"]:
            echo(f"Could not read {err['path']}: {err['error']}", err=True)
    return [str(r) for r in roots], int(report["entries_total"])


def _report(env: Env, kind: str, since: date | None, until: date | None,
            tz_name: str | None, *, no_import: bool = False) -> None:
    from datetime import UTC, datetime

    from .. import usage as service

    if since and until and since > until:
        raise click.UsageError(f"--since {since} is after --until {until}")
    from ..errors import InvalidInput

    try:
        tz = service.zone(tz_name)
    except InvalidInput as exc:
        raise click.BadParameter(exc.message, param_hint="--tz") from exc
    store = env.store()
    looked: list[str] | None = None
    if kind != "jobs" and not no_import:
        looked, held = _import_new(env)
    else:
        held = store.usage.counts()["entries"]
    empty = None
    if kind != "jobs" and held == 0:
        empty = ("The usage ledger is empty: " + (
            f"no Claude Code transcripts with usage in {', '.join(looked)}" if looked else
            "no Claude Code transcript directory found ($CLAUDE_CONFIG_DIR, "
            "~/.config/claude/projects, ~/.claude/projects)" if looked is not None else
            "run `cnp usage` without --no-import, or `cnp usage import --path DIR`"))
    if kind == "blocks":
        data = service.block_report(store, now=datetime.now(UTC), since=since, until=until,
                                    tz=tz)
    elif kind == "session":
        data = service.session_report(store, since=since, until=until, tz=tz)
    elif kind == "jobs":
        data = service.job_report(store, since=since, until=until, tz=tz)
    else:
        data = service.daily_report(store, since=since, until=until, tz=tz,
                                    monthly=kind == "monthly")
    if empty is not None:
        data["hint"] = empty
    if env.fmt == "csv":
        _csv(kind, data)
    elif env.fmt == "json":
        from .output import emit

        emit("json", data)
    else:
        _pretty(kind, data, tz)
        if empty is not None:
            echo(empty)


def _make_report_command(kind: str, doc: str) -> None:
    @usage.command(kind, help=doc)
    @report_options
    @pass_env
    @click.pass_context
    def command(ctx: click.Context, env: Env, since: date | None, until: date | None,
                tz: str | None, no_import: bool | None) -> None:
        group = ctx.parent.params if ctx.parent is not None else {}
        _report(env, kind, since or group.get("since"), until or group.get("until"),
                tz or group.get("tz"), no_import=bool(no_import or group.get("no_import")))


_make_report_command("daily", "Tokens and cost per day, in local time unless --tz.")
_make_report_command("monthly", "Tokens and cost per month, in local time unless --tz.")
_make_report_command("session", "Tokens and cost per Claude Code session.")
_make_report_command(
    "blocks", "5-hour billing blocks: start, end, tokens and cost; the active one is marked.")
_make_report_command(
    "jobs", "Tokens and cost per job from each run's result (ad-hoc runs together).")


@usage.command("import")
@click.option("--path", "paths", multiple=True, metavar="DIR",
              type=click.Path(exists=True, file_okay=False),
              help="Read transcripts here (a Claude config dir or any directory of .jsonl "
              "files; repeatable). Default: $CLAUDE_CONFIG_DIR, else ~/.config/claude and "
              "~/.claude.")
@click.option("--rebuild", is_flag=True,
              help="Forget the ledger and every file position, then read everything again.")
@common
@pass_env
def usage_import(env: Env, paths: tuple[str, ...], rebuild: bool) -> None:
    """Read what is new in Claude Code's transcripts into the usage ledger."""
    from datetime import UTC, datetime
    from pathlib import Path

    from .. import usage as service
    from .output import emit

    roots = (service.roots_for_paths(Path(p) for p in paths) if paths
             else service.default_roots())
    store = env.store()
    if rebuild:
        store.usage.clear_ledger()
    report = service.import_transcripts(store, roots, datetime.now(UTC))
    data = report.to_dict()

    def pretty() -> None:
        if not roots:
            echo("No Claude transcript directory found (looked for $CLAUDE_CONFIG_DIR, "
                 "~/.config/claude/projects and ~/.claude/projects).")
            return
        echo(f"Read {data['files_read']} of {data['files_seen']} transcript files "
             f"({data['files_new']} new, {data['files_appended']} appended to, "
             f"{data['files_reread']} re-read from the start), "
             f"{_size(data['bytes_read'])}.")
        echo(f"{data['entries_read']:,} usage rows read; {data['entries_added']:,} new API "
             f"responses in the ledger ({data['entries_total']:,} in all).")
        if data["malformed_lines"]:
            echo(f"{data['malformed_lines']:,} malformed or truncated line(s) skipped:")
            for f in data["malformed_by_file"]:
                echo(f"  {f['malformed_lines']:>6,}  {f['path']}")
        if data["pending_bytes"]:
            echo(f"{_size(data['pending_bytes'])} in unfinished last lines, read once "
                 "they are complete.")
        for err in data["errors"]:
            echo(f"Could not read {err['path']}: {err['error']}", err=True)

    emit(env.fmt, data, pretty)


# -- rendering ---------------------------------------------------------------------------------

_KEY = {"daily": "date", "monthly": "month", "session": "session_id", "blocks": "start",
        "jobs": "job_name"}
_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
                 "total_tokens")


def _csv_columns(kind: str) -> list[str]:
    lead = {
        "daily": ["date"], "monthly": ["month"],
        "session": ["session_id", "project", "first_at", "last_at"],
        "blocks": ["start", "end", "first_at", "last_at", "active"],
        "jobs": ["job_id", "job_name", "runs", "runs_without_result", "first_run_at",
                 "last_run_at"],
    }[kind]
    tail = ["cost_usd", "known_cost_usd"]
    if kind != "jobs":
        tail += ["unknown_cost_entries", "entries", "models"]
    return [*lead, *_TOKEN_FIELDS, *tail]


def _csv(kind: str, data: dict[str, Any]) -> None:
    import csv
    import io

    columns = _csv_columns(kind)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(columns)
    for group in data["groups"]:
        row = []
        for col in columns:
            value = group.get(col)
            if col == "models":
                value = ";".join(value or [])
            elif value is None:
                value = ""  # an unknown cost is an empty cell, never 0
            elif isinstance(value, bool):
                value = "true" if value else "false"
            row.append(value)
        out.writerow(row)
    echo(buffer.getvalue(), nl=False)


def _money(group: dict[str, Any]) -> str:
    """"$1.23"; "?" when no cost is known; "$1.23+?" when part of it is unknown."""
    unknown = group.get("unknown_cost_entries", group.get("runs_without_result", 0))
    counted = group.get("entries", group.get("runs", 0))
    known = group["known_cost_usd"]
    if not unknown:
        return f"${known:,.2f}"
    if unknown >= counted:
        return "?"
    return f"${known:,.2f}+?"


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _pretty(kind: str, data: dict[str, Any], tz: Any) -> None:
    from .output import table

    def when(iso: str | None) -> str:
        if iso is None:
            return "-"
        from datetime import datetime

        at = datetime.fromisoformat(iso)
        return (at.astimezone(tz) if tz is not None else at.astimezone()).strftime(
            "%Y-%m-%d %H:%M")

    def tokens(g: dict[str, Any]) -> list[str]:
        return [f"{g[f]:,}" for f in _TOKEN_FIELDS]

    heads = ["input", "output", "cache write", "cache read", "total", "cost"]
    rows: list[list[Any]] = []
    if kind in ("daily", "monthly"):
        headers = [_KEY[kind], *heads, "models"]
        for g in data["groups"]:
            rows.append([g[_KEY[kind]], *tokens(g), _money(g), ", ".join(g["models"])])
    elif kind == "session":
        headers = ["session", "project", "last activity", *heads]
        for g in data["groups"]:
            rows.append([g["session_id"], g["project"], when(g["last_at"]), *tokens(g),
                         _money(g)])
    elif kind == "blocks":
        headers = ["start", "end", "", *heads]
        for g in data["groups"]:
            mark = (f"ACTIVE ({g['remaining_minutes']} min left)" if g["active"] else "")
            rows.append([when(g["start"]), when(g["end"]), mark, *tokens(g), _money(g)])
    else:
        headers = ["job", "name", "runs", *heads]
        for g in data["groups"]:
            rows.append([g["job_id"] if g["job_id"] is not None else "-", g["job_name"],
                         g["runs"], *tokens(g), _money(g)])
    if rows:
        t = data["totals"]
        lead = len(headers) - len(heads) - (1 if kind in ("daily", "monthly") else 0)
        total_row: list[Any] = ["TOTAL", *[""] * (lead - 1), *tokens(t), _money(t)]
        if kind in ("daily", "monthly"):
            total_row.append("")
        rows.append(total_row)
    table(headers, rows)
    if kind != "jobs":
        echo(f"(times in {data['timezone']})")
