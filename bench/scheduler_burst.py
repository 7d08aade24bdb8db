"""Burst benchmark: N jobs due in the same second, a no-op executor.

For each size (default 1,000 and 5,000) it runs, each in a fresh child process so that no
scenario inherits another's threads, heap or imports:

    ours          a temporary SQLite database filled through the catalog/store API with N jobs
                  whose 6-field cron fires at one fixed second a few seconds ahead, and the real
                  `Daemon` loop (night_pilot.daemon) in a thread with an injected runner that
                  does no work: it records its invocation, marks the run running and finishes
                  it as completed through the store, exactly like the real runner's protocol.
                  Logging is configured as `cnp daemon` does (info, text to a stream and JSON
                  to a rotating file), so the trace events are paid for.
    aps-grace3600 APScheduler 3.11: BackgroundScheduler, SQLAlchemyJobStore on an SQLite file,
                  the default ThreadPoolExecutor (10 threads), N cron jobs firing at the same
                  second, misfire_grace_time=3600.
    aps-default   the same with APScheduler's default misfire_grace_time (1 s).

Measured per scenario:

    lag      ours: the moment the claimed run was handed to the daemon's workers, after the
             claim transaction committed (observed by wrapping `Daemon._hand_over`; nothing
             else is changed) - scheduled_for. The daemon materializes fire times a few
             seconds ahead (DaemonConfig.lookahead_s), so at the due time only the claim is
             left. The queued_at column is shown beside it: the daemon stamps it with the
             `now` read at the start of its pass, so it reads earlier than the claim.
             Ours also reports call lag (no-op invoked - scheduled_for).
             APScheduler: the time the function was called - the scheduled time (it has no
             claim step; the call is the earliest point we can observe).
             Percentiles are over all N jobs; a job that never ran counts as infinitely late.
    thrpt    runs completed per second, from the due time to the last completion.
    missed   ours: rows with status `missed` plus jobs whose no-op never ran before the timeout;
             APScheduler: jobs whose function never ran (its EVENT_JOB_MISSED events and
             "was missed by" warnings are counted too).
    dups     ours: rows sharing (job_id, scheduled_for, attempt) (impossible by UNIQUE) and jobs
             whose no-op ran more than once (every invocation is recorded); APScheduler: jobs
             whose function ran more than once.

Our daemon runs with each concurrency:prefetch pair of --configs (default "2:default,2:32"):
the `cnp daemon` defaults (--concurrency 2, and the prefetch the daemon picks for SQLite:
`daemon.default_prefetch`, 10,000, one daemon taking a whole burst into its queue), then a
prefetch of 32 (the PostgreSQL default, where daemons share a burst; `--prefetch 32`), whose
lag is the time a concurrency of 2 takes to work through the burst, not the scheduler's.

Targets (ours): p99 claim lag <= 100 ms at 1,000 and <= 500 ms at 5,000; zero missed, zero
duplicates. The ratio column is APScheduler's p99 over ours (claim / call).

Usage:

    .venv/bin/python bench/scheduler_burst.py [--sizes 1000,5000] [--configs 2:default,2:32]
        [--no-apscheduler] [--streaming K] [--json OUT]

Needs the `bench` extra for the APScheduler side: pip install '.[bench]'.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchlib import git_state, load_average, pct, pct_all

TARGET_P99_MS = {1000: 100.0, 5000: 500.0}
DEFAULT_SIZES = "1000,5000"


# -- statistics -------------------------------------------------------------------------------


def lead_seconds(n: int, per_job_s: float) -> float:
    """How far ahead the common due second is put: time to fill the store and start up."""
    return 6.0 + n * per_job_s


def due_second(lead: float) -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)


# -- ours -------------------------------------------------------------------------------------


STREAMER = r'''#!@PYTHON@
import json, os, sys, time
sys.stdin.read()
until = float(os.environ["STREAM_UNTIL"])
line = (json.dumps({"type": "assistant", "session_id": "s", "message": {"content": [
    {"type": "text", "text": "x" * 300}]}}) + "\n").encode() * 100
out = sys.stdout.buffer
while time.time() < until:
    out.write(line)
out.write(b'{"type": "result", "subtype": "success", "is_error": false, "result": "ok"}\n')
'''


def child_ours(n: int, concurrency: int, prefetch: int | None, timeout: float, tmp: Path,
               log_info: bool, streaming: int = 0) -> dict[str, Any]:
    from night_pilot import catalog
    from night_pilot.config import resolve_db
    from night_pilot.daemon import Daemon, DaemonConfig
    from night_pilot.models import ExecutorKind, RunResult, RunStatus
    from night_pilot.runner import Runner
    from night_pilot.runs import trigger_job
    from night_pilot.store import open_store
    from night_pilot.tracing import configure

    db_path = tmp / "burst.db"
    location = resolve_db(str(db_path))
    if log_info:
        stream = open(tmp / "daemon.stderr", "w")  # noqa: SIM115  (lives as long as the child)
        configure("text", "info", stream=stream, file=str(tmp / "daemon.log"))

    # Fill the store through the service API, in one transaction (nested calls join it).
    due = due_second(lead_seconds(n, 0.004))
    cron = f"{due.second} {due.minute} {due.hour} * * *"
    t0 = time.monotonic()
    with open_store(location) as store:
        now = datetime.now(UTC)
        with store.write():
            prompt = catalog.create_prompt(store, catalog.make_prompt("burst", "noop", []), now)
            for i in range(n):
                catalog.create_job(store, catalog.JobSpec(
                    prompt_id=prompt.id, cron=cron, name=f"burst-{i}", timezone="UTC",
                    executor="shell"), now, tmp)
        # Runs that stream output at full speed through the burst: the real runner records
        # them while the claims happen.
        streamers = []
        if streaming:
            fake = tmp / "streaming-claude"
            fake.write_text(STREAMER.replace("@PYTHON@", sys.executable))
            fake.chmod(0o755)
            os.environ["CNP_CLAUDE_BIN"] = str(fake)
            os.environ["STREAM_UNTIL"] = str(due.timestamp() + 8)
            with store.write():
                for i in range(streaming):
                    job = catalog.create_job(store, catalog.JobSpec(
                        prompt_id=prompt.id, cron="@yearly", name=f"stream-{i}",
                        timezone="UTC"), now, tmp)
                    assert job.id is not None
                    streamers.append(trigger_job(store, job.id, now).id)
    fill_s = time.monotonic() - t0

    calls: list[tuple[int, int | None, str, int, float]] = []
    calls_lock = threading.Lock()
    all_in = threading.Event()

    class NoopRunner:
        """Does no work: records the invocation and completes the run through the store."""

        def __init__(self, store: Any, instance: str, clock: Any, config: Any) -> None:
            self.store, self.instance, self.clock = store, instance, clock

        def run(self, run: Any, cancel: Any = None) -> Any:
            called = time.time()
            with calls_lock:
                calls.append((run.id, run.job_id, run.scheduled_for.isoformat(), run.attempt,
                              called))
                if len(calls) >= n:
                    all_in.set()
            token = run.fencing_token
            if not self.store.claims.mark_running(run.id, self.instance, token, self.clock(),
                                           pid=os.getpid(), process_start=None, argv=["noop"],
                                           prompt_text=None, prompt_sha256=None):
                return None
            result = RunResult(RunStatus.COMPLETED, exit_code=0)
            self.store.claims.finish(run.id, self.instance, token, result, self.clock())
            return result

    # Observe (not change) the claim: `claim_runs` hands each run to the daemon's workers
    # (`Daemon._hand_over`) once its transaction has committed; the moment each run is handed
    # over is recorded. The daemon stamps queued_at with the `now` read at the top of its
    # pass, so queued_at is earlier than the real claim by the claim's own work.
    claimed_at: dict[int, float] = {}
    real_hand_over = Daemon._hand_over

    def observed_hand_over(self: Daemon, run: Any) -> None:
        claimed_at.setdefault(run.id, time.time())
        real_hand_over(self, run)

    class Dispatch:
        """The no-op for the burst's shell jobs, the real runner for the streaming runs."""

        def __init__(self, store: Any, instance: str, clock: Any, config: Any) -> None:
            self.noop = NoopRunner(store, instance, clock, config)
            self.real = Runner(store, instance, clock, config)

        def run(self, run: Any, cancel: Any = None) -> Any:
            if run.settings.executor == ExecutorKind.CLAUDE:
                return self.real.run(run, cancel)
            return self.noop.run(run, cancel)

    Daemon._hand_over = observed_hand_over  # type: ignore[method-assign]
    config = DaemonConfig(concurrency=concurrency + streaming, prefetch=prefetch,
                          shutdown_grace_s=15)
    daemon = Daemon(location, config, runner_factory=Dispatch if streaming else NoopRunner)
    thread = threading.Thread(target=daemon.run, name="daemon", daemon=True)
    thread.start()
    if datetime.now(UTC) > due - timedelta(seconds=1):
        raise SystemExit(f"filling {n} jobs took {fill_s:.1f}s, past the due time; "
                         "raise the lead in lead_seconds()")
    due_ts = due.timestamp()
    all_in.wait(max(0.0, due_ts - time.time()) + timeout)
    time.sleep(0.5)  # let the last finish_run commit; late duplicates would show up here too
    daemon.stopping.set()
    daemon.wake.set()
    thread.join(60)

    db = sqlite3.connect(db_path)
    rows = db.execute(
        "SELECT job_id, scheduled_for, attempt, status, queued_at, finished_at, id"
        " FROM job_executions").fetchall()
    dup_rows = db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM job_executions GROUP BY job_id, scheduled_for,"
        " attempt HAVING count(*) > 1)").fetchone()[0]
    db.close()

    def ts(text: str | None) -> float | None:
        return datetime.fromisoformat(text).timestamp() if text else None

    stream_ids = set(streamers)
    rows = [r for r in rows if r[6] not in stream_ids]
    streamed = []
    if streamers:
        db = sqlite3.connect(db_path)
        for run_id in streamers:
            status, lines = db.execute(
                "SELECT status, (SELECT count(*) FROM execution_events WHERE execution_id = ?)"
                " FROM job_executions WHERE id = ?", (run_id, run_id)).fetchone()
            streamed.append({"status": status, "lines": lines})
        db.close()
    queued_lags = [(ts(r[4]) - ts(r[1])) * 1000 for r in rows if r[4]]  # type: ignore[operator]
    claim_lags = [(claimed_at[r[6]] - ts(r[1])) * 1000  # type: ignore[operator]
                  for r in rows if r[6] in claimed_at]
    completed = [r for r in rows if r[3] == "completed"]
    missed_rows = sum(1 for r in rows if r[3] == "missed")
    per_job: dict[int | None, int] = {}
    for _, job_id, _, _, _ in calls:
        per_job[job_id] = per_job.get(job_id, 0) + 1
    ran_twice = sum(1 for c in per_job.values() if c > 1)
    never_ran = n - len(per_job)
    last_finish = max((ts(r[5]) or 0.0) for r in completed) if completed else due_ts
    span = max(last_finish - due_ts, 1e-6)
    call_lags = [(c[4] - ts(c[2])) * 1000 for c in calls]  # type: ignore[operator]
    return {
        "scheduler": "ours", "n": n, "concurrency": concurrency, "streaming": streamed,
        "prefetch": f"{daemon.prefetch:,}" + (" (default)" if prefetch is None else ""),
        "fill_s": round(fill_s, 2),
        "lag_kind": "run handed over after the claim committed - scheduled_for",
        "p50_ms": pct_all(claim_lags, n, 50), "p99_ms": pct_all(claim_lags, n, 99),
        "max_ms": pct_all(claim_lags, n, 100),
        "queued_at_p50_ms": pct_all(queued_lags, n, 50),
        "queued_at_p99_ms": pct_all(queued_lags, n, 99),
        "call_p50_ms": pct_all(call_lags, n, 50), "call_p99_ms": pct_all(call_lags, n, 99),
        "completed": len(completed), "throughput_per_s": len(completed) / span,
        "span_s": span, "missed": missed_rows + never_ran, "missed_rows": missed_rows,
        "never_ran": never_ran, "duplicate_rows": dup_rows, "ran_twice": ran_twice,
        "duplicates": dup_rows + ran_twice, "rows": len(rows),
    }


# -- APScheduler ------------------------------------------------------------------------------

_APS_CALLS: list[tuple[int, float]] = []
_APS_LOCK = threading.Lock()
_APS_DONE = threading.Event()
_APS_EXPECTED = [0]


def aps_noop(i: int) -> None:
    """The job function: records the call time and the job's index (module level, so the
    SQLAlchemy job store can store a reference to it)."""
    called = time.time()
    with _APS_LOCK:
        _APS_CALLS.append((i, called))


class _MissedCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.missed = 0
        self.other: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "was missed by" in message:
            self.missed += 1
        elif len(self.other) < 5:
            self.other.append(message)


def child_aps(n: int, grace: int | None, timeout: float, tmp: Path) -> dict[str, Any]:
    from apscheduler.events import (
        EVENT_JOB_ERROR,
        EVENT_JOB_EXECUTED,
        EVENT_JOB_MISSED,
        JobEvent,
    )
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    counter = _MissedCounter()
    aps_log = logging.getLogger("apscheduler")
    aps_log.addHandler(counter)
    aps_log.setLevel(logging.WARNING)
    aps_log.propagate = False

    events = {"executed": 0, "missed": 0, "error": 0}
    events_lock = threading.Lock()
    settled = threading.Event()

    def listener(event: JobEvent) -> None:
        with events_lock:
            key = {EVENT_JOB_EXECUTED: "executed", EVENT_JOB_MISSED: "missed"}.get(
                event.code, "error")
            events[key] += 1
            if events["executed"] + events["missed"] + events["error"] >= n:
                settled.set()

    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{tmp / 'aps.db'}")},
        executors={"default": ThreadPoolExecutor()},  # its default size (10 threads)
        timezone=UTC,
    )
    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    due = due_second(lead_seconds(n, 0.006))
    trigger = CronTrigger(second=due.second, minute=due.minute, hour=due.hour, timezone=UTC)
    t0 = time.monotonic()
    scheduler.start(paused=True)  # jobs go straight to the job store; nothing fires yet
    extra = {} if grace is None else {"misfire_grace_time": grace}
    for i in range(n):
        scheduler.add_job(aps_noop, trigger, args=[i], id=f"burst-{i}", **extra)
    scheduler.resume()
    fill_s = time.monotonic() - t0
    if datetime.now(UTC) > due - timedelta(seconds=1):
        raise SystemExit(f"adding {n} APScheduler jobs took {fill_s:.1f}s, past the due time")
    due_ts = due.timestamp()
    settled.wait(max(0.0, due_ts - time.time()) + timeout)
    time.sleep(0.5)
    scheduler.shutdown(wait=True)

    with _APS_LOCK:
        calls = list(_APS_CALLS)
    lags = [(t - due_ts) * 1000 for _, t in calls]
    per_job: dict[int, int] = {}
    for i, _ in calls:
        per_job[i] = per_job.get(i, 0) + 1
    never_ran = n - len(per_job)
    ran_twice = sum(1 for c in per_job.values() if c > 1)
    last = max((t for _, t in calls), default=due_ts)
    span = max(last - due_ts, 1e-6)
    return {
        "scheduler": "apscheduler " + ("grace=1s (default)" if grace is None
                                       else f"grace={grace:g}s"),
        "n": n, "fill_s": round(fill_s, 2), "lag_kind": "call (called - scheduled)",
        # over all N jobs: a job whose function never ran counts as infinitely late
        "p50_ms": pct_all(lags, n, 50), "p99_ms": pct_all(lags, n, 99),
        "max_ms": pct_all(lags, n, 100),
        "ran_p99_ms": pct(lags, 99),
        "completed": len(calls), "throughput_per_s": len(calls) / span if calls else 0.0,
        "span_s": span, "missed": never_ran, "never_ran": never_ran,
        "missed_events": events["missed"], "missed_warnings": counter.missed,
        "errors": events["error"], "duplicates": ran_twice, "ran_twice": ran_twice,
        "other_warnings": counter.other,
    }


# -- orchestration ----------------------------------------------------------------------------


def run_child(args: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cnp-burst-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--child", *args, "--tmp", tmp, "--child-out", str(out)]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0 or not out.exists():
            raise SystemExit(f"child {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def parse_configs(text: str, n: int) -> list[tuple[int, str]]:
    """"2:default,2:32,2:N" -> [(2, "default"), (2, "32"), (2, str(n))]: concurrency:prefetch
    pairs, N = the burst size, default = the daemon's own (`default_prefetch`)."""
    configs = []
    for item in text.split(","):
        conc, _, pre = item.strip().partition(":")
        pre = pre.strip().lower()
        configs.append((int(conc), str(n) if pre == "n" else
                        "default" if pre == "default" else str(int(pre))))
    return configs


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return "never" if math.isinf(value) else f"{value:,.1f}"


def ratio(num: float | None, den: float | None) -> str:
    if num is None or not den or math.isinf(den):
        return "-"
    return "n/a (missed runs)" if math.isinf(num) else f"{num / den:,.2f}x"


def verdict(r: dict[str, Any]) -> tuple[str, str]:
    target = TARGET_P99_MS.get(r["n"])
    if target is None:
        return "-", "-"
    ok = (r["p99_ms"] is not None and r["p99_ms"] <= target and r["missed"] == 0
          and r["duplicates"] == 0)
    return f"p99 <= {target:g} ms, 0 missed, 0 dups", "PASS" if ok else "FAIL"


def tables(results: list[dict[str, Any]]) -> str:
    lines = ["Ours (lag = run handed to the workers once its claim committed - scheduled_for;"
             " queued_at column shown for reference):",
             "",
             "| N | concurrency:prefetch | p50 ms | p99 ms | max ms | queued_at p50/p99 ms |"
             " call p50/p99 ms | runs/s | missed | dups | target | verdict |",
             "|" + "---|" * 12]
    for r in results:
        if r["scheduler"] != "ours":
            continue
        target, ok = verdict(r)
        lines.append(
            f"| {r['n']:,} | {r['concurrency']}:{r['prefetch']} | {fmt_ms(r['p50_ms'])} |"
            f" {fmt_ms(r['p99_ms'])} | {fmt_ms(r['max_ms'])} |"
            f" {fmt_ms(r['queued_at_p50_ms'])} / {fmt_ms(r['queued_at_p99_ms'])} |"
            f" {fmt_ms(r['call_p50_ms'])} / {fmt_ms(r['call_p99_ms'])} |"
            f" {r['throughput_per_s']:,.0f} | {r['missed']:,} | {r['duplicates']:,} | {target} |"
            f" {ok} |")
    aps = [r for r in results if r["scheduler"] != "ours"]
    if aps:
        lines += ["", "APScheduler 3.11 (lag = function called - scheduled time; ratio = its p99 "
                  "over ours, per our configuration, claim / call):", "",
                  "| N | scheduler | p50 ms | p99 ms | max ms | runs/s | missed | 'missed by'"
                  " warnings | dups | p99 ratio vs ours |", "|" + "---|" * 10]
        for r in aps:
            ours = [o for o in results if o["scheduler"] == "ours" and o["n"] == r["n"]]
            ratios = []
            for o in ours:
                ratios.append(f"{o['concurrency']}:{o['prefetch']}: "
                              f"{ratio(r['p99_ms'], o['p99_ms'])} / "
                              f"{ratio(r['p99_ms'], o['call_p99_ms'])}")
            lines.append(
                f"| {r['n']:,} | {r['scheduler']} | {fmt_ms(r['p50_ms'])} |"
                f" {fmt_ms(r['p99_ms'])} | {fmt_ms(r['max_ms'])} |"
                f" {r['throughput_per_s']:,.0f} | {r['missed']:,} | {r['missed_warnings']:,} |"
                f" {r['duplicates']:,} | {'; '.join(ratios) or '-'} |")
            if r["missed"]:
                lines.append(f"|  | (the {r['completed']:,} that ran: p99"
                             f" {fmt_ms(r['ran_p99_ms'])} ms) | | | | | | | | |")
    return "\n".join(lines)



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="N jobs due in the same second with a no-op executor: our daemon vs "
        "APScheduler 3.11 (SQLAlchemy SQLite job store).")
    parser.add_argument("--sizes", default=DEFAULT_SIZES,
                        help="comma-separated job counts (default %(default)s)")
    parser.add_argument("--configs", default="2:default,2:32",
                        help="our daemon's concurrency:prefetch pairs, N meaning the burst size "
                        "and default the daemon's own choice (default %(default)s: the `cnp "
                        "daemon` defaults, then the prefetch daemons use on PostgreSQL)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds after the due time to wait for every run (default "
                        "%(default)s); runs not done by then count as missed")
    parser.add_argument("--no-apscheduler", action="store_true",
                        help="measure only our daemon")
    parser.add_argument("--quiet-log", action="store_true",
                        help="do not configure info logging for our daemon (cnp daemon does)")
    parser.add_argument("--streaming", type=int, default=0, metavar="K",
                        help="K runs streaming output at full speed through each of our bursts "
                        "(real runner, fake claude), in slots of their own")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    # internal: one scenario in a fresh process
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind, n = args.child[0], int(args.child[1])
        tmp = Path(args.tmp)
        if kind == "ours":
            prefetch = None if args.child[3] == "default" else int(args.child[3])
            result = child_ours(n, int(args.child[2]), prefetch, args.timeout, tmp,
                                not args.quiet_log, args.streaming)
        else:
            grace = None if args.child[2] == "default" else int(args.child[2])
            result = child_aps(n, grace, args.timeout, tmp)
        Path(args.child_out).write_text(json.dumps(result))
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    common = ["--timeout", str(args.timeout), "--streaming", str(args.streaming)] + (
        ["--quiet-log"] if args.quiet_log else [])
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(), "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version, "configs": args.configs,
        "logging": "none" if args.quiet_log else "info (as cnp daemon)",
        "loadavg_start": load_average(), "code": git_state(),
    }
    results = []
    for n in sizes:
        for conc, pre in parse_configs(args.configs, n):
            print(f"N={n:,}: ours {conc}:{pre} ...", file=sys.stderr, flush=True)
            results.append(run_child(["ours", str(n), str(conc), str(pre), *common]))
        if not args.no_apscheduler:
            for grace in ("3600", "default"):
                print(f"N={n:,}: apscheduler grace={grace} ...", file=sys.stderr, flush=True)
                results.append(run_child(["aps", str(n), grace, *common]))
    meta["loadavg_end"] = load_average()
    print(f"# burst: {json.dumps(meta)}")
    print(tables(results))
    print()
    for r in results:
        if r["scheduler"] == "ours":
            print(f"ours N={r['n']:,} {r['concurrency']}:{r['prefetch']}: fill {r['fill_s']}s,"
                  f" completed {r['completed']:,}, missed rows {r['missed_rows']}, never ran "
                  f"{r['never_ran']}, duplicate rows {r['duplicate_rows']}, ran twice "
                  f"{r['ran_twice']}, last completion {r['span_s']:.2f}s after due"
                  + (f"; streaming beside it: {r['streaming']}" if r["streaming"] else ""))
        else:
            print(f"{r['scheduler']} N={r['n']:,}: fill {r['fill_s']}s, ran {r['completed']:,},"
                  f" never ran {r['never_ran']:,}, EVENT_JOB_MISSED {r['missed_events']:,}, "
                  f"'missed by' warnings {r['missed_warnings']:,}, errors {r['errors']}, last "
                  f"call {r['span_s']:.2f}s after due")
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
