"""`cnp serve`: the local web dashboard and JSON API, on 127.0.0.1:8765 by default; and
`cnp web link`: a fresh login link for a dashboard that is running.

Imports the web stack (FastAPI, Jinja2, uvicorn) only when the command runs.
"""

from __future__ import annotations

import click

from ..errors import CnpError
from .app import Env, cli, common, echo, pass_env
from .output import emit


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback is reachable from other "
              "machines: every request from them then needs the web token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free port).")
@common
@pass_env
def serve(env: Env, host: str, port: int) -> None:
    """Serve the dashboard and the JSON API until SIGTERM or Ctrl-C.

    Prints a one-time login link: opening it lets that browser make changes. Reads from this
    machine need nothing; scripts send the token from the data directory's `web-token` file.
    """
    import signal
    import sys
    import threading

    from ..config import resolve_db
    from ..web.server import WebServer

    env.configure_logging("info")
    server = WebServer(resolve_db(env.db), host, port).start()
    server.announce(sys.stdout)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        while not stop.wait(0.5):
            if server.thread is None or not server.thread.is_alive():
                raise CnpError("the web server stopped unexpectedly")
    finally:
        server.stop()


@cli.group("web")
def web() -> None:
    """The dashboard that `cnp serve` or `cnp daemon --web` runs."""


@web.command("link")
@click.option("--url", metavar="URL",
              help="The dashboard's address (default: where the last one started on this data "
              "directory listens).")
@common
@pass_env
def web_link(env: Env, url: str | None) -> None:
    """Print a fresh one-time login link (valid 15 minutes) for a running dashboard, and where
    its token is kept; open the link in the browser that is to make changes.
    """
    import contextlib
    import json

    from ..config import data_dir
    from ..web.security import TOKEN_FILE, LoginCodes, load_token
    from ..web.server import ADDRESS_FILE

    home = data_dir()
    token_file = home / TOKEN_FILE
    running: dict[str, object] = {}
    with contextlib.suppress(OSError, ValueError):
        running = json.loads((home / ADDRESS_FILE).read_text())
    pid = running.get("pid")
    alive = isinstance(pid, int) and _alive(pid)
    if url is None:
        if not alive:
            raise CnpError(
                f"no dashboard is running on this data directory ({home})",
                hint="start one: `cnp daemon --web` (or `cnp serve` beside a daemon, or "
                "`cnp service install --web`); or give its address with --url")
        url = str(running["url"])
    if not token_file.exists():
        raise CnpError(f"there is no web token in {token_file}: no dashboard was started "
                       "with this data directory", hint="start one: `cnp daemon --web`")
    code = LoginCodes(key=load_token(token_file).encode()).issue()
    link = f"{url.rstrip('/')}/login?code={code}"
    data = {"login_url": link, "url": url, "token_file": str(token_file),
            "server_pid": pid if alive else None, "valid_s": 15 * 60}

    def pretty() -> None:
        echo(f"Open once, within 15 minutes, in the browser that is to make changes: {link}")
        echo(f"Scripts send the token kept in {token_file} (Authorization: Bearer …).")

    emit(env.fmt, data, pretty)


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
