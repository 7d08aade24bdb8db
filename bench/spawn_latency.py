"""Due time -> `claude` process started, with two runs in flight.

The real `cnp daemon` runs as a subprocess on a fresh CNP_HOME, with CNP_CLAUDE_BIN pointing at
a fake `claude` that this script writes: a bash script whose first line records its own start
time ($EPOCHREALTIME, microseconds, no fork) in a file named after its pid, then reads the
prompt from stdin and answers in stream-json like the real CLI (a system init line, then a
`result` line with is_error false).

  * `--in-flight` (default 2) background jobs fire first. Their fake claude keeps streaming an
    assistant line every `--stream-interval` seconds (default 0.1 s; each line is one
    execution_events row the daemon writes) until the benchmark ends, so two runs are in flight
    for the whole measurement.
  * Then measured jobs are created while the daemon runs: `--per-second` (default 2) jobs due
    every second (6-field crons `*/2` and `1-59/2` in the seconds field), each of whose fake
    claude sleeps `--run-s` (default 0.3 s) and answers.
  * The daemon runs with `--concurrency` (default in-flight + per-second = 4: two slots taken by
    the runs in flight, so that a due run never waits for a slot and the lag is the daemon's own).

lag = the fake claude's recorded start - the run's scheduled_for, over `--runs` (default 240)
measured runs (the first fire of each measured job is left out: it measures how fast a new job
is picked up, not spawning). The daemon-side split is shown too: started_at (recorded after the
process was spawned) - scheduled_for.

Target: p99 <= 200 ms.

Usage:

    .venv/bin/python bench/spawn_latency.py [--runs 240] [--per-second 2] [--in-flight 2]
        [--concurrency 4] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchlib import git_state, load_average, pct

TARGET_P99_MS = 200.0

FAKE_CLAUDE = r"""#!/bin/bash
# A stand-in for `claude -p --output-format stream-json --verbose` (benchmark only).
started=$EPOCHREALTIME
printf '%s\n' "$started" > "@DIR@/start.$$"
prompt=$(cat)
sid="bench-$$"
assistant='{"type":"assistant","session_id":"%s","message":{"role":"assistant",'
assistant+='"content":[{"type":"text","text":"working %d"}]}}\n'
result='{"type":"result","subtype":"success","is_error":false,"result":"done",'
result+='"session_id":"%s","num_turns":1,"duration_ms":1,"duration_api_ms":1,'
result+='"total_cost_usd":0,"usage":{"input_tokens":1,"output_tokens":1}}\n'
printf '{"type":"system","subtype":"init","session_id":"%s","model":"fake-model"}\n' "$sid"
case "$prompt" in
  LONG*)
    n=0
    while [ ! -e "@DIR@/stop" ]; do
      n=$((n + 1))
      printf "$assistant" "$sid" "$n"
      sleep @INTERVAL@
    done
    ;;
  *)
    sleep @RUN_S@
    ;;
esac
printf "$result" "$sid"
"""


def ts(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Latency from a run's due time to its claude process starting, measured "
        "on the real `cnp daemon` with a fake claude, while other runs are in flight.")
    parser.add_argument("--runs", type=int, default=240,
                        help="measured runs (default %(default)s)")
    parser.add_argument("--per-second", type=int, default=2,
                        help="measured runs due each second (default %(default)s)")
    parser.add_argument("--in-flight", type=int, default=2,
                        help="long runs kept in flight meanwhile (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="the daemon's --concurrency (default: in-flight + per-second)")
    parser.add_argument("--run-s", type=float, default=0.3,
                        help="how long a measured fake claude run lasts (default %(default)s)")
    parser.add_argument("--stream-interval", type=float, default=0.1,
                        help="seconds between the in-flight runs' output lines (default "
                        "%(default)s)")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    args = parser.parse_args(argv)
    concurrency = args.concurrency or args.in_flight + args.per_second

    from night_pilot import catalog
    from night_pilot.config import resolve_db
    from night_pilot.store import open_store

    cnp = Path(sys.executable).parent / "cnp"
    if not cnp.exists():
        raise SystemExit(f"{cnp} not found: run this with the project's venv interpreter")
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "nproc": os.cpu_count(),
        "python": platform.python_version(), "runs": args.runs, "per_second": args.per_second,
        "in_flight": args.in_flight, "concurrency": concurrency, "run_s": args.run_s,
        "stream_interval_s": args.stream_interval, "loadavg_start": load_average(),
        "code": git_state(),
    }
    with tempfile.TemporaryDirectory(prefix="cnp-spawn-") as tmp_text:
        tmp = Path(tmp_text)
        home, marks, work = tmp / "home", tmp / "marks", tmp / "work"
        for d in (home, marks, work):
            d.mkdir()
        fake = tmp / "claude"
        fake.write_text(FAKE_CLAUDE.replace("@DIR@", str(marks))
                        .replace("@INTERVAL@", f"{args.stream_interval:g}")
                        .replace("@RUN_S@", f"{args.run_s:g}"))
        fake.chmod(0o755)
        location = resolve_db(env={"CNP_HOME": str(home)})
        db_path = location.path
        assert db_path is not None

        # The background runs: due two seconds after the daemon's start.
        with open_store(location) as store:
            now = datetime.now(UTC)
            long_prompt = catalog.create_prompt(
                store, catalog.make_prompt("long", "LONG: keep streaming", []), now)
            first = (now + timedelta(seconds=4)).replace(microsecond=0)
            for i in range(args.in_flight):
                catalog.create_job(store, catalog.JobSpec(
                    prompt_id=long_prompt.id, name=f"in flight {i}", timezone="UTC",
                    cron=f"{first.second} {first.minute} {first.hour} * * *",
                    work_dir=str(work)), now, work)

        env = dict(os.environ, CNP_HOME=str(home), CNP_CLAUDE_BIN=str(fake))
        env.pop("CNP_DB", None)
        log = open(tmp / "daemon.stderr", "w")  # noqa: SIM115
        daemon = subprocess.Popen(
            [str(cnp), "daemon", "--concurrency", str(concurrency), "--shutdown-grace", "10"],
            env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            db = sqlite3.connect(db_path, timeout=10)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                running = db.execute(
                    "SELECT count(*) FROM job_executions WHERE status = 'running'").fetchone()[0]
                if running >= args.in_flight:
                    break
                if daemon.poll() is not None:
                    raise SystemExit("cnp daemon exited: "
                                     + (tmp / "daemon.stderr").read_text()[-2000:])
                time.sleep(0.2)
            else:
                raise SystemExit("the in-flight runs did not start within 30 s")

            # The measured jobs, created while the daemon runs.
            with open_store(location) as store:
                now = datetime.now(UTC)
                prompt = catalog.create_prompt(
                    store, catalog.make_prompt("short", "answer briefly", []), now)
                created_at = now
                measured_ids = []
                for i in range(2 * args.per_second):
                    cron = "*/2 * * * * *" if i % 2 == 0 else "1-59/2 * * * * *"
                    measured_ids.append(catalog.create_job(store, catalog.JobSpec(
                        prompt_id=prompt.id, name=f"measured {i}", timezone="UTC", cron=cron,
                        work_dir=str(work)), now, work).id)
            # Leave out each job's first fire (pick-up of a new job, not spawn latency).
            measure_from = created_at + timedelta(seconds=3)
            marks_ids = ",".join(str(i) for i in measured_ids)
            query_done = (
                f"SELECT count(*) FROM job_executions WHERE job_id IN ({marks_ids})"
                " AND scheduled_for >= ? AND status IN ('completed', 'failed')")
            deadline = time.monotonic() + args.runs / args.per_second * 2 + 60
            while time.monotonic() < deadline:
                done = db.execute(query_done, (measure_from.strftime(
                    "%Y-%m-%dT%H:%M:%S.%fZ"),)).fetchone()[0]
                if done >= args.runs:
                    break
                if daemon.poll() is not None:
                    raise SystemExit("cnp daemon exited: "
                                     + (tmp / "daemon.stderr").read_text()[-2000:])
                time.sleep(1.0)
            in_flight_now = db.execute(
                "SELECT count(*) FROM job_executions e JOIN jobs j ON j.id = e.job_id"
                " WHERE j.name LIKE 'in flight %' AND e.status = 'running'").fetchone()[0]
        finally:
            (marks / "stop").touch()
            daemon.send_signal(signal.SIGTERM)
            try:
                code = daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                code = daemon.wait()
            log.close()

        rows = db.execute(
            f"SELECT id, job_id, scheduled_for, status, pid, queued_at, started_at, reason"
            f" FROM job_executions WHERE job_id IN ({marks_ids}) ORDER BY scheduled_for, id"
        ).fetchall()
        background = db.execute(
            "SELECT e.status, count(*), (SELECT count(*) FROM execution_events v"
            " JOIN job_executions x ON x.id = v.execution_id JOIN jobs y ON y.id = x.job_id"
            " WHERE y.name LIKE 'in flight %') FROM job_executions e JOIN jobs j"
            " ON j.id = e.job_id WHERE j.name LIKE 'in flight %' GROUP BY e.status").fetchall()
        db.close()
        starts = {int(p.name.split(".")[1]): float(p.read_text())
                  for p in marks.glob("start.*")}

    measured = [r for r in rows if ts(r[2]) >= measure_from.timestamp()][: args.runs]  # type: ignore[operator]
    statuses: dict[str, int] = {}
    for r in measured:
        statuses[r[3]] = statuses.get(r[3], 0) + 1
    lags, daemon_side, pids = [], [], []
    for _, _, scheduled, _, pid, _, started, _ in measured:
        due = ts(scheduled)
        assert due is not None
        if pid in starts:
            lags.append((starts[pid] - due) * 1000)
            pids.append(pid)
        if started:
            daemon_side.append((ts(started) - due) * 1000)  # type: ignore[operator]
    not_spawned = len(measured) - len(lags)
    p99 = pct(lags, 99)
    ok = (p99 is not None and p99 <= TARGET_P99_MS and not_spawned == 0
          and len(lags) >= min(args.runs, 200))
    meta["loadavg_end"] = load_average()
    result = {
        "meta": meta, "measured": len(measured), "spawned": len(lags),
        "not_spawned": not_spawned, "statuses": statuses,
        "p50_ms": pct(lags, 50), "p90_ms": pct(lags, 90), "p99_ms": p99,
        "max_ms": max(lags) if lags else None, "min_ms": min(lags) if lags else None,
        "daemon_started_at_p50_ms": pct(daemon_side, 50),
        "daemon_started_at_p99_ms": pct(daemon_side, 99),
        "in_flight_at_end": in_flight_now, "background": background,
        "pid_reuse": len(pids) - len(set(pids)), "daemon_exit": code,
    }

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:,.1f}"

    print(f"# spawn latency: {json.dumps(meta)}")
    print("| runs | p50 ms | p90 ms | p99 ms | max ms | started_at p50/p99 ms | target |"
          " verdict |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {len(lags)} | {f(result['p50_ms'])} | {f(result['p90_ms'])} | {f(p99)} |"
          f" {f(result['max_ms'])} | {f(result['daemon_started_at_p50_ms'])} /"
          f" {f(result['daemon_started_at_p99_ms'])} | p99 <= {TARGET_P99_MS:g} ms |"
          f" {'PASS' if ok else 'FAIL'} |")
    print(f"measured run statuses: {statuses}; not spawned: {not_spawned}; in-flight runs "
          f"still running at the end: {in_flight_now}/{args.in_flight}; background (status, "
          f"runs, events): {background}; daemon exit code {code}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
