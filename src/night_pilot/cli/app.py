"""The click application: the `cnp` group, shared options, and lazy loading of subcommands.

Subcommand groups live in sibling modules, imported only when their command is used
(`COMMANDS`), so that `cnp --version` and `cnp job list` start fast.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .. import __version__

if TYPE_CHECKING:
    from ..store import Store

F = TypeVar("F", bound=Callable[..., Any])

# True in the console script's own process (`cli.main()` without argv), not for a caller that
# passes argv, such as the tests: see `load`.
FREEZE_LOADED = False


def load(name: str) -> ModuleType:  # name: relative to this package
    """Import a module as start-up imports click (cli/__init__.py): with the cyclic collector
    paused, since a module builds objects that live as long as the process and no garbage, and
    in the console process with those objects frozen out of the collector's sight afterwards.
    For a command's module and the store (~4,000 objects for `cnp job list`), which the
    collector would otherwise walk again and again while the command runs, and at exit."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return importlib.import_module(name, __package__)
    finally:
        if FREEZE_LOADED:
            gc.freeze()
        if collecting:
            gc.enable()


FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(["pretty", "json"]),
    default=None,
    help="Output format: readable text (default) or one JSON document.",
)
DB_OPTION = click.option(
    "--db",
    "db",
    default=None,
    metavar="PATH|URL",
    help="Database file (or postgresql:// URL). Default: $CNP_DB, else "
    "claude-night-pilot.db in $CNP_HOME or the user data directory.",
)


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

            load("..store")  # with the collector paused, as below
            from ..store import open_store

            self._store = open_store(resolve_db(self.db), create=create)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def common(fn: F) -> F:
    """Give a command the shared --db, --format, --log-format and --log-level options."""

    def apply(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        env = ctx.find_object(Env)
        if env is not None and value is not None:
            setattr(env, _param.name or "", value)
            if _param.name in ("log_format", "log_level"):
                env.configure_logging()
        return value

    fn = click.option(
        "--log-format", "log_format", type=click.Choice(["text", "json"]), default=None,
        expose_value=False, callback=apply, is_eager=True,
        help="Log records on stderr as text (default) or JSON lines.",
    )(fn)
    fn = click.option(
        "--log-level", "log_level", type=click.Choice(["debug", "info", "warning", "error"]),
        default=None, expose_value=False, callback=apply, is_eager=True,
        help="Least severe log records shown (default: warning; the daemon: info).",
    )(fn)
    fn = click.option(
        "--format", "fmt", type=click.Choice(["pretty", "json"]), default=None,
        expose_value=False, callback=apply, is_eager=True,
        help="Output format: readable text (default) or one JSON document.",
    )(fn)
    fn = click.option(
        "--db", "db", default=None, metavar="PATH|URL", expose_value=False, callback=apply,
        is_eager=True, help="Database file or postgresql:// URL (default: $CNP_DB, else the "
        "data directory's claude-night-pilot.db).",
    )(fn)
    return fn


pass_env = click.make_pass_decorator(Env, ensure=True)

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
    "migrate": "migrate",
    "notify": "notify",
    "usage": "usage",
    "service": "service",
    "audit": "audit",
    "session": "session",
    "worktree": "worktree",
    "batch": "batch",
    "serve": "web",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            load(f".{module}")
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="cnp", message="%(prog)s %(version)s")
@DB_OPTION
@FORMAT_OPTION
@click.pass_context
def cli(ctx: click.Context, db: str | None, fmt: str | None) -> None:
    """Claude Night Pilot: run Claude Code prompts unattended, on schedules.

    Prompts and jobs live in one local database; `cnp daemon` fires jobs and records every run.
    """
    env = ctx.ensure_object(Env)
    env.db = db
    env.fmt = fmt or "pretty"
    ctx.call_on_close(env.close)
