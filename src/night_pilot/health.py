"""Health: is everything in place for jobs to fire and runs to succeed? Each check says what it
found and, when something is wrong, why, so `cnp health` can exit non-zero naming the cause.

Takes `now` and the facts it needs; `fast` skips everything slow (no subprocess, no integrity
scan) and reuses the Claude CLI facts cached by the last full check.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .config import DbLocation, data_dir, find_claude
from .errors import CnpError

DAEMON_STALE_AFTER = timedelta(seconds=15)
MIN_FREE_BYTES = 200 * 1024 * 1024
CLI_CACHE_FILE = "claude-cli.json"


@dataclass
class Check:
    name: str
    ok: bool
    summary: str
    details: dict[str, Any] = field(default_factory=dict)
    severity: str = "error"  # error: makes the whole report unhealthy; warning: does not


@dataclass
class Report:
    checks: list[Check]
    elapsed_ms: float = 0.0

    @property
    def healthy(self) -> bool:
        return all(c.ok or c.severity != "error" for c in self.checks)

    @property
    def problems(self) -> list[str]:
        return [f"{c.name}: {c.summary}" for c in self.checks if not c.ok and c.severity == "error"]

    def to_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "problems": self.problems,
                "elapsed_ms": round(self.elapsed_ms, 1),
                "checks": {c.name: asdict(c) for c in self.checks}}


def check(location: DbLocation, now: datetime, *, fast: bool = False,
          env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Report:
    started = time.perf_counter()
    env = os.environ if env is None else env
    home = data_dir(env)
    checks: list[Check] = []
    store, db_check = _database(location, fast)
    checks.append(db_check)
    checks.append(_legacy(home, cwd or Path.cwd(), location.path))
    checks.append(_claude(home, env, fast))
    if store is not None:
        try:
            checks.append(_daemon(store, now))
            checks.append(_cooldown(store, now))
            checks.append(_next_run(store, now))
        finally:
            store.close()
    checks.append(_disk(home if location.path is None else location.path.parent))
    return Report(checks, (time.perf_counter() - started) * 1000)


def _database(location: DbLocation, fast: bool) -> tuple[Any, Check]:
    from .store import open_store
    from .store.migrations import latest_version

    details: dict[str, Any] = {"path": location.display()}
    try:
        store = open_store(location, create=False)
    except CnpError as exc:
        return None, Check("database", False, exc.message, details)
    details["schema_version"] = store.schema_version()
    details["latest_schema_version"] = latest_version()
    if location.path is not None:
        details["mode"] = oct(location.path.stat().st_mode & 0o777)
    problems = []
    try:
        store.probe_write()
        details["writable"] = True
    except CnpError as exc:
        details["writable"] = False
        problems.append(exc.message)
    if not fast:
        result = store.integrity_check()
        details["quick_check"] = result
        if result != "ok":
            problems.append(f"integrity check failed: {result}")
    if problems:
        return store, Check("database", False, "; ".join(problems), details)
    return store, Check("database", True, f"schema {details['schema_version']}, writable",
                        details)


def _legacy(home: Path, cwd: Path, ours: Path | None) -> Check:
    from .legacy import find_legacy_databases

    discovery = find_legacy_databases(cwd, home, ours)
    found = [str(p) for p in discovery.found]
    details = {"files": found, "passed_over": discovery.passed_over}
    if found:
        return Check("legacy_database", False,
                     f"found the old tool's database {', '.join(found)}: import it with "
                     "`cnp migrate legacy`", details, severity="warning")
    return Check("legacy_database", True, "none found", details)


def credential_source(env: Mapping[str, str], claude_home: Path) -> str | None:
    """Which credential the CLI will use (never its value)."""
    for name in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_AUTH_TOKEN"):
        if env.get(name):
            return name
    if env.get("CLAUDE_CODE_USE_BEDROCK"):
        return "bedrock"
    if env.get("CLAUDE_CODE_USE_VERTEX"):
        return "vertex"
    if (claude_home / ".credentials.json").is_file():
        return f"{claude_home / '.credentials.json'} (claude login)"
    if _keychain_login(claude_home):
        return "claude login (macOS Keychain)"
    return None


def _keychain_login(claude_home: Path) -> bool:
    """On macOS `claude login` keeps the secret in the Keychain; the account it logged in is
    recorded in `.claude.json` beside (or, by default, above) the config directory."""
    for state in (claude_home / ".claude.json", claude_home.parent / ".claude.json"):
        with contextlib.suppress(OSError):
            if b'"oauthAccount"' in state.read_bytes():
                return True
    return False


def claude_home(env: Mapping[str, str]) -> Path:
    """Where Claude Code keeps its login and settings: $CLAUDE_CONFIG_DIR, else ~/.claude."""
    return Path(env.get("CLAUDE_CONFIG_DIR") or Path(env.get("HOME", "~")) / ".claude"
                ).expanduser()


def preflight(env: Mapping[str, str]) -> list[str]:
    """What would make every Claude run fail, found without running anything: no `claude`
    executable, or no credential for it. One line each, saying what to do."""
    problems = []
    try:
        find_claude(None, env)
    except CnpError:
        named = env.get("CNP_CLAUDE_BIN")
        where = (f"CNP_CLAUDE_BIN={named} is not an executable" if named else
                 "CNP_CLAUDE_BIN is not set and no `claude` is on PATH")
        problems.append(f"no claude CLI found ({where}): Claude runs will fail; install it "
                        "(npm install -g @anthropic-ai/claude-code) or set CNP_CLAUDE_BIN")
    if credential_source(env, claude_home(env)) is None:
        problems.append(
            f"no Claude credential found (no {claude_home(env) / '.credentials.json'}, "
            "CLAUDE_CODE_OAUTH_TOKEN or ANTHROPIC_API_KEY): log in with `claude` then "
            "`/login`, or set CLAUDE_CODE_OAUTH_TOKEN (from `claude setup-token`) or "
            "ANTHROPIC_API_KEY")
    return problems


def _claude(home: Path, env: Mapping[str, str], fast: bool) -> Check:
    source = credential_source(env, claude_home(env))
    details: dict[str, Any] = {"credential_source": source}
    try:
        path = find_claude(None, env)
    except CnpError as exc:
        details["searched"] = exc.message
        return Check("claude_cli", False, exc.message, details)
    details["path"] = str(path)
    cache = home / CLI_CACHE_FILE
    stat = path.stat()
    key = {"path": str(path), "mtime_ns": stat.st_mtime_ns, "size": stat.st_size}
    cached: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        cached = json.loads(cache.read_text())
    if cached.get("key") == key:
        details["version"] = cached.get("version")
    elif not fast:
        details["version"] = _claude_version(path)
        if details["version"]:
            with contextlib.suppress(OSError):
                cache.write_text(json.dumps({"key": key, "version": details["version"]}))
    else:
        details["version"] = None
        details["note"] = "version not cached yet; run `cnp health` without --fast once"
    if details["credential_source"] is None:
        return Check("claude_cli", False,
                     "no credentials: set CLAUDE_CODE_OAUTH_TOKEN or ANTHROPIC_API_KEY, or run "
                     "`claude login` as the user the daemon runs as", details)
    version = details.get("version") or "version unknown"
    return Check("claude_cli", True, f"{path} ({version})", details)


def _claude_version(path: Path) -> str | None:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True,
                             timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().split(" ")[0] or None


def _daemon(store: Any, now: datetime) -> Check:
    daemons = store.daemons.live()
    if not daemons:
        has_jobs = store.counts()["jobs_enabled"] > 0
        return Check("daemon", not has_jobs, "no daemon is running"
                     + ("; enabled jobs will not fire" if has_jobs else "")
                     + ": start one with `cnp daemon`, or `cnp service install` to keep one "
                     "running", {"daemons": []}, severity="error")
    rows = []
    fresh = False
    for d in daemons:
        age = (now - datetime.fromisoformat(d["heartbeat_at"])).total_seconds()
        rows.append({"instance": d["instance_id"], "host": d["host"], "pid": d["pid"],
                     "version": d["version"], "role": d["role"],
                     "heartbeat_age_s": round(age, 1)})
        fresh = fresh or (d["role"] == "active" and age < DAEMON_STALE_AFTER.total_seconds())
    if not fresh:
        newest = min(r["heartbeat_age_s"] for r in rows)
        return Check("daemon", False, f"the daemon's heartbeat is stale ({newest:.0f}s old); "
                     "it may have died or hung", {"daemons": rows})
    active = next(r for r in rows if r["role"] == "active")
    return Check("daemon", True, f"pid {active['pid']} on {active['host']}, heartbeat "
                 f"{active['heartbeat_age_s']}s ago", {"daemons": rows})


def _cooldown(store: Any, now: datetime) -> Check:
    active = store.cooldowns.active(now)
    if active is None:
        return Check("cooldown", True, "no usage limit in force", {"active": False})
    return Check("cooldown", False, f"{active['kind']} usage limit until "
                 f"{active['reset_at']:%Y-%m-%d %H:%M:%S} UTC; Claude runs are deferred",
                 {"active": True, "kind": active["kind"],
                  "reset_at": active["reset_at"].isoformat()}, severity="warning")


def _next_run(store: Any, now: datetime) -> Check:
    due = store.schedule.next_wakeup()
    if due is None:
        return Check("next_run", True, "nothing scheduled", {"next_run_at": None})
    late = (now - due).total_seconds()
    details = {"next_run_at": due.isoformat()}
    if late > 120:
        return Check("next_run", False, f"a run was due {late:.0f}s ago and has not been "
                     "picked up", details)
    return Check("next_run", True, f"next run at {due:%Y-%m-%d %H:%M:%S} UTC", details)


def _disk(directory: Path) -> Check:
    target = directory if directory.exists() else directory.parent
    try:
        free = shutil.disk_usage(target).free
    except OSError as exc:
        return Check("disk", False, f"cannot read free space of {target}: {exc}")
    details = {"path": str(target), "free_bytes": free}
    if free < MIN_FREE_BYTES:
        return Check("disk", False, f"only {free // (1024 * 1024)} MB free in {target}", details)
    return Check("disk", True, f"{free // (1024 ** 3)} GB free", details)


def status_report(store: Any, now: datetime, *, database: str,
                  daemon: Mapping[str, Any] | None, since: datetime) -> dict[str, Any]:
    """`cnp status --format json` and the web API's status, field for field: the database,
    the live daemon (as `daemon.daemon_alive` found it), any usage limit, the next wake-up,
    the runs going now and the last failures (with the CLI's own API retries in each), and
    runs and usage since `since` (the caller's local midnight)."""
    from .runs import api_retry_notes
    from .shapes import iso

    cooldown = store.cooldowns.active(now)
    failures = store.runs.recent(status="failed", limit=5)
    running = store.runs.recent(status="running", limit=20)
    retries = api_retry_notes(store, {r.id: r.status for r in [*running, *failures]})

    def retried(run_id: int) -> dict[str, Any]:
        count, note = retries.get(run_id, (0, None))
        return {"api_retries": count, "api_retry": note}

    return {
        "database": database,
        "schema_version": store.schema_version(),
        "counts": store.counts(),
        "daemon": None if daemon is None else {
            "pid": daemon["pid"], "host": daemon["host"], "version": daemon["version"],
            "heartbeat_at": daemon["heartbeat_at"]},
        "cooldown": None if cooldown is None else {
            "kind": cooldown["kind"], "reset_at": iso(cooldown["reset_at"]),
            "source_execution_id": cooldown["source_execution_id"]},
        "next_run_at": iso(store.schedule.next_wakeup()),
        "running": [
            {"id": r.id, "job_id": r.job_id, "job_name": r.job_name,
             "started_at": iso(r.started_at), **retried(r.id)} for r in running],
        "last_failures": [
            {"id": r.id, "job_id": r.job_id, "job_name": r.job_name,
             "finished_at": iso(r.finished_at), "reason": r.reason, **retried(r.id)}
            for r in failures],
        "today": store.usage.runs_since(since),
    }

