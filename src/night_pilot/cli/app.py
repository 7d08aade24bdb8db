"""The click application: the `cnp` group, the shared options, and lazy loading of the
top-level commands' modules.

Commands live in sibling modules, each imported only when its command is used (`COMMANDS`,
`LazyGroup`), so that `cnp --version` and `cnp job list` load only what they run.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .. import __version__

if TYPE_CHECKING:
    from ..store import Store

F = TypeVar("F", bound=Callable[..., Any])


def echo(message: object = "", *, err: bool = False, nl: bool = True) -> None:
    """Write a line (or, with nl=False, text) to stdout or stderr, at once, exactly as given:
    unlike `click.echo`, which drops ANSI escapes when the stream is not a terminal, since what
    runs printed is shown as it was recorded."""
    stream = sys.stderr if err else sys.stdout
    text = "" if message is None else str(message)
    stream.write(f"{text}\n" if nl else text)
    stream.flush()


class Env:
    """What every command shares: the chosen database and output format."""

    def __init__(self) -> None:
        self.db: str | None = None
        self.fmt = "pretty"
        self.log_format: str | None = None
        self.log_level: str | None = None
        self._store: Store | None = None

    def configure_logging(self, default_level: str = "warning", file: str | None = None) -> None:
        from ..tracing import configure

        configure(self.log_format or "text", self.log_level or default_level, file=file)

    def store(self, *, create: bool = True) -> Store:
        if self._store is None:
            from ..config import resolve_db
            from ..store import open_store

            self._store = open_store(resolve_db(self.db), create=create)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


pass_env = click.make_pass_decorator(Env, ensure=True)


def _set_env(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A shared option given on the command line sets `Env`'s attribute of its name; given to
    a group and again to its subcommand, the later one holds."""
    if value is not None:
        env = ctx.ensure_object(Env)
        setattr(env, param.name or "", value)
        if param.name in ("log_format", "log_level"):
            env.configure_logging()
    return value


def common(fn: F | None = None, *, formats: Sequence[str] = ("pretty", "json"),
           format_help: str = "Output format: readable text (default) or one JSON document.",
           logging: bool = True) -> Any:
    """Give a command the shared --db and --format (and --log-format, --log-level) options,
    which set `Env`'s attributes of the same names; they are accepted before the command too
    (`cnp --format json job list`)."""

    def apply(target: F) -> F:
        shared = [
            click.option("--db", "db", metavar="PATH|URL", expose_value=False,
                         callback=_set_env,
                         help="Database file or postgresql:// URL (default: $CNP_DB, else the "
                         "data directory's claude-night-pilot.db)."),
            click.option("--format", "fmt", type=click.Choice(list(formats)),
                         expose_value=False, callback=_set_env, help=format_help),
        ]
        if logging:
            shared += [
                click.option("--log-format", "log_format", type=click.Choice(["text", "json"]),
                             expose_value=False, callback=_set_env,
                             help="Log records on stderr as text (default) or JSON lines."),
                click.option("--log-level", "log_level", expose_value=False,
                             type=click.Choice(["debug", "info", "warning", "error"]),
                             callback=_set_env,
                             help="Least severe log records shown (default: warning; the "
                             "daemon: info)."),
            ]
        for declare in reversed(shared):
            target = declare(target)
        return target

    return apply if fn is None else apply(fn)


# Top-level command → the module (in this package) that defines it.
COMMANDS = {
    "init": "system",
    "status": "system",
    "health": "system",
    "prompt": "prompts",
    "job": "jobs",
    "execute": "runs",
    "executions": "runs",
    "execution": "runs",
    "daemon": "runs",
    "cooldown": "cooldown",
    "quota": "quota",
    "migrate": "migrate",
    "notify": "notify",
    "usage": "usage",
    "service": "service",
    "audit": "audit",
    "session": "session",
    "worktree": "worktree",
    "batch": "batch",
    "serve": "web",
    "completion": "completion",
    "mcp": "mcp",
    "import": "mcp",
}


class Group(click.Group):
    """A group of subcommands (`cnp job`, …): named without one, it is a command-line mistake
    like any other missing argument ("Missing command."), not a page of help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("no_args_is_help", False)
        super().__init__(*args, **kwargs)


class LazyGroup(click.Group):
    """A group whose commands' modules are imported when a command is looked up by name
    (`COMMANDS`); each module adds its commands to the group as it is imported."""

    group_class = Group

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f".{module}", __package__)
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="cnp", message="%(prog)s %(version)s")
@common
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Claude Night Pilot: run Claude Code prompts unattended, on schedules.

    Prompts and jobs live in one local database; `cnp daemon` fires jobs and records every run.
    """
    env = ctx.ensure_object(Env)
    ctx.call_on_close(env.close)
    if ctx.invoked_subcommand is None:  # `cnp` alone, or with shared options only
        echo(ctx.get_help(), err=True)
        ctx.exit(2)
