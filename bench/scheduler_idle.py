"""Idle benchmark: 10,000 schedules, the real `cnp daemon`, 10 minutes.

A fresh temporary CNP_HOME is filled through the catalog/store API with 10,000 enabled jobs:
a mix of cron expressions people write (nightly, weekday mornings, weekly, monthly, yearly,
`@` macros, 6-field with seconds) across ten IANA zones. Expressions whose next fire time falls
inside the window (plus a five-minute margin) are left out, so by default nothing is due while
we measure: this is the daemon's pure idle cost. `--due K` adds K jobs that fire every minute
with the shell executor running `true`, for an idle-but-not-empty variant.

Then `cnp daemon` (the venv's console script, default options: concurrency 2, info logging to
stderr and the rotating daemon.log) runs as a subprocess. After a warm-up, its CPU time is read
from /proc/<pid>/stat (utime + stime, all threads) at the start and end of the window and once a
minute in between; peak RSS is VmHWM from /proc/<pid>/status at the end. CPU is reported as a
percentage of one core: CPU seconds / wall seconds * 100.

Targets: <= 0.5 % of one core, peak RSS <= 80 MB. The documented numbers come from a full
10-minute run; `--minutes` shortens it for smoke runs.

Usage:

    .venv/bin/python bench/scheduler_idle.py [--minutes 10] [--jobs 10000] [--due 0]
        [--warmup 10] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchlib import git_state, load_average

TARGET_CPU_PCT = 0.5
TARGET_RSS_MB = 80.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Schedules people write. Anything due inside the window is filtered out per run.
CRONS = [
    "0 2 * * *", "30 3 * * *", "15 1 * * *", "0 4 * * 1-5", "45 23 * * *", "0 9 * * 1",
    "30 8 * * mon-fri", "0 22 * * 0", "0 6 1 * *", "0 0 1 1 *", "0 3 * * sat,sun",
    "10 2 1-7 * 1", "0 12 15 * *", "0 */6 * * *", "0 */2 * * *", "5 * * * *", "50 * * * *",
    "@daily", "@weekly", "@monthly", "@yearly", "@hourly",
    "0 30 2 * * *", "15 0 4 * * 1-5", "0 0 0 1 * *", "30 45 6 * * *",
]
ZONES = [
    "UTC", "Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles",
    "America/Sao_Paulo", "Asia/Tokyo", "Asia/Kolkata", "Australia/Sydney", "Pacific/Auckland",
]


def populate(home: Path, jobs: int, due_jobs: int, quiet_until: datetime,
             seed: int = 3) -> dict[str, Any]:
    """Fill CNP_HOME's database through the public API. Returns what was created."""
    from night_pilot import catalog
    from night_pilot.config import resolve_db
    from night_pilot.cron import parse_cron
    from night_pilot.store import open_store

    rng = random.Random(seed)
    now = datetime.now(UTC)
    work = home / "work"
    work.mkdir(parents=True, exist_ok=True)
    # Keep only (cron, zone) pairs whose next fire is after the window.
    pairs = []
    for cron in CRONS:
        for zone in ZONES:
            nxt = parse_cron(cron, zone).next_after(now)
            if nxt is not None and nxt > quiet_until:
                pairs.append((cron, zone))
    used: dict[str, int] = {}
    with open_store(resolve_db(env={"CNP_HOME": str(home)})) as store, store.write():
        prompt_ids = [
            catalog.create_prompt(store, catalog.make_prompt(
                f"prompt {i}", f"Task {i}: review last night's changes and report.\n" * 3,
                []), now).id
            for i in range(50)
        ]
        for i in range(jobs):
            cron, zone = rng.choice(pairs)
            used[cron] = used.get(cron, 0) + 1
            catalog.create_job(store, catalog.JobSpec(
                prompt_id=rng.choice(prompt_ids), cron=cron, timezone=zone,
                name=f"job {i}", work_dir=str(work)), now, work)
        if due_jobs:
            shell = catalog.create_prompt(store, catalog.make_prompt("true", "true", []), now)
            for i in range(due_jobs):
                catalog.create_job(store, catalog.JobSpec(
                    prompt_id=shell.id, cron="* * * * *", timezone="UTC", name=f"due {i}",
                    executor="shell", work_dir=str(work)), now, work)
    return {"pairs": len(pairs), "distinct_crons": len(used), "zones": len(ZONES)}


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def ctx_switches(pid: int) -> int:
    return status_kb(pid, "voluntary_ctxt_switches")



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="CPU and peak RSS of an idle `cnp daemon` holding 10,000 schedules.")
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="length of the measured window (default %(default)s)")
    parser.add_argument("--jobs", type=int, default=10_000,
                        help="schedules in the database (default %(default)s)")
    parser.add_argument("--due", type=int, default=0,
                        help="extra jobs firing every minute with the shell executor running "
                        "`true` (default %(default)s: nothing is due in the window)")
    parser.add_argument("--warmup", type=float, default=10.0,
                        help="seconds between the daemon's start and the window (default "
                        "%(default)s)")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    args = parser.parse_args(argv)

    cnp = Path(sys.executable).parent / "cnp"
    if not cnp.exists():
        raise SystemExit(f"{cnp} not found: run this with the project's venv interpreter")
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "nproc": os.cpu_count(),
        "python": platform.python_version(), "jobs": args.jobs, "due_jobs": args.due,
        "minutes": args.minutes, "warmup_s": args.warmup, "loadavg_start": load_average(),
        "code": git_state(),
    }
    with tempfile.TemporaryDirectory(prefix="cnp-idle-") as tmp:
        home = Path(tmp) / "home"
        quiet_until = (datetime.now(UTC)
                       + timedelta(minutes=args.minutes + 5, seconds=args.warmup + 120))
        t0 = time.monotonic()
        meta["data"] = populate(home, args.jobs, args.due, quiet_until)
        meta["fill_s"] = round(time.monotonic() - t0, 1)
        env = dict(os.environ, CNP_HOME=str(home))
        env.pop("CNP_DB", None)
        log = open(Path(tmp) / "daemon.stderr", "w")  # noqa: SIM115
        daemon = subprocess.Popen([str(cnp), "daemon"], env=env, stdout=log, stderr=log,
                                  stdin=subprocess.DEVNULL)
        pid = daemon.pid
        try:
            time.sleep(args.warmup)
            if daemon.poll() is not None:
                raise SystemExit(f"cnp daemon exited {daemon.returncode}: "
                                 + (Path(tmp) / "daemon.stderr").read_text()[-2000:])
            startup_ticks = cpu_ticks(pid)
            startup_rss = status_kb(pid, "VmHWM")
            wall0, ticks0, ctx0 = time.monotonic(), startup_ticks, ctx_switches(pid)
            minutes: list[dict[str, float]] = []
            end = wall0 + args.minutes * 60
            last_wall, last_ticks = wall0, ticks0
            while True:
                now = time.monotonic()
                if now >= end:
                    break
                time.sleep(min(60.0, end - now))
                wall, ticks = time.monotonic(), cpu_ticks(pid)
                minutes.append({
                    "cpu_pct": (ticks - last_ticks) / CLK_TCK / (wall - last_wall) * 100,
                    "rss_mb": status_kb(pid, "VmRSS") / 1024,
                })
                last_wall, last_ticks = wall, ticks
            wall1, ticks1, ctx1 = time.monotonic(), cpu_ticks(pid), ctx_switches(pid)
            hwm_kb = status_kb(pid, "VmHWM")
            rss_kb = status_kb(pid, "VmRSS")
            threads = status_kb(pid, "Threads")
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                code = daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                code = daemon.wait()
            log.close()
        db = sqlite3.connect(home / "claude-night-pilot.db")
        runs = dict(db.execute(
            "SELECT status, count(*) FROM job_executions GROUP BY status").fetchall())
        jobs_in_db = db.execute("SELECT count(*) FROM jobs WHERE enabled = 1").fetchone()[0]
        db.close()

    elapsed = wall1 - wall0
    cpu_s = (ticks1 - ticks0) / CLK_TCK
    cpu_pct = cpu_s / elapsed * 100
    peak_mb = hwm_kb / 1024
    meta["loadavg_end"] = load_average()
    result = {
        "meta": meta, "window_s": elapsed, "cpu_s": cpu_s, "cpu_pct_of_core": cpu_pct,
        "startup_cpu_s": startup_ticks / CLK_TCK, "startup_peak_rss_mb": startup_rss / 1024,
        "peak_rss_mb": peak_mb, "rss_end_mb": rss_kb / 1024, "threads": threads,
        "wakeups_per_s": (ctx1 - ctx0) / elapsed, "per_minute": minutes,
        "runs_by_status": runs, "enabled_jobs": jobs_in_db, "daemon_exit": code,
    }
    cpu_ok, rss_ok = cpu_pct <= TARGET_CPU_PCT, peak_mb <= TARGET_RSS_MB
    print(f"# idle: {json.dumps(meta)}")
    print("| metric | value | target | verdict |")
    print("|---|---|---|---|")
    print(f"| CPU, % of one core ({elapsed / 60:.1f} min window) | {cpu_pct:.3f} % "
          f"({cpu_s:.2f} CPU s) | <= {TARGET_CPU_PCT} % | {'PASS' if cpu_ok else 'FAIL'} |")
    print(f"| peak RSS (VmHWM) | {peak_mb:.1f} MB | <= {TARGET_RSS_MB:g} MB |"
          f" {'PASS' if rss_ok else 'FAIL'} |")
    print(f"| RSS at the end (VmRSS) | {rss_kb / 1024:.1f} MB | - | - |")
    print(f"| start-up ({args.warmup:g} s warm-up) | {startup_ticks / CLK_TCK:.2f} CPU s, "
          f"VmHWM {startup_rss / 1024:.1f} MB | - | - |")
    print(f"| voluntary context switches | {(ctx1 - ctx0) / elapsed:.1f} /s | - | - |")
    per_minute = ", ".join(f"{m['cpu_pct']:.3f}" for m in minutes)
    print(f"per-minute CPU %: {per_minute}")
    print(f"enabled jobs {jobs_in_db:,}; runs during the test by status: {runs or 'none'}; "
          f"threads {threads}; daemon exit code {code}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
