"""The `cnp` command line: parses input, calls services, renders output. An edge: nothing
imports it. This module is the console script's entry point and imports nothing heavy itself.
"""

from __future__ import annotations

import sys

from .. import __version__


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        # The one command that needs nothing: answer before click is even imported.
        sys.stdout.write(f"cnp {__version__}\n")
        return 0
    import gc

    # Start-up builds tens of thousands of objects (click, the commands) that live as long as
    # the process, and no garbage; the cyclic collector would walk them over and over, and once
    # more at exit. It is paused while they are built, and for the process itself (not a caller
    # that passes argv, such as the tests) they are then frozen out of its sight. Measured:
    # ~20 ms of `cnp job list`'s ~200 (bench/cli_startup.py). The command's module and the
    # store are loaded the same way when the command is resolved (`app.load`).
    collecting = gc.isenabled()
    gc.disable()
    try:
        import click

        from ..errors import CnpError
        from . import app
        from .app import cli
    finally:
        if argv is None:
            gc.freeze()
        if collecting:
            gc.enable()
    app.FREEZE_LOADED = argv is None

    try:
        # Without standalone mode click returns an Exit's code instead of raising it.
        rc = cli.main(args=args, prog_name="cnp", standalone_mode=False)
    except (CnpError, click.ClickException) as exc:
        from .output import report_error, requested_format

        return report_error(exc, requested_format(args))
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
