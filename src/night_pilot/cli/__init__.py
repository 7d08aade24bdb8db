"""The `cnp` command line: parses input, calls services, renders output. An edge: nothing
imports it. This module is the console script's entry point and imports nothing heavy itself.
"""

from __future__ import annotations

import sys

from .. import __version__


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        # The one command that needs nothing: answer before any parser is built.
        sys.stdout.write(f"cnp {__version__}\n")
        return 0
    import gc

    # Start-up builds thousands of objects (the parsers, the command modules) that live as long
    # as the process, and no garbage; the cyclic collector would walk them over and over, and
    # once more at exit. It is paused while they are built, and for the process itself (not a
    # caller that passes argv, such as the tests) they are then frozen out of its sight.
    # Measured: ~20 ms of `cnp job list`'s ~200 (bench/cli_startup.py). The command's module
    # and the store are loaded the same way (`app.load`).
    collecting = gc.isenabled()
    gc.disable()
    try:
        from ..errors import CnpError
        from . import app
    finally:
        if argv is None:
            gc.freeze()
        if collecting:
            gc.enable()
    app.FREEZE_LOADED = argv is None

    try:
        return app.run(args)
    except CnpError as exc:
        from .output import report_error, requested_format

        return report_error(exc, requested_format(args))
    except app.Exit as exc:
        return exc.code
    except KeyboardInterrupt:
        sys.stderr.write("Aborted.\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
