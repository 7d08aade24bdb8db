"""`cnp health --fast` answers from cached facts: how long the checks themselves take.

Builds a data directory with 1,000 jobs and a fake `claude` executable, runs one full check (to
cache the CLI's version), then times `health.check(..., fast=True)` in-process many times and
reports median and p99 of the checks' own time (process start-up is measured separately by
bench/cli_startup.py). Target: ≤ 50 ms.

    .venv/bin/python bench/health_fast.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import stat
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cnp-health-") as tmp:
        home = Path(tmp)
        os.environ["CNP_HOME"] = str(home)
        fake = home / "claude"
        fake.write_text("#!/bin/sh\necho '2.1.328 (Claude Code)'\n")
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
        os.environ["CNP_CLAUDE_BIN"] = str(fake)
        os.environ["ANTHROPIC_API_KEY"] = "bench"
        from night_pilot import catalog, health
        from night_pilot.config import resolve_db
        from night_pilot.store import open_store

        now = datetime.now(UTC)
        store = open_store(resolve_db())
        prompt = catalog.create_prompt(store, catalog.make_prompt("p", "x", []), now)
        assert prompt.id is not None
        for _ in range(1000):
            catalog.create_job(store, catalog.JobSpec(prompt_id=prompt.id, cron="*/5 * * * *",
                                                      timezone="UTC"), now, home)
        store.close()
        full = health.check(resolve_db(), datetime.now(UTC))
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            report = health.check(resolve_db(), datetime.now(UTC), fast=True)
            times.append((time.perf_counter() - started) * 1000)
            assert report.checks[2].details.get("version") == "2.1.328", report.to_dict()
        times.sort()
        median = statistics.median(times)
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(f"full check once: {full.elapsed_ms:.1f} ms")
        print(f"health --fast over {args.repeat} runs: median {median:.1f} ms, p99 {p99:.1f} ms,"
              f" target 50 ms: {'PASS' if p99 <= 50 else 'FAIL'}")
        return 0 if p99 <= 50 else 1


if __name__ == "__main__":
    sys.exit(main())
