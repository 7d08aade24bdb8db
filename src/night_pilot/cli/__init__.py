"""The `cnp` command line: parses input, calls services, renders output. An edge: nothing
imports it. Subcommand groups live in sibling modules and register themselves on `cli`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .. import __version__
from ..errors import CnpError
from .output import report_error, requested_format

if TYPE_CHECKING:
    from ..store import Store

F = TypeVar("F", bound=Callable[..., Any])

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
        self._store: Store | None = None

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


def common(fn: F) -> F:
    """Give a command the shared --db and --format options (also accepted before it)."""

    def apply(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        env = ctx.find_object(Env)
        if env is not None and value is not None:
            setattr(env, _param.name or "", value)
        return value

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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    from . import commands  # noqa: F401  (registers the subcommands)

    try:
        # Without standalone mode click returns an Exit's code instead of raising it.
        rc = cli.main(args=args, prog_name="cnp", standalone_mode=False)
    except CnpError as exc:
        return report_error(exc, requested_format(args))
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        return report_error(exc, requested_format(args))
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
