"""How fast a run's output is recorded: lines per second into SQLite and PostgreSQL, for one
run and for four at once, beside the rate at which the same program writes the same lines
to a file (`claude > file`).

The real `cnp daemon` runs as a subprocess on a fresh database (an SQLite file, or a new schema
on the PostgreSQL server `scripts/postgres.sh start` runs, or `--pg-url`), with CNP_CLAUDE_BIN
pointing at a fake `claude` that this script writes: it reads the prompt, then prints a
`system/init` line, `--lines` assistant lines of about `--line-bytes` bytes (stream-json, as
the real CLI prints them) and a `result` line: as fast as its pipe takes them (`burst`), or
paced at a given number of lines a second (`--rates`). The jobs are triggered at once and
the daemon runs them
(`--concurrency 4`).

Measured, per scenario and round:

    raw       the fake with its stdout redirected to a file: seconds from its start to its
              exit (four copies at once for the four-run scenarios). How long the program
              takes to print its lines when nobody reads them slowly.
    recorded  the run's started_at -> finished_at, as the daemon recorded them: from the
              process's start until its last line and outcome are committed. For four runs,
              from the first start to the last finish.
    lines/s   lines (every line stored: init, assistant lines, result) / recorded seconds.
    x raw     recorded / raw: how much longer recording takes than printing to a file.

Each run must complete with every line stored (counted in the database), or the benchmark
fails. Scenarios run interleaved in rounds (raw, sqlite, postgres, raw, ...) because this
machine's speed drifts.

Targets: one run printing in a burst, >= 50,000 lines/s into SQLite and >= 20,000 lines/s
into PostgreSQL; a 100,000-line run recorded within 2x the time the program took to print it
to a file. A program that prints 100,000 lines in a burst writes them to a file in ~50 ms,
which no reader that parses each line (as the runner must, for the result and usage) can
match; the ratio target is judged for a program printing at 50,000 lines a second (`--rates`),
faster than a Claude run prints, and the burst ratio is reported beside it.

Usage:

    .venv/bin/python bench/ingest.py [--lines 100000] [--line-bytes 300] [--rounds 3]
        [--backends sqlite,postgres] [--pg-url URL] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from benchlib import ROOT, git_state, load_average

TARGETS = {"sqlite": 50_000.0, "postgres": 20_000.0}
TARGET_RATIO = 2.0

FAKE = r'''#!@PYTHON@
import json, os, sys, time
sys.stdin.read()
lines, size = int(os.environ["FAKE_LINES"]), int(os.environ["FAKE_LINE_BYTES"])
out = sys.stdout.buffer
sid = "bench-%d" % os.getpid()
def line(i):
    text = ("step %d " % i).ljust(size, "x")
    return (json.dumps({"type": "assistant", "session_id": sid, "message": {
        "role": "assistant", "model": "claude-bench",
        "content": [{"type": "text", "text": text}]}}) + "\n").encode()
body = [line(i) for i in range(min(lines, 1000))]
rate = float(os.environ.get("FAKE_RATE") or 0)
start = time.monotonic()
out.write((json.dumps({"type": "system", "subtype": "init", "session_id": sid,
                        "model": "claude-bench"}) + "\n").encode())
for i in range(0, lines, 1000):
    if rate:  # paced: the i-th line is printed no sooner than i / rate seconds in
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
    out.write(b"".join(body[: min(1000, lines - i)]))
out.write((json.dumps({"type": "result", "subtype": "success", "is_error": False,
    "result": "done", "session_id": sid, "num_turns": 1, "total_cost_usd": 0.0,
    "usage": {"input_tokens": 1, "output_tokens": 1}}) + "\n").encode())
out.flush()
took = time.monotonic() - start
if os.environ.get("FAKE_TIMES"):
    with open(os.path.join(os.environ["FAKE_TIMES"], str(os.getpid())), "w") as fh:
        fh.write(str(took))
'''


def cnp_bin() -> str:
    return str(Path(sys.executable).with_name("cnp"))


def write_fake(tmp: Path) -> Path:
    path = tmp / "claude"
    path.write_text(FAKE.replace("@PYTHON@", sys.executable))
    path.chmod(0o755)
    return path


def raw(fake: Path, env: dict[str, str], runs: int, tmp: Path) -> float:
    """Seconds from the first start to the last exit of `runs` copies writing to files."""
    procs = []
    start = time.monotonic()
    for i in range(runs):
        out = open(tmp / f"raw-{i}.out", "wb")  # noqa: SIM115  (closed below)
        procs.append((subprocess.Popen([str(fake)], stdin=subprocess.DEVNULL, stdout=out,
                                       env=env), out))
    for proc, out in procs:
        proc.wait()
        out.close()
    took = time.monotonic() - start
    for i in range(runs):
        (tmp / f"raw-{i}.out").unlink()
    return took


def pg_schema(base: str) -> tuple[str, str]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}", schema


def drop_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def query(db: str, sql: str) -> list[tuple[Any, ...]]:
    if db.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(db, autocommit=True) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(sql).fetchall()


def recorded(fake: Path, env: dict[str, str], db: str, runs: int, lines: int,
             tmp: Path) -> dict[str, Any]:
    """Trigger `runs` jobs on a daemon and time how long each took to be recorded."""
    env = {**env, "CNP_CLAUDE_BIN": str(fake), "CNP_DB": db}
    cnp = cnp_bin()

    def call(*args: str) -> Any:
        out = subprocess.run([cnp, *args, "--format", "json"], env=env, capture_output=True,
                             text=True, check=True)
        return json.loads(out.stdout) if out.stdout.strip() else None

    call("init")
    prompt = call("prompt", "create", "ingest", "print a lot")
    jobs = [call("job", "create", str(prompt["id"]), "@yearly", "--name", f"ingest-{i}",
                 "--work-dir", str(tmp), "--no-register")["id"] for i in range(runs)]
    log = open(tmp / "daemon.log", "ab")  # noqa: SIM115  (closed below)
    daemon = subprocess.Popen([cnp, "daemon", "--concurrency", str(max(runs, 1)),
                               "--log-format", "json"], env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        time.sleep(1.0)
        for job_id in jobs:
            call("job", "trigger", str(job_id))
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = query(db, "SELECT count(*) FROM job_executions WHERE status IN"
                             " ('completed', 'failed', 'interrupted', 'cancelled')")[0][0]
            if done >= runs:
                break
            time.sleep(0.2)
        else:
            raise SystemExit("the runs did not finish within 600 s")
    finally:
        daemon.terminate()
        daemon.wait(60)
        log.close()
    rows = query(db, "SELECT e.id, e.status, e.started_at, e.finished_at,"
                     " (SELECT count(*) FROM execution_events v WHERE v.execution_id = e.id)"
                     " FROM job_executions e ORDER BY e.id")
    for run_id, status, _, _, stored in rows:
        if status != "completed" or stored != lines + 2:
            raise SystemExit(f"run {run_id}: {status}, {stored} of {lines + 2} lines stored")

    def ts(text: str) -> float:
        return datetime.fromisoformat(text).timestamp()

    first = min(ts(r[2]) for r in rows)
    last = max(ts(r[3]) for r in rows)
    return {"seconds": last - first, "per_run_s": [ts(r[3]) - ts(r[2]) for r in rows]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--line-bytes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", default="1,4", help="concurrent runs per scenario")
    parser.add_argument("--rates", default="burst,50000",
                        help="how fast the fake prints: burst, or lines per second")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    backends = args.backends.split(",")
    counts = [int(n) for n in args.runs.split(",")]
    pg_url = args.pg_url
    if "postgres" in backends and pg_url is None:
        out = subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "start"],
                             capture_output=True, text=True, check=True)
        pg_url = out.stdout.strip().splitlines()[-1]
    load_before = load_average()
    rates = args.rates.split(",")
    results: dict[tuple[str, int, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="cnp-ingest-") as tmp_name:
        tmp = Path(tmp_name)
        fake = write_fake(tmp)
        env = {**os.environ, "FAKE_LINES": str(args.lines),
               "FAKE_LINE_BYTES": str(args.line_bytes), "CNP_HOME": str(tmp / "home"),
               "PYTHONDONTWRITEBYTECODE": "1"}
        for name in ("CNP_DB", "CNP_FAULT", "CLAUDECODE"):
            env.pop(name, None)
        for round_no, runs, rate in ((r, n, p) for r in range(1, args.rounds + 1)
                                     for p in rates for n in counts):
                env["FAKE_RATE"] = "" if rate == "burst" else rate
                took = raw(fake, env, runs, tmp)
                results.setdefault(("raw", runs, rate), []).append(took)
                print(f"round {round_no}: {rate} raw x{runs} {took:.2f}s", flush=True)
                for backend in backends:
                    work = tmp / f"{backend}-{runs}-{rate}-{round_no}"
                    work.mkdir()
                    if backend == "sqlite":
                        db, schema = str(work / "ingest.db"), None
                    else:
                        assert pg_url is not None
                        db, schema = pg_schema(pg_url)
                    try:
                        got = recorded(fake, {**env, "CNP_HOME": str(work)}, db, runs,
                                       args.lines, work)
                    finally:
                        if schema is not None:
                            assert pg_url is not None
                            drop_schema(pg_url, schema)
                        shutil.rmtree(work, ignore_errors=True)
                    results.setdefault((backend, runs, rate), []).append(got["seconds"])
                    print(f"round {round_no}: {rate} {backend} x{runs} "
                          f"{got['seconds']:.2f}s", flush=True)
    load_after = load_average()
    lines = args.lines + 2
    table = []
    for rate in rates:
        for runs in counts:
            raw_s = statistics.median(results[("raw", runs, rate)])
            for name in ["raw", *backends]:
                times = results[(name, runs, rate)]
                seconds = statistics.median(times)
                speed = lines * runs / seconds
                ratio = seconds / raw_s
                verdict = "-"
                if name != "raw" and runs == 1 and rate == "burst":
                    verdict = "PASS" if speed >= TARGETS[name] else "FAIL"
                elif name != "raw" and runs == 1 and args.lines >= 100_000:
                    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
                table.append({"printing": rate, "scenario": name, "runs": runs,
                              "median_s": round(seconds, 3), "min_s": round(min(times), 3),
                              "lines_per_s": round(speed), "x_raw": round(ratio, 2),
                              "result": verdict})
    print()
    print(f"code {git_state()}; python {platform.python_version()}; nproc {os.cpu_count()}; "
          f"load {load_before} -> {load_after}; {args.lines:,} lines of ~{args.line_bytes} "
          f"bytes per run; {args.rounds} rounds")
    print(f"{'printing':>9} {'scenario':10} {'runs':>4} {'median s':>9} {'min s':>7} "
          f"{'lines/s':>10} {'x raw':>6}  result")
    for row in table:
        print(f"{row['printing']:>9} {row['scenario']:10} {row['runs']:>4} "
              f"{row['median_s']:>9.3f} "
              f"{row['min_s']:>7.3f} {row['lines_per_s']:>10,} {row['x_raw']:>6.2f}  "
              f"{row['result']}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "code": git_state(), "load_before": load_before, "load_after": load_after,
            "lines": args.lines, "line_bytes": args.line_bytes, "rounds": args.rounds,
            "results": table, "raw": {"-".join(map(str, k)): v for k, v in results.items()},
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
