"""`cnp serve` and `cnp daemon --web` as real processes: they listen, print a login link that
works once, and stop cleanly on SIGTERM (the daemon and its web thread together). In this
process: the warning about non-loopback addresses, and a busy port. Other commands never load
the web stack."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli_runner import cnp
from daemon_proc import DaemonProcess, wait_until
from night_pilot.config import DbLocation
from night_pilot.web.server import WebServer

LINK = re.compile(r"(http://[^\s]+)/login\?code=([\w-]+)")


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "CNP_HOME": str(home), "PYTHONUNBUFFERED": "1"}


class Served:
    def __init__(self, home: Path, *args: str) -> None:
        self.out = home.parent / f"serve-{time.monotonic_ns()}.log"
        self._fh = open(self.out, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "night_pilot", "serve", *args],
                                     env=_env(home), stdout=self._fh, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def link(self, timeout: float = 30) -> tuple[str, str]:
        def found() -> re.Match[str] | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}: {self.text()}")
            return LINK.search(self.text())

        match = wait_until(found, timeout, "the login link")
        return match.group(1), match.group(2)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self._fh.close()
        return code


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "cnp"


@pytest.fixture
def served(home: Path) -> Iterator[Served]:
    s = Served(home, "--port", "0")
    yield s
    s.stop()


def _get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@pytest.mark.slow  # a server or daemon process of its own
def test_serve_prints_a_one_time_link_and_stops_on_sigterm(served: Served, home: Path) -> None:
    base, code = served.link()
    assert base.startswith("http://127.0.0.1:")
    assert "WARNING" not in served.text()
    status, _, body = _get(f"{base}/api/overview")
    assert status == 200 and json.loads(body)["daemon"]["running"] is False
    status, headers, _ = _get(f"{base}/login?code={code}")
    assert status == 303 and "HttpOnly" in headers["set-cookie"]
    assert _get(f"{base}/login?code={code}")[0] == 403
    token = (home / "web-token").read_text().strip()
    assert oct((home / "web-token").stat().st_mode & 0o777) == "0o600"
    req = urllib.request.Request(f"{base}/api/prompts", method="POST",
                                 data=b'{"title": "t", "content": "c"}',
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 201
    started = time.monotonic()
    assert served.stop() == 0
    assert time.monotonic() - started < 10


def test_serve_on_a_public_address_warns(tmp_path: Path) -> None:
    server = WebServer(DbLocation(path=tmp_path / "cnp.db"), "0.0.0.0", 0).start()
    try:
        out = io.StringIO()
        server.announce(out)
    finally:
        server.stop()
    link = LINK.search(out.getvalue())
    assert link and link.group(1).startswith("http://127.0.0.1:")
    assert "WARNING: listening on 0.0.0.0" in out.getvalue()


def test_serve_on_a_busy_port_says_so() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        out = cnp("serve", "--port", str(port))
    assert out.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr


@pytest.mark.slow
def test_daemon_with_web_serves_and_stops_with_one_sigterm(home: Path) -> None:
    db = home / "claude-night-pilot.db"
    home.mkdir(parents=True)
    daemon = DaemonProcess(db, "--web", "--port", "0", env=_env(home))
    daemon.start()
    try:
        match = wait_until(lambda: LINK.search(daemon.output()), 30, "the login link")
        base = match.group(1)
        overview = wait_until(lambda: (lambda o: o if o["daemon"]["running"] else None)(
            json.loads(_get(f"{base}/api/overview")[2])), 20, "the daemon on the dashboard")
        assert overview["daemon"]["active"]["pid"] == daemon.pid
    finally:
        code = daemon.stop(timeout=60)
    assert code == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{base}/api/overview", timeout=3)


def test_other_commands_never_import_the_web_stack(home: Path) -> None:
    probe = ("import sys\nfrom night_pilot.cli import main\n"
             "main(['job', 'list', '--format', 'json'])\nmain(['--help'])\n"
             "bad = [m for m in ('fastapi', 'uvicorn', 'jinja2', 'starlette',"
             " 'night_pilot.web') if m in sys.modules]\nassert not bad, bad\n")
    out = subprocess.run([sys.executable, "-c", probe], env=_env(home), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
