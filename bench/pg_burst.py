"""PostgreSQL scale-out burst: N runs due in the same second across several daemons.

Three scenarios in one run, each coordinated by a fresh child process that starts its daemons
as processes of their own (nothing is inherited: no threads, heap, imports or connections):

    pg-4      four daemons sharing one PostgreSQL database
    pg-1      one daemon on PostgreSQL
    sqlite-1  one daemon on an SQLite file: the single-daemon baseline, same machine, same run

Each scenario gets an empty database: on PostgreSQL a new schema on the server that
`scripts/postgres.sh start` runs (the URL's search_path points at it; the schema is dropped
afterwards), for SQLite a temporary file. N jobs (default 5,000) whose 6-field cron fires at one
fixed second a few seconds ahead are created through the catalog/store API
(`catalog.build_job` + `store.jobs.insert`, all in one transaction). Then the daemons start and
register, and nothing happens until the due second.

A daemon is `python bench/pg_burst.py --daemon DB ...`: the real `night_pilot.daemon.Daemon`
loop in its main thread (signals, workers, LISTEN/NOTIFY on PostgreSQL) with an injected runner
that executes nothing but follows the run protocol: `mark_running`, then `finish_run` as
completed, both fenced by the run's token, with the daemon's clock. Logging is configured as
`cnp daemon` does (info, text to a stream and JSON to a rotating file), so the trace events are
paid for. Settings: DaemonConfig's defaults (lease 30 s, ...), prefetch 32 (the PostgreSQL
default, set for SQLite too) and `--concurrency` (default 2, the `cnp daemon` default: a
no-op run holds a worker for two short transactions, so how many runs one pass claims,
concurrency + prefetch = 34, matters more than the number of workers).

To see where the time goes, each daemon wraps (observes, never changes) the two scheduler calls
its loop makes, `materialize_some` and `claim_runs`, recording when each call began and ended and
how many runs it created or claimed; the moment `claim_runs` returns, its transaction has
committed. At exit a daemon writes these records, each runner invocation and its own CPU time.

Measured per scenario, over all N jobs (a job that never ran counts as infinitely late):

    lag        claim time - scheduled_for, with the claim time the run's queued_at column (the
               `now` the daemon read at the top of the pass that claimed it; on PostgreSQL the
               database's clock); beside it the moment that claim committed (observed, see
               above) - scheduled_for
    start      first start: started_at (mark_running) - scheduled_for
    thrpt      runs completed per second, from the due time to the last finished_at
    missed     rows with status `missed` plus jobs without a completed run at the end
    dups       rows sharing (job_id, scheduled_for, attempt) (impossible by UNIQUE), fire times
               with more than one started row, runs whose runner was invoked more than once,
               across all daemons
    spread     per daemon: runs materialized, claimed and completed, passes that claimed
    cpu        CPU seconds of the daemons (rusage) and of the PostgreSQL server's processes
               (/proc) between the due time and the last completion, beside the wall time

Usage:

    .venv/bin/python bench/pg_burst.py [--jobs 5000] [--daemons 4] [--concurrency 2]
        [--scenarios pg-4,pg-1,sqlite-1] [--pg-url URL] [--json OUT]

The PostgreSQL server is the one `bash scripts/postgres.sh start` prints (started if needed)
unless --pg-url names another; the benchmark only ever creates and drops its own schemas.
Needs the `postgres` extra (psycopg).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchlib import git_state, load_average, pct_all

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
TERMINAL = ("completed", "failed", "cancelled", "interrupted", "missed", "skipped")


# -- statistics -------------------------------------------------------------------------------


def ts(text: Any) -> float | None:
    return datetime.fromisoformat(str(text)).timestamp() if text else None


# -- a daemon process -------------------------------------------------------------------------


def daemon_main(db: str, concurrency: int, out: Path, log_dir: Path, log_info: bool) -> int:
    from night_pilot import daemon as daemon_module, runs as runs_module
    from night_pilot.config import resolve_db
    from night_pilot.daemon import Daemon, DaemonConfig
    from night_pilot.models import Run, RunResult, RunStatus
    from night_pilot.runner import RunnerConfig, StopSignal
    from night_pilot.store import Store
    from night_pilot.tracing import configure

    tag = f"daemon-{os.getpid()}"
    if log_info:
        stream = open(log_dir / f"{tag}.stderr", "w")  # noqa: SIM115  (lives as long as we do)
        configure("text", "info", stream=stream, file=str(log_dir / f"{tag}.log"))

    calls: list[tuple[int, float, bool]] = []  # run id, invoked at, mark_running succeeded
    calls_lock = threading.Lock()

    class NoopRunner:
        """Executes nothing; marks the run running and finishes it, fenced by its token."""

        def __init__(self, store: Store, instance: str, now: Any, config: RunnerConfig) -> None:
            self.store, self.instance, self.now = store, instance, now

        def run(self, run: Run, cancel: StopSignal | None = None) -> RunResult | None:
            assert run.fencing_token is not None
            invoked = time.time()
            started = self.store.claims.mark_running(
                run.id, self.instance, run.fencing_token, self.now(), pid=os.getpid(),
                process_start=None, argv=["noop"], prompt_text=None, prompt_sha256=None)
            with calls_lock:
                calls.append((run.id, invoked, started))
            if not started:
                return None
            result = RunResult(RunStatus.COMPLETED, exit_code=0)
            self.store.claims.finish(run.id, self.instance, run.fencing_token, result, self.now())
            return result

    # Observe (never change) the loop's two scheduler calls.
    materialized: list[tuple[float, float, int]] = []
    claims: list[tuple[float, float, int]] = []
    claimed_at: dict[int, float] = {}
    real_materialize, real_claim = daemon_module.materialize_some, runs_module.claim_runs

    def observed_materialize(*args: Any, **kwargs: Any) -> Any:
        began = time.time()
        created, more = real_materialize(*args, **kwargs)
        if created:
            materialized.append((began, time.time(), len(created)))
        return created, more

    def observed_claim(*args: Any, **kwargs: Any) -> Any:
        began = time.time()
        runs = real_claim(*args, **kwargs)
        committed = time.time()
        if runs:
            claims.append((began, committed, len(runs)))
        for run in runs:
            claimed_at.setdefault(run.id, committed)
        return runs

    daemon_module.materialize_some = observed_materialize  # type: ignore[assignment]
    runs_module.claim_runs = observed_claim  # type: ignore[assignment]

    # Prefetch 32 on both backends, so that they are compared alike (the SQLite daemon's own
    # default takes a whole burst at once: bench/scheduler_burst.py measures that).
    daemon = Daemon(resolve_db(db), DaemonConfig(concurrency=concurrency, prefetch=32),
                    runner_factory=NoopRunner)
    code = daemon.run()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.write_text(json.dumps({
        "instance": daemon.instance, "pid": os.getpid(), "code": code,
        "cpu_s": usage.ru_utime + usage.ru_stime, "calls": calls,
        "materialized": materialized, "claims": claims,
        "claimed_at": {str(k): v for k, v in claimed_at.items()},
    }))
    return code


# -- CPU accounting ---------------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def postgres_cpu_s() -> float:
    """CPU seconds of every postgres process on this machine (the server and its backends)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm.startswith("postgres"):
            total += proc_cpu_s(int(entry.name))
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    return float(sum(parts[:8]) - idle), float(sum(parts[:8]))


# -- one scenario -----------------------------------------------------------------------------


def with_schema(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


def fill(db: str, n: int, due: datetime, tmp: Path) -> float:
    """N jobs firing at `due`, through the catalog/store API, in one transaction."""
    from night_pilot import catalog
    from night_pilot.config import resolve_db
    from night_pilot.store import open_store

    cron = f"{due.second} {due.minute} {due.hour} * * *"
    t0 = time.monotonic()
    with open_store(resolve_db(db)) as store:
        now = datetime.now(UTC)
        with store.write():
            prompt = catalog.create_prompt(store, catalog.make_prompt("burst", "noop", []), now)
            for i in range(n):
                job = catalog.build_job(catalog.JobSpec(
                    prompt_id=prompt.id or 0, cron=cron, name=f"burst-{i}", timezone="UTC",
                    executor="shell"), prompt, now, tmp)
                store.jobs.insert(job, now)
    return time.monotonic() - t0


class Reader:
    """Read-only queries of the coordinator, on either backend."""

    def __init__(self, db: str) -> None:
        self.pg = db.startswith("postgresql://")
        if self.pg:
            import psycopg

            self.conn: Any = psycopg.connect(db, autocommit=True)
        else:
            self.conn = sqlite3.connect(db, isolation_level=None)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(sql).fetchall())

    def run(self, sql: str) -> None:
        self.conn.execute(sql)

    def close(self) -> None:
        self.conn.close()


def scenario_main(name: str, backend: str, daemons: int, n: int, concurrency: int,
                  timeout: float, pg_url: str | None, tmp: Path, log_info: bool,
                  analyze: bool) -> dict[str, Any]:
    schema = None
    if backend == "postgresql":
        import psycopg

        assert pg_url
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        db = with_schema(pg_url, schema)
    else:
        db = str(tmp / "burst.db")
    try:
        return _scenario(name, backend, db, daemons, n, concurrency, timeout, tmp, log_info,
                         analyze)
    finally:
        if schema is not None:
            import psycopg

            assert pg_url
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                             " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                             " AND application_name = 'cnp' AND query ILIKE %s",
                             (f"%{schema}%",))
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _scenario(name: str, backend: str, db: str, k: int, n: int, concurrency: int,
              timeout: float, tmp: Path, log_info: bool, analyze: bool) -> dict[str, Any]:
    # Far enough ahead to fill the database and start the daemons first.
    due = (datetime.now(UTC) + timedelta(seconds=8 + n * 0.0025)).replace(microsecond=0)
    fill_s = fill(db, n, due, tmp)
    if analyze and backend == "postgresql":
        # Statistics, as autovacuum gathers them within a minute of the jobs' creation. Without
        # them the planner may pick an index scan that reads every job for one (see --help).
        reader = Reader(db)
        reader.run("ANALYZE prompts, jobs, job_executions")
        reader.close()

    procs = []
    outs = [tmp / f"daemon{i}.json" for i in range(k)]
    for i in range(k):
        cmd = [sys.executable, __file__, "--daemon", db, "--concurrency", str(concurrency),
               "--out", str(outs[i]), "--log-dir", str(tmp)]
        if not log_info:
            cmd.append("--quiet-log")
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                      stderr=open(tmp / f"daemon{i}.err", "w")))  # noqa: SIM115
    reader = Reader(db)
    deadline = time.monotonic() + 60
    while len(reader.rows("SELECT instance_id FROM daemons WHERE role = 'active'"
                          " AND stopped_at IS NULL")) < k:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise SystemExit(f"{name}: the daemons did not all register; see {tmp}")
        time.sleep(0.1)
    ready_s = (due - datetime.now(UTC)).total_seconds()
    if ready_s < 1.0:
        raise SystemExit(f"{name}: filling {n} jobs ({fill_s:.1f}s) and starting the daemons "
                         "reached the due time; raise the lead in _scenario()")
    due_ts = due.timestamp()
    time.sleep(max(0.0, due_ts - time.time() - 0.3))
    cpu_before = (sum(proc_cpu_s(p.pid) for p in procs),
                  postgres_cpu_s() if backend == "postgresql" else 0.0, machine_cpu())
    time.sleep(max(0.0, due_ts - time.time()))

    # Until every job has a finished run (or the timeout). The poll is one small query.
    done_sql = ("SELECT count(*) FROM job_executions WHERE status IN ("
                + ",".join(f"'{s}'" for s in TERMINAL) + ")")
    stop_at = due_ts + timeout
    while time.time() < stop_at:
        if reader.rows(done_sql)[0][0] >= n:
            break
        time.sleep(0.2)
    cpu_after = (sum(proc_cpu_s(p.pid) for p in procs),
                 postgres_cpu_s() if backend == "postgresql" else 0.0, machine_cpu())
    time.sleep(0.5)  # a late duplicate would show up here
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(90)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    reports = []
    for i, out in enumerate(outs):
        if not out.exists():
            err = (tmp / f"daemon{i}.err").read_text()[-3000:]
            raise SystemExit(f"{name}: daemon {i} wrote no report:\n{err}")
        reports.append(json.loads(out.read_text()))

    rows = reader.rows(
        "SELECT id, job_id, scheduled_for, attempt, status, queued_at, started_at, finished_at,"
        " claimed_by, reason FROM job_executions")
    reader.close()
    problems = []
    for i in range(k):
        for line in (tmp / f"daemon{i}.err").read_text().splitlines():
            if "ERROR" in line or "Traceback" in line or "WARNING" in line:
                problems.append(f"daemon {i}: {line[:300]}")
    result = measure(name, backend, n, k, concurrency, due_ts, fill_s, ready_s, rows, reports,
                     cpu_before, cpu_after)
    result["analyzed"] = analyze and backend == "postgresql"
    result["daemon_problems"] = problems[:20]
    result["daemon_problem_count"] = len(problems)
    return result


def measure(name: str, backend: str, n: int, k: int, concurrency: int, due_ts: float,
            fill_s: float, ready_s: float, rows: list[tuple[Any, ...]],
            reports: list[dict[str, Any]], cpu_before: Any, cpu_after: Any) -> dict[str, Any]:
    queued = [(ts(r[5]) - ts(r[2])) * 1000 for r in rows if r[5]]  # type: ignore[operator]
    started = [(ts(r[6]) - ts(r[2])) * 1000 for r in rows  # type: ignore[operator]
               if r[6] and r[3] == 1]
    claimed_at = {int(i): t for rep in reports for i, t in rep["claimed_at"].items()}
    committed = [(claimed_at[r[0]] - ts(r[2])) * 1000  # type: ignore[operator]
                 for r in rows if r[0] in claimed_at]
    completed = [r for r in rows if r[4] == "completed"]
    last_finish = max((ts(r[7]) or 0.0) for r in completed) if completed else due_ts
    span = max(last_finish - due_ts, 1e-6)

    dup_rows = sum(1 for c in Counter((r[1], r[2], r[3]) for r in rows).values() if c > 1)
    started_twice = sum(1 for c in Counter((r[1], r[2]) for r in rows if r[6]).values()
                        if c > 1)
    invocations = Counter(call[0] for rep in reports for call in rep["calls"])
    invoked_twice = sum(1 for c in invocations.values() if c > 1)
    missed_rows = sum(1 for r in rows if r[4] == "missed")
    jobs_done = {r[1] for r in completed}
    never_completed = n - len(jobs_done)

    spread = []
    for rep in reports:
        inst = rep["instance"]
        spread.append({
            "instance": inst, "pid": rep["pid"], "cpu_s": round(rep["cpu_s"], 2),
            "materialized": sum(m[2] for m in rep["materialized"]),
            "claimed": sum(1 for r in rows if r[8] == inst),
            "completed": sum(1 for r in completed if r[8] == inst),
            "claim_passes": len(rep["claims"]),
            "materialize_s": round(sum(m[1] - m[0] for m in rep["materialized"]), 3),
            "claim_s": round(sum(c[1] - c[0] for c in rep["claims"]), 3),
        })
    mat_end = max((m[1] for rep in reports for m in rep["materialized"]), default=None)
    first_claim = min((c[1] for rep in reports for c in rep["claims"]), default=None)

    daemon_cpu = cpu_after[0] - cpu_before[0]
    pg_cpu = cpu_after[1] - cpu_before[1]
    busy = cpu_after[2][0] - cpu_before[2][0]
    total = cpu_after[2][1] - cpu_before[2][1]
    return {
        "scenario": name, "backend": backend, "daemons": k, "n": n,
        "concurrency": concurrency, "prefetch": 32, "fill_s": round(fill_s, 2),
        "ready_before_due_s": round(ready_s, 2),
        "p50_ms": pct_all(queued, n, 50), "p99_ms": pct_all(queued, n, 99),
        "max_ms": pct_all(queued, n, 100),
        "commit_p50_ms": pct_all(committed, n, 50), "commit_p99_ms": pct_all(committed, n, 99),
        "commit_max_ms": pct_all(committed, n, 100),
        "start_p50_ms": pct_all(started, n, 50), "start_p99_ms": pct_all(started, n, 99),
        "start_max_ms": pct_all(started, n, 100),
        "completed": len(completed), "throughput_per_s": len(completed) / span,
        "span_s": span,
        "materialized_by_s": None if mat_end is None else mat_end - due_ts,
        "first_claim_s": None if first_claim is None else first_claim - due_ts,
        "missed": missed_rows + never_completed, "missed_rows": missed_rows,
        "never_completed": never_completed, "duplicate_rows": dup_rows,
        "started_twice": started_twice, "invoked_twice": invoked_twice,
        "duplicates": dup_rows + started_twice + invoked_twice, "rows": len(rows),
        "spread": spread, "statuses": dict(Counter(str(r[4]) for r in rows)),
        "not_completed_reasons": sorted({str(r[9]) for r in rows if r[4] != "completed"})[:10],
        "window_s": round(total / CLK_TCK / (os.cpu_count() or 1), 2),
        "cpu_daemons_s": round(daemon_cpu, 2), "cpu_postgres_s": round(pg_cpu, 2),
        "cpu_machine_busy_pct": round(100 * busy / total, 1) if total else None,
    }


# -- orchestration ----------------------------------------------------------------------------

SCENARIOS = {"pg-4": ("postgresql", 4), "pg-1": ("postgresql", 1), "sqlite-1": ("sqlite", 1)}


def run_child(args: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cnp-pgburst-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--scenario", *args, "--tmp", tmp, "--child-out",
               str(out)]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0 or not out.exists():
            raise SystemExit(f"scenario {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def server_url() -> str:
    out = subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "start"],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise SystemExit(f"scripts/postgres.sh start failed:\n{out.stderr}")
    return out.stdout.strip().splitlines()[-1]


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return "never" if math.isinf(value) else f"{value:,.{digits}f}"


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| scenario | lag p50 ms | lag p99 ms | lag max ms | commit p99 ms | first start"
        " p50/p99 ms | runs/s | last done s | missed | dups | work per daemon (claimed) |",
        "|" + "---|" * 11]
    for r in results:
        per = " / ".join(f"{s['claimed']:,}" for s in r["spread"])
        lines.append(
            f"| {r['scenario']} | {fmt(r['p50_ms'])} | {fmt(r['p99_ms'])} | {fmt(r['max_ms'])}"
            f" | {fmt(r['commit_p99_ms'])} | {fmt(r['start_p50_ms'])} /"
            f" {fmt(r['start_p99_ms'])} | {r['throughput_per_s']:,.0f} | {r['span_s']:.2f} |"
            f" {r['missed']:,} | {r['duplicates']:,} | {per} |")
    return "\n".join(lines)


def ratios(results: list[dict[str, Any]]) -> dict[str, float | None]:
    by = {r["scenario"]: r for r in results}
    out: dict[str, float | None] = {}
    base = by.get("sqlite-1")
    if base is None:
        return out
    for other in ("pg-4", "pg-1"):
        r = by.get(other)
        if r is None:
            continue
        for key in ("p99_ms", "commit_p99_ms", "start_p99_ms", "throughput_per_s"):
            a, b = r[key], base[key]
            ok = a is not None and b and not math.isinf(a) and not math.isinf(b)
            out[f"{other}/{key}"] = a / b if ok else None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="N runs due in the same second: four daemons on PostgreSQL, one on "
        "PostgreSQL, one on SQLite, with a no-op runner that follows the run protocol.")
    parser.add_argument("--jobs", type=int, default=5000, help="burst size (default %(default)s)")
    parser.add_argument("--daemons", type=int, default=4,
                        help="daemons of the scale-out scenario (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="each daemon's worker threads (default %(default)s, as cnp daemon)")
    parser.add_argument("--scenarios", default="pg-4,pg-1,sqlite-1",
                        help="which to run, in this order (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=180.0,
                        help="seconds after the due time to wait for every run (default "
                        "%(default)s); runs not done by then count as missed")
    parser.add_argument("--pg-url", help="PostgreSQL server URL (default: scripts/postgres.sh)")
    parser.add_argument("--quiet-log", action="store_true",
                        help="do not configure info logging in the daemons (cnp daemon does)")
    parser.add_argument("--no-analyze", action="store_true",
                        help="do not ANALYZE the PostgreSQL tables after creating the jobs "
                        "(a table filled seconds ago has no statistics yet; autovacuum gathers "
                        "them within a minute)")
    parser.add_argument("--json", metavar="OUT", help="also write the raw results as JSON")
    # internal: one scenario's coordinator, and one daemon, each a fresh process
    parser.add_argument("--scenario", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--daemon", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--log-dir", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.daemon:
        return daemon_main(args.daemon, args.concurrency, Path(args.out), Path(args.log_dir),
                           not args.quiet_log)
    if args.scenario:
        name, backend, k = args.scenario[0], args.scenario[1], int(args.scenario[2])
        result = scenario_main(name, backend, k, args.jobs, args.concurrency, args.timeout,
                               args.pg_url, Path(args.tmp), not args.quiet_log,
                               not args.no_analyze)
        Path(args.child_out).write_text(json.dumps(result))
        return 0

    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in names if s.replace("pg-4", "pg-k") not in ("pg-k", "pg-1", "sqlite-1")]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    pg_url = args.pg_url
    if pg_url is None and any(s.startswith("pg") for s in names):
        pg_url = server_url()
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(), "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version, "jobs": args.jobs, "concurrency": args.concurrency,
        "prefetch": 32, "logging": "none" if args.quiet_log else "info (as cnp daemon)",
        "pg_analyze_after_fill": not args.no_analyze,
        "loadavg_start": load_average(), "code": git_state(),
    }
    if pg_url:
        import psycopg

        with psycopg.connect(pg_url, autocommit=True) as conn:
            meta["postgres"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
            meta["postgres_settings"] = {
                s: conn.execute(f"SHOW {s}").fetchone()[0]  # type: ignore[index]
                for s in ("fsync", "synchronous_commit", "shared_buffers")}
    common = ["--jobs", str(args.jobs), "--concurrency", str(args.concurrency),
              "--timeout", str(args.timeout)] + (["--quiet-log"] if args.quiet_log else [])
    if args.no_analyze:
        common.append("--no-analyze")
    if pg_url:
        common += ["--pg-url", pg_url]
    results = []
    loads = []
    for name in names:
        backend = "sqlite" if name.startswith("sqlite") else "postgresql"
        k = args.daemons if name == "pg-4" else 1
        label = f"pg-{k}" if name == "pg-4" else name
        print(f"{label}: {args.jobs:,} jobs, {k} daemon(s) ...", file=sys.stderr, flush=True)
        loads.append(load_average())
        results.append(run_child([label, backend, str(k), *common]))
    meta["loadavg_per_scenario"] = loads
    meta["loadavg_end"] = load_average()
    rat = ratios(results)
    print(f"# pg_burst: {json.dumps(meta)}")
    print(table(results))
    print()
    for r in results:
        print(f"{r['scenario']}: fill {r['fill_s']}s (ready {r['ready_before_due_s']}s before "
              f"due), all materialized {fmt(r['materialized_by_s'], 2)}s after due, first claim "
              f"committed {fmt(r['first_claim_s'], 3)}s after due; completed "
              f"{r['completed']:,}; missed rows {r['missed_rows']}, never completed "
              f"{r['never_completed']}; duplicate rows {r['duplicate_rows']}, started twice "
              f"{r['started_twice']}, invoked twice {r['invoked_twice']}; CPU in the window: "
              f"daemons {r['cpu_daemons_s']}s, postgres {r['cpu_postgres_s']}s, machine busy "
              f"{r['cpu_machine_busy_pct']}%; statuses {r['statuses']}")
        for line in r["not_completed_reasons"]:
            print(f"    not completed: {line}")
        if r["daemon_problem_count"]:
            print(f"    {r['daemon_problem_count']} warning/error lines in the daemons' logs:")
            for line in r["daemon_problems"]:
                print(f"      {line}")
        for s in r["spread"]:
            print(f"    {s['instance']}: materialized {s['materialized']:,}, claimed "
                  f"{s['claimed']:,} in {s['claim_passes']} passes, completed "
                  f"{s['completed']:,}; in materialize_some {s['materialize_s']}s, in "
                  f"claim_runs {s['claim_s']}s; CPU {s['cpu_s']}s")
    if rat:
        print()
        for key, value in rat.items():
            print(f"ratio {key} (vs sqlite-1): {fmt(value, 2)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results,
                                               "ratios": rat}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
