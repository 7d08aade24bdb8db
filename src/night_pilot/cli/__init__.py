"""The `cnp` command line: parses input, calls services, renders output. An edge: nothing
imports it. `main` is the console script's entry point.
"""

from __future__ import annotations

import os
import sys

import click

from ..errors import CnpError
from .app import OutputClosed, cli


def main(argv: list[str] | None = None) -> int:
    """Run `cnp` with these arguments (default: the process's) and return its exit code.
    Command-line mistakes exit 2 and failures the commands raise (`CnpError`) their own code,
    reported on stderr: as JSON under `--format json`, else readable. When the reader of
    stdout goes away (`cnp runs | head -1`), it exits quietly with 141, as a process
    that SIGPIPE ended does."""
    args = sys.argv[1:] if argv is None else argv
    try:
        # Without standalone mode click returns an exit's code instead of ending the process.
        rc = cli.main(args=args, prog_name="cnp", standalone_mode=False)
    except (CnpError, click.ClickException) as exc:
        from .output import report_error, requested_format

        return report_error(exc, requested_format(args))
    except click.Abort:
        sys.stderr.write("Aborted.\n")
        return 130
    except (OutputClosed, BrokenPipeError):
        _silence_stdout()
        return PIPE_CLOSED
    return rc if isinstance(rc, int) else 0


PIPE_CLOSED = 141  # 128 + SIGPIPE


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not fail again."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
