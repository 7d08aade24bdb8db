"""`cnp serve`: the local web dashboard and JSON API, on 127.0.0.1:8765 by default.

Imports the web stack (FastAPI, Jinja2, uvicorn) only when the command runs.
"""

from __future__ import annotations

import click

from ..errors import CnpError
from .app import Env, cli, common, pass_env


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
