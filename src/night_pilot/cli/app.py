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
    try:
        stream.write(f"{text}\n" if nl else text)
        stream.flush()
    except BrokenPipeError as exc:
        raise OutputClosed() from exc


class OutputClosed(Exception):
    """The reader of our output went away (`cnp runs | head -1`): stop, quietly.
    Not an OSError, so that it reaches `main` as it is."""


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


def shared_options(formats: Sequence[str] = ("pretty", "json"),
                   format_help: str = "Output format: readable text (default) or one JSON "
                                      "document.",
                   logging: bool = True) -> list[click.Option]:
    """The shared --db and --format (and --log-format, --log-level) options, which set
    `Env`'s attributes of the same names."""
    shared = [
        click.Option(["--db", "db"], metavar="PATH|URL", expose_value=False, callback=_set_env,
                     help="Database file or postgresql:// URL (default: $CNP_DB, else the "
                     "data directory's claude-night-pilot.db)."),
        click.Option(["--format", "fmt"], type=click.Choice(list(formats)),
                     expose_value=False, callback=_set_env, help=format_help),
    ]
    if logging:
        shared += [
            click.Option(["--log-format", "log_format"], type=click.Choice(["text", "json"]),
                         expose_value=False, callback=_set_env,
                         help="Log records on stderr as text (default) or JSON lines."),
            click.Option(["--log-level", "log_level"], expose_value=False,
                         type=click.Choice(["debug", "info", "warning", "error"]),
                         callback=_set_env,
                         help="Least severe log records shown (default: warning; the "
                         "daemon: info)."),
        ]
    return shared


def common(fn: F | None = None, *, formats: Sequence[str] = ("pretty", "json"),
           format_help: str = "Output format: readable text (default) or one JSON document.",
           logging: bool = True) -> Any:
    """Give a command the shared options (`shared_options`); every group has them too, so
    they are accepted before the command as well (`cnp --format json job list`, `cnp job
    --format json list`)."""

    def apply(target: F) -> F:
        for option in reversed(shared_options(formats, format_help, logging)):
            if isinstance(target, click.Command):
                target.params.append(option)
            else:
                target.__dict__.setdefault("__click_params__", []).append(option)
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
    "runs": "runs",
    "run": "runs",
    "executions": "runs",  # ALIASES
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
    "web": "web",
    "completion": "completion",
    "mcp": "mcp",
    "import": "mcp",
}


def with_example(ctx: click.Context, name: str, cmd: click.Command | None
                 ) -> click.Command | None:
    """The command found under `name`, its help ending with its example (`examples.py`)."""
    if cmd is None:
        return None
    names = [name]
    at: click.Context | None = ctx
    while at is not None and at.parent is not None:
        names.append(at.info_name or "")
        at = at.parent
    path = " ".join(reversed(names))
    command = cmd
    plain = type(cmd).format_epilog

    def format_epilog(context: click.Context, formatter: click.HelpFormatter) -> None:
        from .examples import epilog  # only when help is shown

        command.epilog = epilog(path) or command.epilog
        plain(command, context, formatter)

    cmd.format_epilog = format_epilog  # type: ignore[method-assign, assignment]
    return cmd


def _with_shared_options(group: click.Group) -> None:
    """A group takes the shared options it does not declare itself."""
    names = {p.name for p in group.params}
    group.params.extend(o for o in shared_options() if o.name not in names)


# Commands kept under an older name for scripts (older name → command): not listed, not
# suggested; the module of the command adds them.
ALIASES = {"executions": "runs", "execution": "run"}


class Group(click.Group):
    """A group of subcommands (`cnp job`, …): named without one, it is a command-line mistake
    like any other missing argument ("Missing command."), not a page of help. It takes the
    shared options, and a mistyped command name gets a "did you mean"."""

    group_class = type  # its own groups are of this class too

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("no_args_is_help", False)
        super().__init__(*args, **kwargs)
        _with_shared_options(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return with_example(ctx, cmd_name, super().get_command(ctx, cmd_name))


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
        return with_example(ctx, cmd_name, self.commands.get(cmd_name))

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if name not in COMMANDS and not name.startswith("-") and not ctx.resilient_parsing:
            # The commands not imported yet are candidates for "did you mean" too.
            raise click.exceptions.NoSuchCommand(
                name, possibilities=[c for c in COMMANDS if c not in ALIASES], ctx=ctx)
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="cnp", message="%(prog)s %(version)s")
@common
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Claude Night Pilot: run Claude Code prompts unattended, on schedules.

    Prompts and jobs live in one local database; `cnp daemon` fires jobs and records every run.

    \b
    Example:
      cnp init && cnp job list
    """
    env = ctx.ensure_object(Env)
    ctx.call_on_close(env.close)
    if ctx.invoked_subcommand is None:  # `cnp` alone, or with shared options only
        echo(ctx.get_help(), err=True)
        ctx.exit(2)
