"""The `cnp` command tree: commands declared with decorators, parsed with the standard
library's argparse, their modules imported only when used.

A command is a function; `option` and `argument` decorators declare its parameters, and
`Group.command` / `Group.group` put it in the tree (`cli` is the root). At start-up `main`
(cli/__init__.py) asks `parser_for(argv)` for a parser: it imports only the module of the
command named in argv (`COMMANDS`), builds argparse parsers for that part of the tree, and
`run` calls the chosen function with its parameters as keyword arguments.

Why not click, which the commands were first written with: importing it (and the inspect and
uuid modules it loads) was about a third of `cnp job list`'s start-up, and argparse's surface
covers what the commands use (docs/architecture.md, "The command line").
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType

from .. import __version__
from ..errors import CnpError

TYPE_CHECKING = False  # typing's, without importing typing (docs/architecture.md)
if TYPE_CHECKING:
    from typing import Any, TypeVar

    from ..store import Store
    F = TypeVar("F", bound=Callable[..., Any])


# True in the console script's own process (`main()` without argv), not for a caller that
# passes argv, such as the tests: see `load`.
FREEZE_LOADED = False


def load(name: str) -> ModuleType:  # name: relative to this package
    """Import a module with the cyclic collector paused, since a module builds objects that
    live as long as the process and no garbage, and in the console process with those objects
    frozen out of the collector's sight afterwards. For a command's module and the store
    (~4,000 objects for `cnp job list`), which the collector would otherwise walk again and
    again while the command runs, and at exit."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        return importlib.import_module(name, __package__)
    finally:
        if FREEZE_LOADED:
            gc.freeze()
        if collecting:
            gc.enable()


# -- errors ----------------------------------------------------------------------------------


class UsageError(CnpError):
    """The command line itself is wrong: an unknown command or option, a missing or malformed
    value. Exit code 2; the pretty rendering shows the command's usage line first."""

    exit_code = 2
    kind = "usage"

    def __init__(self, message: str, *, usage: str | None = None) -> None:
        super().__init__(message)
        self.usage = usage


class BadParameter(UsageError):
    """A value that parsed but is not acceptable, named by its option (`param_hint`)."""

    def __init__(self, message: str, *, param_hint: str | None = None) -> None:
        super().__init__(f"invalid value for {param_hint}: {message}" if param_hint
                         else message)


class Exit(Exception):
    """Stop the command with this exit code (after it has said why)."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)
        self.code = code


def echo(message: object = "", *, err: bool = False, nl: bool = True) -> None:
    """Write a line (or, with nl=False, text) to stdout or stderr, at once."""
    stream = sys.stderr if err else sys.stdout
    text = "" if message is None else str(message)
    stream.write(f"{text}\n" if nl else text)
    stream.flush()


# -- value types -----------------------------------------------------------------------------


class Choice:
    """One of a fixed list of words."""

    def __init__(self, choices: Iterable[str]) -> None:
        self.choices = list(choices)


class _Range:
    kind: Callable[[str], Any] = int
    noun = "integer"

    def __init__(self, min: float | None = None, max: float | None = None, *,
                 min_open: bool = False, max_open: bool = False) -> None:
        self.min, self.max, self.min_open, self.max_open = min, max, min_open, max_open

    def __call__(self, text: str) -> Any:
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {self.noun}") from None
        low_ok = self.min is None or (value > self.min if self.min_open else value >= self.min)
        high_ok = self.max is None or (value < self.max if self.max_open else value <= self.max)
        if not (low_ok and high_ok):
            raise argparse.ArgumentTypeError(f"{text} is not in the range {self.describe()}")
        return value

    def describe(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f"{self.min}{'<' if self.min_open else '<='}")
        parts.append("x")
        if self.max is not None:
            parts.append(f"{'<' if self.max_open else '<='}{self.max}")
        return "".join(parts)


class IntRange(_Range):
    """An integer within bounds (inclusive unless `min_open` / `max_open`)."""


class FloatRange(_Range):
    """A number within bounds (inclusive unless `min_open` / `max_open`)."""

    kind = float
    noun = "number"


def existing_directory(text: str) -> str:
    """A path that names an existing directory."""
    import os

    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text!r} does not exist")
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return text


# -- declaring commands ----------------------------------------------------------------------


class Param:
    """An option or argument of a command, as declared; `add_to` puts it on a parser.

    Every value is parsed with an argparse default of SUPPRESS and the declared default is
    filled in afterwards (`value`): so an option that a group and its subcommand both declare
    (`cnp usage --since X daily`) keeps the group's value unless it is given again after the
    subcommand, and a subcommand never overwrites what its parent parsed.
    """

    def __init__(self, decls: Sequence[str], *, argument: bool = False, type: Any = None,
                 default: Any = None, multiple: bool = False, is_flag: bool = False,
                 required: bool = False, help: str | None = None,
                 metavar: str | None = None, show_default: bool = False,
                 env: bool = False) -> None:
        self.argument = argument
        self.type = type
        self.multiple = multiple
        self.required = required
        self.help = help
        self.metavar = metavar
        self.show_default = show_default
        self.env = env  # shared setting for `Env`, not passed to the function
        names = [d for d in decls if d.startswith("-")]
        named = [d for d in decls if not d.startswith("-")]
        self.off: str | None = None  # "--no-x" of a "--x/--no-x" pair
        if len(names) == 1 and "/" in names[0]:
            on, self.off = names[0].split("/", 1)
            names = [on]
            is_flag = True
        self.names = names
        self.is_flag = is_flag
        if named:
            self.dest = named[0]
        else:
            longest = max(names, key=len)
            self.dest = longest.lstrip("-").replace("-", "_")
        if multiple and default is None:
            default = ()
        if is_flag and default is None:
            default = False
        self.default = default

    def value(self, namespace: argparse.Namespace) -> Any:
        value = getattr(namespace, self.dest, self.default)
        if self.multiple and isinstance(value, list):
            return tuple(value)
        return value

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        text = self.help or ""
        if self.show_default and not self.argument:
            shown = ("yes" if self.default else "no") if self.is_flag else self.default
            text = f"{text} (default: {shown})" if text else f"default: {shown}"
        kw: dict[str, Any] = {"help": text.replace("%", "%%") or None,
                              "default": argparse.SUPPRESS}
        if self.argument:
            kw["metavar"] = self.metavar or self.dest.upper()
            if not self.required:
                kw["nargs"] = "?"
            self._typed(kw)
            parser.add_argument(self.dest, **kw)
            return
        kw["dest"] = self.dest
        if self.is_flag:
            kw["action"] = "store_true"
            parser.add_argument(*self.names, **kw)
            if self.off:
                parser.add_argument(self.off, dest=self.dest, action="store_false",
                                    default=argparse.SUPPRESS,
                                    help=f"The opposite of {self.names[0]}.")
            return
        # Named after the option, not its parameter: `--lease LEASE`, not `LEASE_S`.
        kw["metavar"] = self.metavar or max(self.names, key=len).lstrip("-").replace(
            "-", "_").upper()
        if self.multiple:
            kw["action"] = "append"
        if self.required:
            kw["required"] = True
        self._typed(kw)
        parser.add_argument(*self.names, **kw)

    def _typed(self, kw: dict[str, Any]) -> None:
        if isinstance(self.type, Choice):
            kw["choices"] = self.type.choices
            if not self.metavar:
                kw["metavar"] = "|".join(self.type.choices)
        elif self.type is not None:
            kw["type"] = self.type


def _declare(fn: F, param: Param) -> F:
    # Decorators apply from the bottom up; parameters are kept in the order written.
    params: list[Param] = fn.__dict__.setdefault("cnp_params", [])
    params.insert(0, param)
    return fn


def option(*decls: str, **settings: Any) -> Callable[[F], F]:
    """An option: `option("--name", help=…)`, `option("--add-dir", "add_dirs", multiple=True)`
    (the bare name is the parameter's), `option("--web/--no-web", default=False)`."""
    return lambda fn: _declare(fn, Param(decls, **settings))


def argument(name: str, **settings: Any) -> Callable[[F], F]:
    """A positional argument; `required=False` makes it optional."""
    settings.setdefault("required", True)
    return lambda fn: _declare(fn, Param((name,), argument=True, **settings))


def pass_env(fn: F) -> F:
    """Call the command with the shared `Env` as its first argument."""
    fn.__dict__["cnp_pass_env"] = True
    return fn


def common(fn: F | None = None, *, formats: Sequence[str] = ("pretty", "json"),
           format_help: str = "Output format: readable text (default) or one JSON document.",
           logging: bool = True) -> Any:
    """Give a command the shared --db and --format (and --log-format, --log-level) options,
    which set `Env`'s attributes of the same names; they are accepted before the command too
    (`cnp --format json job list`)."""

    def apply(target: F) -> F:
        shared = [
            Param(("--db", "db"), metavar="PATH|URL", env=True,
                  help="Database file or postgresql:// URL (default: $CNP_DB, else the data "
                  "directory's claude-night-pilot.db)."),
            Param(("--format", "fmt"), type=Choice(formats), default="pretty", env=True,
                  help=format_help),
        ]
        if logging:
            shared += [
                Param(("--log-format", "log_format"), type=Choice(["text", "json"]), env=True,
                      help="Log records on stderr as text (default) or JSON lines."),
                Param(("--log-level", "log_level"), env=True,
                      type=Choice(["debug", "info", "warning", "error"]),
                      help="Least severe log records shown (default: warning; the daemon: "
                      "info)."),
            ]
        params: list[Param] = target.__dict__.setdefault("cnp_params", [])
        params.extend(shared)
        return target

    return apply if fn is None else apply(fn)


class Command:
    """A command: a function and the parameters declared on it."""

    def __init__(self, name: str, fn: Callable[..., Any], help: str | None) -> None:
        self.name = name
        self.fn = fn
        self.params: list[Param] = fn.__dict__.get("cnp_params", [])
        self.doc = _clean(help if help is not None else fn.__doc__ or "")

    @property
    def summary(self) -> str:
        return self.doc.split("\n", 1)[0]

    def call(self, env: Env, namespace: argparse.Namespace) -> Any:
        kwargs = {p.dest: p.value(namespace) for p in self.params if not p.env}
        if self.fn.__dict__.get("cnp_pass_env"):
            return self.fn(env, **kwargs)
        return self.fn(**kwargs)

    def build(self, parser: argparse.ArgumentParser, words: frozenset[str],
              every: bool = True) -> None:
        """Put this command's parameters on `parser`. `words`, `every`: see `Group.build`."""
        for param in self.params:
            param.add_to(parser)
        parser.set_defaults(cnp_command=self, cnp_parser=parser)


class Group(Command):
    """A command with subcommands. Its own function runs only when no subcommand is given,
    and only if `invoke_without_command`; else a subcommand is required."""

    def __init__(self, name: str, fn: Callable[..., Any], help: str | None,
                 invoke_without_command: bool = False) -> None:
        super().__init__(name, fn, help)
        self.invoke_without_command = invoke_without_command
        self.commands: dict[str, Command] = {}

    def command(self, name: str | None = None, *,
                help: str | None = None) -> Callable[[F], Command]:
        def register(fn: F) -> Command:
            cmd = Command(name or fn.__name__.replace("_", "-"), fn, help)
            self.commands[cmd.name] = cmd
            return cmd

        return register

    def group(self, name: str | None = None, *, help: str | None = None,
              invoke_without_command: bool = False) -> Callable[[F], Group]:
        def register(fn: F) -> Group:
            grp = Group(name or fn.__name__.replace("_", "-"), fn, help, invoke_without_command)
            self.commands[grp.name] = grp
            return grp

        return register

    def build(self, parser: argparse.ArgumentParser, words: frozenset[str],
              every: bool = True) -> None:
        """Only the subcommands whose name is one of the command line's `words` get their
        parameters, and unless `every` only they are listed at all: argparse chooses a
        subcommand by its exact name, and building a parser for each of `cnp job`'s commands
        took longer than reading a thousand jobs. Help, and the message of a command line
        that does not parse, need `every` (`run`)."""
        super().build(parser, words, every)
        subs = parser.add_subparsers(metavar="COMMAND", title="commands",
                                     required=not self.invoke_without_command,
                                     parser_class=Parser)
        for name in sorted(self.commands):
            named = name in words
            if named or every:
                cmd = self.commands[name]
                sub = subs.add_parser(name, help=cmd.summary, description=cmd.doc)
                if named:
                    cmd.build(sub, words, every)


def _clean(doc: str) -> str:
    """A docstring as help text: its first line, then the rest without its indentation."""
    head, _, rest = doc.strip().partition("\n")
    lines = rest.split("\n")
    indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    return "\n".join([head, *(line[indent:] for line in lines)]).strip()


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's, keeping the line breaks of descriptions (docstrings' paragraphs), as wide
    as the terminal. argparse makes one for every argument added, to check it, and finds the
    width with shutil, whose import (with its compression modules) costs more than the rest
    of building the parsers; `os` answers alone."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, width or _columns() - 2)


def _columns() -> int:
    import os

    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class Parser(argparse.ArgumentParser):
    """argparse, with its errors and exits raised (`UsageError`, `Exit`) instead of ending the
    process, so that `main` reports them in the requested format and callers can test them;
    no abbreviated options (`--form` is not `--format`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:
        raise UsageError(message, usage=self.format_usage().rstrip())

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        if message:
            sys.stderr.write(message)
        raise Exit(status)


# -- the shared environment ------------------------------------------------------------------


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

            load("..store")  # with the collector paused, as above
            from ..store import open_store

            self._store = open_store(resolve_db(self.db), create=create)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


# -- the root and lazy loading ---------------------------------------------------------------


@common
def _root() -> None:
    """Claude Night Pilot: run Claude Code prompts unattended, on schedules.

    Prompts and jobs live in one local database; `cnp daemon` fires jobs and records every run.
    """


cli = Group("cnp", _root, None, invoke_without_command=True)

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
    "mcp": "mcp",
    "import": "mcp",
}
# The root's options that take a value: skipped when looking for the command's name.
_ROOT_VALUED = frozenset(name for p in cli.params if not p.is_flag for name in p.names)


def command_name(argv: Sequence[str]) -> str | None:
    """The top-level command argv names, if any (the first word that is not a root option)."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _ROOT_VALUED:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def parser_for(argv: Sequence[str], *, every: bool = False) -> Parser:
    """A parser for this command line: the root, and the top-level command argv names, from
    its module alone (every module for `cnp --help`, or a name that is not a command, so that
    all are listed). Every subcommand on the way is listed if `every` or help is asked for;
    else only those argv names (`Group.build`)."""
    every = every or "-h" in argv or "--help" in argv
    name = command_name(argv)
    modules = [COMMANDS[name]] if name in COMMANDS else COMMANDS.values()
    for module in dict.fromkeys(modules):
        load(f".{module}")
    parser = Parser(prog="cnp", description=cli.doc)
    parser.add_argument("--version", action="version", version=f"cnp {__version__}")
    cli.build(parser, frozenset(argv), every)
    return parser


def _parse(parser: Parser, argv: Sequence[str]) -> argparse.Namespace:
    namespace, extra = parser.parse_known_args(list(argv))
    if extra:  # reported by the command they were given to, with its usage (argparse: the root)
        namespace.cnp_parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return namespace


def run(argv: Sequence[str]) -> int:
    """Parse argv and run the command it names; the command's exit code."""
    try:
        namespace = _parse(parser_for(argv), argv)
    except UsageError:
        # Said with every command listed: the usage line and "invalid choice" name them all.
        namespace = _parse(parser_for(argv, every=True), argv)
    command: Command = namespace.cnp_command
    if command is cli:  # `cnp` alone, or with root options only
        parser_for(["--help"]).print_help(sys.stderr)
        return 2
    env = Env()
    for param in cli.params:  # the shared settings (`common`), before or after the command
        setattr(env, param.dest, param.value(namespace))
    if env.log_format or env.log_level:
        env.configure_logging()
    try:
        rc = command.call(env, namespace)
    finally:
        env.close()
    return rc if isinstance(rc, int) else 0
