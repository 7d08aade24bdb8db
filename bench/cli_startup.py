"""CLI start-up benchmark.

Times three commands as fresh subprocesses, interleaved round by round so that machine noise
hits all of them alike:

    A  python -c pass                      (the same interpreter: the floor)
    B  cnp --version
    C  cnp job list --format json          (against a fresh CNP_HOME holding 1,000 jobs)

and reports median, p90 (nearest rank) and min wall time, the ratio of each median to the
baseline's, and PASS/FAIL against the targets (`TARGETS_MS`), with the commit measured and the load
average before and after. `--importtime` adds a `python -X importtime` profile of the two cnp
commands (modules that `python -c pass` already loads are left out).

The database is in a temporary CNP_HOME; with `--platform-data-dir` it is where a user who sets
no CNP_HOME has it, the platform's data directory (platformdirs'; XDG_DATA_HOME is pointed
into the temporary directory, so this option is for Linux and the BSDs).

Usage (run it with the project's venv interpreter, so that `cnp` is found next to it):

    .venv/bin/python bench/cli_startup.py [--rounds N] [--json OUT] [--importtime]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchlib import git_state, load_average, pct

JOB_COUNT = 1000
TARGETS_MS = {"cnp --version": 150.0, "cnp job list --format json": 250.0}

# Schedules people actually write: nightly, weekday mornings, every N minutes, monthly,
# macros and a few 6-field (seconds-first) expressions.
CRONS = [
    "0 2 * * *", "30 3 * * *", "15 1 * * *", "0 4 * * 1-5", "45 23 * * *",
    "*/15 * * * *", "*/30 * * * *", "5 * * * *", "0 */6 * * *", "0 */2 * * *",
    "0 9 * * 1", "30 8 * * mon-fri", "0 22 * * 0", "0 6 1 * *", "0 0 1 1 *",
    "0 3 * * sat,sun", "10 2 1-7 * 1", "0 12 15 * *",
    "@daily", "@hourly", "@weekly", "@monthly", "@midnight",
    "0 30 2 * * *", "30 */10 * * * *",
]
ZONES = [
    "UTC", "Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles",
    "America/Sao_Paulo", "Asia/Tokyo", "Asia/Kolkata", "Australia/Sydney", "Pacific/Auckland",
]
MODELS = [None, None, "sonnet", "opus", "haiku"]
PERMISSION_MODES = [None, None, "acceptEdits", "plan", "bypassPermissions"]
TOOLS = [None, "Read,Grep,Glob", "Read Edit Bash(git diff:*)", "Bash(npm test:*),Read"]


# -- the data set ------------------------------------------------------------------------------


def populate(home: Path, jobs: int, seed: int = 2, runs_per_job: int = 0,
             where: dict[str, str] | None = None) -> dict[str, int]:
    """Fill a fresh CNP_HOME through the public store/service API; return a few counts.

    `where`: the environment that locates the database (default: CNP_HOME=home).

    With `runs_per_job`, every job also gets that many finished runs (a history, as a
    database has after weeks of nightly runs), through the same protocol the daemon follows.
    """
    from night_pilot import catalog
    from night_pilot.config import resolve_db
    from night_pilot.models import ExecutorKind, RunResult, RunSettings, RunStatus, Trigger
    from night_pilot.store import open_store

    rng = random.Random(seed)
    now = datetime.now(UTC)
    work = home / "work"
    for name in ("api", "web", "infra", "docs"):
        (work / name).mkdir(parents=True, exist_ok=True)
    work_dirs = sorted(p for p in work.iterdir())

    counts = {"prompts": 0, "jobs": 0, "paused": 0, "one_shot": 0, "runs": 0}
    with open_store(resolve_db(env=where or {"CNP_HOME": str(home)})) as store:
        prompt_ids = []
        for i in range(40):
            body = (
                f"Task {i}: review the overnight changes in this repository, run the tests, "
                "and write a short report of anything that broke.\n" * rng.randint(1, 12)
            )
            tags = rng.sample(["nightly", "review", "tests", "docs", "deps", "security"],
                              rng.randint(0, 3))
            prompt = catalog.create_prompt(
                store, catalog.make_prompt(f"Nightly task {i:02d}", body, tags), now
            )
            assert prompt.id is not None
            prompt_ids.append(prompt.id)
            counts["prompts"] += 1

        for i in range(jobs):
            one_shot = rng.random() < 0.05
            zone = rng.choice(ZONES)
            spec = catalog.JobSpec(
                prompt_id=rng.choice(prompt_ids),
                cron=None if one_shot else rng.choice(CRONS),
                at=(now + timedelta(days=rng.randint(1, 90), minutes=rng.randint(0, 1439)))
                .replace(tzinfo=None, microsecond=0).isoformat() if one_shot else None,
                name=f"job-{i:04d}",
                description=rng.choice(["", "", "keeps the main branch green",
                                        "weekly dependency sweep", "docs link check"]),
                timezone=zone,
                work_dir=str(rng.choice(work_dirs)),
                model=rng.choice(MODELS),
                allowed_tools=rng.choice(TOOLS),
                permission_mode=rng.choice(PERMISSION_MODES),
                max_turns=rng.choice([None, None, 10, 30]),
                timeout=rng.choice([None, "30m", "2h"]),
                retries=rng.randint(0, 3),
                # Roughly one job in seven is paused (stored without a next run).
                enabled=rng.random() >= 0.15,
            )
            job = catalog.create_job(store, spec, now, work)
            counts["jobs"] += 1
            counts["paused"] += not job.enabled
            counts["one_shot"] += one_shot

        settings = RunSettings(executor=ExecutorKind.SHELL, prompt_text="true")
        with store.write():  # one transaction: the history is not what is measured
            for job_id in range(1, jobs + 1) if runs_per_job else ():
                for k in range(runs_per_job):
                    at = now - timedelta(hours=6 * (runs_per_job - k), minutes=rng.randint(0, 59))
                    run_id = store.runs.insert(job_id=job_id, scheduled_for=at,
                                              trigger=Trigger.SCHEDULE, status=RunStatus.PENDING,
                                              settings=settings, now=at)
                    token = store.claims.next_token()
                    store.claims.claim(run_id, "bench", "bench-host", token, at, at)
                    store.claims.mark_running(run_id, "bench", token, at, pid=1, process_start=None,
                                       argv=["/bin/sh"], prompt_text=None, prompt_sha256=None)
                    status = RunStatus.COMPLETED if rng.random() < 0.9 else RunStatus.FAILED
                    store.claims.finish(run_id, "bench", token, RunResult(status=status), at)
                    counts["runs"] += 1
    return counts


# -- running and timing ------------------------------------------------------------------------


@dataclass
class Command:
    label: str
    argv: list[str]
    check: Callable[[bytes], None]


def check_nothing(_out: bytes) -> None:
    pass


def check_version(out: bytes) -> None:
    if not out.decode().startswith("cnp "):
        raise AssertionError(f"unexpected --version output: {out[:200]!r}")


def check_job_list(expected: int) -> Callable[[bytes], None]:
    def check(out: bytes) -> None:
        doc = json.loads(out)
        got = len(doc["jobs"])
        if got != expected:
            raise AssertionError(f"job list returned {got} jobs, expected {expected}")

    return check


def run_once(cmd: Command, env: dict[str, str]) -> float:
    """Wall time of one run in milliseconds; the output is checked after the clock stops."""
    start = time.perf_counter()
    proc = subprocess.run(cmd.argv, env=env, capture_output=True)
    elapsed = (time.perf_counter() - start) * 1000.0
    if proc.returncode != 0:
        raise SystemExit(
            f"{cmd.label} exited {proc.returncode}:\n{proc.stderr.decode(errors='replace')}"
        )
    cmd.check(proc.stdout)
    return elapsed


def summarize(samples: dict[str, list[float]], baseline: str) -> list[dict[str, object]]:
    base = statistics.median(samples[baseline])
    rows = []
    for label, values in samples.items():
        median = statistics.median(values)
        target = TARGETS_MS.get(label)
        rows.append({
            "command": label,
            "runs": len(values),
            "median_ms": round(median, 1),
            "p90_ms": round(pct(list(values), 90) or 0.0, 1),
            "min_ms": round(min(values), 1),
            "ratio_to_baseline": round(median / base, 2),
            "target_ms": target,
            "result": None if target is None else ("PASS" if median <= target else "FAIL"),
        })
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    headers = ["command", "median ms", "p90 ms", "min ms", "x baseline", "target", "result"]
    cells = [[
        str(r["command"]), f"{r['median_ms']:.1f}", f"{r['p90_ms']:.1f}", f"{r['min_ms']:.1f}",
        f"{r['ratio_to_baseline']:.2f}",
        "-" if r["target_ms"] is None else f"<= {r['target_ms']:.0f} ms",
        str(r["result"] or "(baseline)"),
    ] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for c in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)) + " |")


# -- import-time profile -----------------------------------------------------------------------


def import_profile(argv: list[str], env: dict[str, str], runs: int) -> dict[str, tuple[int, int]]:
    """Module -> (median self µs, median cumulative µs) over `runs` runs of -X importtime."""
    seen: dict[str, list[tuple[int, int]]] = {}
    for _ in range(runs):
        proc = subprocess.run(argv, env=env | {"PYTHONPROFILEIMPORTTIME": "1"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for line in proc.stderr.decode(errors="replace").splitlines():
            if not line.startswith("import time:") or "imported package" in line:
                continue
            self_us, cum_us, name = line[len("import time:"):].split("|", 2)
            seen.setdefault(name.strip(), []).append((int(self_us), int(cum_us)))
    return {
        name: (int(statistics.median(s for s, _ in v)), int(statistics.median(c for _, c in v)))
        for name, v in seen.items()
    }


def print_import_profile(label: str, profile: dict[str, tuple[int, int]],
                         floor: set[str], top: int) -> None:
    added = {k: v for k, v in profile.items() if k not in floor}
    total = sum(s for s, _ in added.values())
    print(f"\nImports of `{label}` beyond `python -c pass`: {len(added)} modules, "
          f"{total / 1000:.1f} ms self time in all (median of runs)")
    print(f"  top {top} by cumulative time (a module and everything it pulled in first):")
    for name, (s, c) in sorted(added.items(), key=lambda kv: -kv[1][1])[:top]:
        print(f"    {c / 1000:7.1f} ms cum  {s / 1000:6.1f} ms self  {name}")
    print(f"  top {top} by self time:")
    for name, (s, c) in sorted(added.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"    {s / 1000:7.1f} ms self {c / 1000:6.1f} ms cum   {name}")


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="timed rounds (default 40)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    parser.add_argument("--jobs", type=int, default=JOB_COUNT, help="jobs in the data set")
    parser.add_argument("--runs-per-job", type=int, default=0,
                        help="finished runs per job in the data set (default 0: no history)")
    parser.add_argument("--json", metavar="OUT", help="also write the results to this file")
    parser.add_argument("--cnp", help="the cnp script (default: next to this interpreter)")
    parser.add_argument("--no-write-bytecode", action="store_true",
                        help="start without a byte-code cache for modules that have no .pyc "
                        "(PYTHONDONTWRITEBYTECODE=1), as in a fresh editable checkout")
    parser.add_argument("--platform-data-dir", action="store_true",
                        help="no CNP_HOME: the database in the platform's data directory, as "
                        "for a user who sets none (XDG_DATA_HOME in the temporary directory)")
    parser.add_argument("--importtime", action="store_true",
                        help="also profile imports with -X importtime")
    parser.add_argument("--importtime-runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    if args.rounds < 2:
        parser.error("--rounds must be at least 2")

    python = sys.executable
    cnp = Path(args.cnp) if args.cnp else Path(python).parent / "cnp"
    if not cnp.exists():
        parser.error(f"no cnp script at {cnp}; run this with the venv's python or pass --cnp")

    with tempfile.TemporaryDirectory(prefix="cnp-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        where = {"CNP_HOME": str(home)}
        if args.platform_data_dir:
            # The data directory is found from the environment: this process's (to fill the
            # database), then the commands'.
            where = {"XDG_DATA_HOME": str(Path(tmp) / "xdg-data")}
            os.environ.pop("CNP_HOME", None)
            os.environ.update(where)
        t0 = time.perf_counter()
        counts = populate(home, args.jobs, runs_per_job=args.runs_per_job, where=where)
        if args.platform_data_dir:
            from night_pilot.config import DB_FILENAME, data_dir

            database = data_dir() / DB_FILENAME
            if not database.is_relative_to(tmp) or not database.exists():
                raise SystemExit(f"--platform-data-dir: the database is at {database}, not in "
                                 f"{tmp}; XDG_DATA_HOME is not what this platform reads")
        print(f"data set: {counts['jobs']} jobs ({counts['paused']} paused, "
              f"{counts['one_shot']} one-shot) on {counts['prompts']} prompts, "
              f"{counts['runs']} runs, "
              f"built in {time.perf_counter() - t0:.1f} s")

        env = {k: v for k, v in os.environ.items()
               if k not in ("CNP_DB", "CNP_HOME", "PYTHONPROFILEIMPORTTIME",
                            "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
               and not k.startswith("COV")}
        env.update(where)
        if args.no_write_bytecode:
            # Modules without a .pyc beside them (an editable src/ checkout) compile every run.
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            # As an installed package starts: byte-code cached. The cache lives in the temp
            # dir, so nothing is written into src/; the warm-up rounds fill it.
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        commands = [
            Command("python -c pass", [python, "-c", "pass"], check_nothing),
            Command("cnp --version", [str(cnp), "--version"], check_version),
            Command("cnp job list --format json",
                    [str(cnp), "job", "list", "--format", "json"], check_job_list(args.jobs)),
        ]

        load_before = load_average()
        for _ in range(args.warmup):
            for cmd in commands:
                run_once(cmd, env)
        samples: dict[str, list[float]] = {c.label: [] for c in commands}
        t0 = time.perf_counter()
        for _ in range(args.rounds):
            for cmd in commands:  # A, B, C, A, B, C, ...
                samples[cmd.label].append(run_once(cmd, env))
        elapsed = time.perf_counter() - t0
        load_after = load_average()

        rows = summarize(samples, commands[0].label)
        commit = git_state()
        print(f"{args.rounds} interleaved rounds after {args.warmup} warm-up rounds "
              f"in {elapsed:.1f} s; load average (1, 5, 15 min) {load_before} -> {load_after}; "
              f"byte-code {'not cached' if args.no_write_bytecode else 'cached'}; database in "
              f"{'the platform data directory' if args.platform_data_dir else 'CNP_HOME'}; "
              f"checkout {commit}\n")
        print_table(rows)

        profiles: dict[str, dict[str, tuple[int, int]]] = {}
        if args.importtime:
            floor = set(import_profile([python, "-c", "pass"], env, args.importtime_runs))
            for cmd in commands[1:]:
                profiles[cmd.label] = import_profile(cmd.argv, env, args.importtime_runs)
                print_import_profile(cmd.label, profiles[cmd.label], floor, args.top)

    failed = [r for r in rows if r["result"] == "FAIL"]
    if args.json:
        result = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "nproc": os.cpu_count(),
                "python": platform.python_version(),
                "implementation": platform.python_implementation(),
                "platform": platform.platform(),
                "load_average_before": load_before,
                "load_average_after": load_after,
            },
            # Of this checkout: the commit measured only if `cnp` was installed from it.
            "commit": commit,
            "interpreter": python,
            "cnp": str(cnp),
            "rounds": args.rounds,
            "warmup": args.warmup,
            "bytecode_cached": not args.no_write_bytecode,
            "database_in": "platform data directory" if args.platform_data_dir else "CNP_HOME",
            "data_set": counts,
            "results": rows,
            "samples_ms": {k: [round(v, 3) for v in vals] for k, vals in samples.items()},
        }
        if profiles:
            result["importtime_us"] = {
                label: {name: {"self": s, "cumulative": c} for name, (s, c) in prof.items()}
                for label, prof in profiles.items()
            }
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
