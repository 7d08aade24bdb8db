"""Running the app: uvicorn on a background thread, for `cnp serve` and `cnp daemon --web`.

The caller's main thread keeps the signal handlers (the daemon's, or serve's own); uvicorn is
told not to install any, and stops when `stop()` asks it to. Nothing here reads the database
except to check, before listening, that it opens.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Generator
from typing import Any, TextIO

from ..config import DbLocation
from ..errors import CnpError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
# In the data directory: where the last dashboard started listens ({"url", "pid"}).
ADDRESS_FILE = "web-server.json"


def _server_class() -> Any:
    import uvicorn

    class QuietServer(uvicorn.Server):
        """A uvicorn server that leaves signal handling to the thread that started it."""

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

    return QuietServer


def is_loopback_host(host: str) -> bool:
    from .security import is_loopback_address

    return is_loopback_address(host.strip("[]"))


def url_host(host: str) -> str:
    """The host to put in a link: all-interfaces binds are reached through loopback."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class WebServer:
    def __init__(self, location: DbLocation, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 *, app: Any = None) -> None:
        from ..store import open_store

        # Fail before listening if the database cannot be used (schema too new, not SQLite…).
        open_store(location).close()
        if app is None:
            from .app import create_app

            app = create_app(location)
        self.app = app
        self.host = host
        self.port = port
        import uvicorn

        config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                                access_log=False, lifespan="off", server_header=False,
                                timeout_graceful_shutdown=5)
        self.server = _server_class()(config)
        self.thread: threading.Thread | None = None

    def start(self, timeout: float = 15.0) -> WebServer:
        """Start listening on a background thread; raises CnpError if it cannot."""
        failure: list[BaseException] = []

        def run() -> None:
            try:
                self.server.run()
            except BaseException as exc:  # SystemExit from uvicorn when it cannot bind
                failure.append(exc)

        self.thread = threading.Thread(target=run, name="web", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise CnpError(
                    f"the dashboard cannot listen on {self.host}:{self.port}"
                    + (" (address in use, or not allowed)" if failure else " (timed out)"),
                    hint="choose another --port, or stop what is using it")
            time.sleep(0.02)
        sockets = [s for srv in getattr(self.server, "servers", []) for s in srv.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self._publish()
        return self

    def _publish(self) -> None:
        """Say where this server listens, in the data directory, for `cnp web link`."""
        import json
        import os

        from ..config import data_dir

        path = data_dir() / ADDRESS_FILE
        self.address_file = path
        with contextlib.suppress(OSError):
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(json.dumps({"url": self.base_url, "pid": os.getpid()}) + "\n")
            tmp.replace(path)

    def _unpublish(self) -> None:
        import json
        import os

        path = getattr(self, "address_file", None)
        if path is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()

    @property
    def base_url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}"

    def login_url(self) -> str:
        return f"{self.base_url}/login?code={self.app.state.auth.codes.issue()}"

    def announce(self, out: TextIO) -> None:
        """Say where the dashboard is and print the one-time login link."""
        print(f"Dashboard: {self.base_url}/", file=out)
        print(f"To make changes from a browser, open once (valid 15 minutes): {self.login_url()}",
              file=out)
        if not is_loopback_host(self.host):
            print(f"WARNING: listening on {self.host}, reachable from other machines over plain "
                  "HTTP. Every request from them needs the web token (reads too); anyone who "
                  "can see this traffic can read the token and the data. Prefer the default "
                  "127.0.0.1 and an SSH tunnel.", file=out)
        out.flush()

    def stop(self, timeout: float = 10.0) -> None:
        self._unpublish()
        self.server.should_exit = True
        if self.thread is not None and self.thread.is_alive():
            self.thread.join(timeout)
