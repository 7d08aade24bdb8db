"""Usage ledger benchmark: our import + daily report against ccusage 18.0.11.

Generates a transcript corpus of at least 500 MB (tests/usage_corpus.py: the shapes Claude Code
2.1.328 writes, every kind of repeated row, malformed and half-written lines) in a temporary
directory, then measures in the same run, as fresh processes:

    cold    cnp usage import --path CORPUS  then  cnp usage daily --format json   (empty db)
            ccusage daily --json --offline   (CLAUDE_CONFIG_DIR=CORPUS)
    append  1 MB of new turns appended to existing sessions, then the same two cnp commands
            against the warm ledger, and ccusage's full rescan

Wall time and peak RSS of every process (GNU time's %M; cnp and ccusage each run as one
process). Rounds interleave the tools so machine noise hits both alike. Every output is checked:
our totals must equal the generator's truth and ccusage's its predicted figures, so a broken run
cannot pass. Exits 1 when a target is missed.

    .venv/bin/python bench/usage_import.py [--size-mb 520] [--rounds 3] [--append-rounds 5]
        [--json OUT] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from usage_corpus import Corpus, Tokens, append_activity, generate  # noqa: E402

CNP = str(Path(sys.executable).with_name("cnp"))
COLD_SPEEDUP = 2.0
COLD_RSS_MB = 200.0
APPEND_SECONDS = 1.0
APPEND_SPEEDUP = 20.0


@dataclass
class Run:
    seconds: float
    rss_mb: float
    stdout: str


def _gnu_time() -> bool:
    try:
        return subprocess.run(["/usr/bin/time", "-f", "%M", "-o", os.devnull, "true"],
                              capture_output=True, check=False).returncode == 0
    except OSError:
        return False


GNU_TIME = _gnu_time()


def measure(argv: list[str], env: dict[str, str]) -> Run:
    """Wall time and peak RSS of one process.

    The peak comes from GNU time (`%M`), which forks the command itself: Linux counts the
    memory of the process a command was forked from in the command's ru_maxrss, and this
    benchmark holds the corpus's truth (~100 MB), so wait4 here would overstate small
    processes. Without GNU time, wait4's figure is used (an upper bound).
    """
    rss_file = Path(tempfile.mkstemp(prefix="cnp-bench-rss-")[1])
    wrapped = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *argv] if GNU_TIME else argv
    start = time.perf_counter()
    proc = subprocess.Popen(wrapped, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=tempfile.gettempdir())
    # Read while it runs (a full pipe would stall it), then reap it ourselves for its rusage.
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{err.decode()[-2000:]}")
    kib = usage.ru_maxrss
    if GNU_TIME:
        kib = int(rss_file.read_text().split()[-1])
    rss_file.unlink()
    return Run(seconds, kib / 1024, out.decode())


def ours(corpus: Path, env: dict[str, str]) -> tuple[Run, Run]:
    imported = measure([CNP, "usage", "import", "--path", str(corpus), "--format", "json"], env)
    daily = measure([CNP, "usage", "daily", "--format", "json"], env)
    return imported, daily


def theirs(ccusage: str, corpus: Path, env: dict[str, str]) -> Run:
    return measure([ccusage, "daily", "--json", "--offline"],
                   {**env, "CLAUDE_CONFIG_DIR": str(corpus)})


def our_totals(run: Run) -> Tokens:
    t = json.loads(run.stdout)["totals"]
    return Tokens(t["input_tokens"], t["output_tokens"], t["cache_creation_tokens"],
                  t["cache_read_tokens"])


def their_totals(run: Run) -> Tokens:
    t = json.loads(run.stdout)["totals"]
    return Tokens(t["inputTokens"], t["outputTokens"], t["cacheCreationTokens"],
                  t["cacheReadTokens"])


def install_ccusage() -> str:
    proc = subprocess.run(["bash", str(REPO / "scripts" / "install-ccusage.sh")],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"installing ccusage failed:\n{proc.stderr[-2000:]}")
    return proc.stdout.strip().splitlines()[-1]


def check(corpus: Corpus, mine: Run, other: Run) -> None:
    if our_totals(mine) != corpus.truth:
        raise SystemExit(f"our totals {our_totals(mine)} differ from the truth {corpus.truth}")
    if their_totals(other) != corpus.ccusage_expected:
        raise SystemExit(f"ccusage's totals {their_totals(other)} differ from the prediction "
                         f"{corpus.ccusage_expected}")


def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=520)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--append-mb", type=float, default=1.0)
    parser.add_argument("--append-rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--keep", type=Path, default=None,
                        help="generate the corpus here and leave it (default: a temp dir)")
    args = parser.parse_args()

    ccusage = install_ccusage()
    work = Path(tempfile.mkdtemp(prefix="cnp-usage-bench-"))
    corpus_dir = args.keep or work / "claude"
    if corpus_dir.exists():
        shutil.rmtree(corpus_dir)
    try:
        t0 = time.perf_counter()
        corpus = generate(corpus_dir, seed=args.seed, target_bytes=args.size_mb * 1_000_000,
                          days=60)
        gen_s = time.perf_counter() - t0
        print(f"corpus: {corpus.bytes_written / 1e6:,.0f} MB, {len(corpus.files):,} files, "
              f"{corpus.lines_written:,} lines, {len(corpus.rows):,} usage rows, "
              f"{len(corpus.responses):,} API responses; generated in {gen_s:.1f} s",
              flush=True)
        base_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("CLAUDE", "ANTHROPIC", "CNP_"))}
        base_env["TZ"] = "UTC"
        base_env["HOME"] = str(work)

        cold: dict[str, list[Run]] = {"import": [], "daily": [], "ccusage": []}
        warm_env = {}
        for i in range(args.rounds):
            env = {**base_env, "CNP_HOME": str(work / f"home-{i}")}
            order = ("ours", "theirs") if i % 2 == 0 else ("theirs", "ours")
            for who in order:
                if who == "ours":
                    imported, daily = ours(corpus_dir, env)
                    cold["import"].append(imported)
                    cold["daily"].append(daily)
                else:
                    cold["ccusage"].append(theirs(ccusage, corpus_dir, env))
            check(corpus, cold["daily"][-1], cold["ccusage"][-1])
            warm_env = env
            print(f"cold round {i + 1}: ours {imported.seconds + daily.seconds:.2f} s "
                  f"(import {imported.seconds:.2f} s, {imported.rss_mb:.0f} MB; daily "
                  f"{daily.seconds:.2f} s, {daily.rss_mb:.0f} MB); ccusage "
                  f"{cold['ccusage'][-1].seconds:.2f} s, {cold['ccusage'][-1].rss_mb:.0f} MB",
                  flush=True)
        for i in range(1, args.rounds):
            shutil.rmtree(work / f"home-{i - 1}", ignore_errors=True)

        warm: dict[str, list[Run]] = {"import": [], "daily": [], "ccusage": []}
        appended = []
        for i in range(args.append_rounds):
            appended.append(append_activity(corpus, int(args.append_mb * 1_000_000),
                                            seed=1000 + i))
            imported, daily = ours(corpus_dir, warm_env)
            bytes_read = json.loads(imported.stdout)["bytes_read"]
            if bytes_read != appended[-1]:
                raise SystemExit(f"re-import read {bytes_read} bytes, {appended[-1]} were "
                                 "appended")
            warm["import"].append(imported)
            warm["daily"].append(daily)
            warm["ccusage"].append(theirs(ccusage, corpus_dir, warm_env))
            check(corpus, daily, warm["ccusage"][-1])
            print(f"append round {i + 1} ({appended[-1] / 1e6:.2f} MB): ours "
                  f"{imported.seconds + daily.seconds:.2f} s (import {imported.seconds:.2f} s, "
                  f"daily {daily.seconds:.2f} s); ccusage {warm['ccusage'][-1].seconds:.2f} s",
                  flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    cold_ours = [a.seconds + b.seconds for a, b in zip(cold["import"], cold["daily"],
                                                       strict=True)]
    cold_theirs = [r.seconds for r in cold["ccusage"]]
    warm_ours = [a.seconds + b.seconds for a, b in zip(warm["import"], warm["daily"],
                                                       strict=True)]
    warm_theirs = [r.seconds for r in warm["ccusage"]]
    our_rss = max(r.rss_mb for r in cold["import"] + cold["daily"])
    their_rss = max(r.rss_mb for r in cold["ccusage"])
    cold_ratio = statistics.median(cold_theirs) / statistics.median(cold_ours)
    warm_ratio = statistics.median(warm_theirs) / statistics.median(warm_ours)
    verdicts = {
        f"cold: >= {COLD_SPEEDUP:g}x faster than ccusage": cold_ratio >= COLD_SPEEDUP,
        f"cold: peak RSS <= {COLD_RSS_MB:g} MB": our_rss <= COLD_RSS_MB,
        f"append {args.append_mb:g} MB: <= {APPEND_SECONDS:g} s":
            statistics.median(warm_ours) <= APPEND_SECONDS,
        f"append {args.append_mb:g} MB: >= {APPEND_SPEEDUP:g}x faster than ccusage":
            warm_ratio >= APPEND_SPEEDUP,
    }
    differences = {cause: {"rows": rows, **tokens.as_dict()}
                   for cause, (rows, tokens) in corpus.ccusage_differences().items()}
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "rss_source": "GNU time %M" if GNU_TIME else "wait4 ru_maxrss (upper bound)",
        "machine": {"nproc": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(),
                    "node": subprocess.run(["node", "--version"], capture_output=True,
                                           text=True, check=False).stdout.strip(),
                    "load_average": os.getloadavg()},
        "corpus": {"bytes": corpus.bytes_written, "files": len(corpus.files),
                   "lines": corpus.lines_written, "usage_rows": len(corpus.rows),
                   "responses": len(corpus.responses), "malformed_lines":
                   corpus.malformed_lines, "generate_s": gen_s},
        "rounds": args.rounds,
        "append_rounds": args.append_rounds,
        "cold": {"ours_s": stats(cold_ours), "ccusage_s": stats(cold_theirs),
                 "import_s": stats([r.seconds for r in cold["import"]]),
                 "daily_s": stats([r.seconds for r in cold["daily"]]),
                 "ours_peak_rss_mb": our_rss, "ccusage_peak_rss_mb": their_rss,
                 "speedup": cold_ratio},
        "append": {"bytes": appended, "ours_s": stats(warm_ours),
                   "ccusage_s": stats(warm_theirs),
                   "import_s": stats([r.seconds for r in warm["import"]]),
                   "daily_s": stats([r.seconds for r in warm["daily"]]),
                   "speedup": warm_ratio},
        "totals": {"truth": corpus.truth.as_dict(),
                   "ccusage": corpus.ccusage_expected.as_dict(),
                   "ccusage_minus_truth_by_cause": differences},
        "verdicts": verdicts,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    for name, ok in verdicts.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
