"""Start `cnp daemon` as a real subprocess for tests, and stop it politely or with kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


class DaemonProcess:
    """On an SQLite file (`db` a Path) or a PostgreSQL URL (`db` a str; `log` required)."""

    def __init__(self, db: Path | str, *args: str, env: dict[str, str] | None = None,
                 log: Path | None = None, argv: list[str] | None = None) -> None:
        self.db = db
        self.args = list(args)
        # The whole command line instead of `cnp daemon --db DB ARGS` (tests/protocol_daemon.py).
        self.argv = argv
        # faulthandler: a daemon that will not stop is made to print every thread's stack.
        self.env = {**os.environ, "PYTHONFAULTHANDLER": "1", **(env or {})}
        if log is None:
            assert isinstance(db, Path), "a daemon on PostgreSQL needs a log path"
            log = db.with_name(f"daemon-{time.monotonic_ns()}.log")
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait_registered: bool = True) -> DaemonProcess:
        self._fh = open(self.log, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.argv or [sys.executable, "-m", "night_pilot", "daemon", "--db", str(self.db),
                          "--log-format", "json", *self.args],
            env=self.env, stdout=self._fh, stderr=subprocess.STDOUT,
        )
        if wait_registered:
            self.wait_registered()
        return self

    def wait_registered(self, timeout: float = 20) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.output()}")
            if isinstance(self.db, str):
                if self._registered_pg():
                    return
            elif self.db.exists():
                try:
                    with sqlite3.connect(self.db) as db:
                        rows = db.execute("SELECT 1 FROM daemons WHERE pid = ? AND stopped_at IS"
                                          " NULL", (self.proc.pid,)).fetchall()
                    if rows:
                        return
                except sqlite3.OperationalError:
                    pass
            time.sleep(0.05)
        raise AssertionError(f"daemon did not register in {timeout}s:\n{self.output()}")

    def _registered_pg(self) -> bool:
        import psycopg

        assert self.proc is not None and isinstance(self.db, str)
        try:
            with psycopg.connect(self.db, autocommit=True) as conn:
                return bool(conn.execute(
                    "SELECT 1 FROM daemons WHERE pid = %s AND stopped_at IS NULL",
                    (self.proc.pid,)).fetchall())
        except psycopg.Error:
            return False  # the schema is not there yet

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def events(self) -> list[dict[str, Any]]:
        import json

        out = []
        for line in self.output().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)  # faulthandler prints the threads' stacks
            self.proc.wait(timeout=10)
            self._fh.close()
            raise AssertionError(f"the daemon did not stop within {timeout}s of SIGTERM:\n"
                                 f"{self.output()[-20000:]}") from None
        self._fh.close()
        return code

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)
        self._fh.close()

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout=timeout)
        self._fh.close()
        return code

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
