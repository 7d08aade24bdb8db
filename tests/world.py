"""A small world for end-to-end tests: the stand-in API, the real Claude CLI, a data directory,
and `cnp` run as a subprocess with that environment (as a user would run it)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claude_env import claude_bin, claude_env
from daemon_proc import DaemonProcess
from standin_api import StandinAPI


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    def error_message(self) -> str:
        return str(json.loads(self.stderr)["message"])


@dataclass
class World:
    root: Path
    api: StandinAPI
    oauth: bool = False
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.work = self.root / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.db = self.root / "cnp" / "claude-night-pilot.db"
        self.env = claude_env(self.home, self.api.url, oauth=self.oauth, max_retries=0)
        self.env.update({"CNP_HOME": str(self.db.parent), "CNP_CLAUDE_BIN": claude_bin()})

    def cnp(self, *args: str, input: str | None = None, timeout: float = 120) -> Outcome:
        proc = subprocess.run(
            [sys.executable, "-m", "night_pilot", *args], env=self.env, cwd=self.work,
            input=input, capture_output=True, text=True, timeout=timeout,
        )
        return Outcome(proc.returncode, proc.stdout, proc.stderr)

    def daemon(self, *args: str) -> DaemonProcess:
        return DaemonProcess(self.db, *args, env=self.env, log=self.root / "daemon.log")

    def rows(self, sql: str, *params: object) -> list[sqlite3.Row]:
        with sqlite3.connect(self.db, timeout=30) as conn:
            conn.row_factory = sqlite3.Row
            return conn.execute(sql, params).fetchall()

    def prompt(self, content: str, title: str = "prompt") -> int:
        out = self.cnp("prompt", "create", title, "--stdin", "--format", "json", input=content)
        assert out.code == 0, out.stderr
        return int(out.json["id"])
