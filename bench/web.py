"""Server time of the dashboard with 1,000 jobs and 100,000 executions.

Builds a database in a temporary directory (40 prompts and 1,000 jobs through the catalog
service, 100,000 finished runs over the last 90 days in bulk), then calls the ASGI app in
process and times each request inside the app, from the first byte in to the last byte out
(no sockets, no client). Reports median, p90, p99 and max per page; the targets are the
overview and the first page of the executions list, HTML and JSON, at <= 200 ms.

    .venv/bin/python bench/web.py [--repeat 200] [--runs 100000] [--jobs 1000] [--json OUT]

Exits 1 if a target is missed. Never touches your data directory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TARGET_MS = 200.0
TARGETS = ["/", "/api/overview", "/runs", "/api/runs"]
OTHERS = ["/runs?status=failed", "/runs?job_id=500", "/runs?page=1000",
          "/jobs", "/usage", "/api/usage?days=90", "/runs/50000"]
CRONS = ["0 3 * * *", "*/5 * * * *", "30 2 * * 1-5", "@hourly", "0 0 1 * *", "15 */2 * * *",
         "0 9 * * mon", "0 30 4 * * *", "@daily", "45 23 * * 5"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]


def build(root: Path, n_jobs: int, n_runs: int) -> Path:
    from night_pilot import catalog
    from night_pilot.config import DbLocation
    from night_pilot.models import Prompt
    from night_pilot.store import open_store

    db = root / "claude-night-pilot.db"
    rng = random.Random(6)
    now = datetime.now(UTC)
    work = root / "work"
    work.mkdir()
    with open_store(DbLocation(path=db)) as store:
        prompt_ids = store.prompts.insert_many(
            [Prompt(f"Prompt {i}", f"Do task {i} carefully.", [f"t{i % 5}"]) for i in range(40)],
            now)
        with store.write():
            for i in range(n_jobs):
                spec = catalog.JobSpec(prompt_id=prompt_ids[i % 40], cron=CRONS[i % len(CRONS)],
                                       timezone=ZONES[i % len(ZONES)], name=f"job {i}",
                                       work_dir=str(work), enabled=i % 7 != 0)
                catalog.create_job(store, spec, now, work)
        start = now - timedelta(days=90)
        step = timedelta(days=90) / n_runs
        batch: list[tuple[Any, ...]] = []
        for k in range(n_runs):
            when = start + step * k
            status = "failed" if rng.random() < 0.04 else "completed"
            tokens = rng.randint(10, 5000)
            batch.append((rng.randint(1, n_jobs), when, status,
                          "exit 1: boom" if status == "failed" else None, when, when,
                          when + timedelta(seconds=30), 30_000, tokens, tokens // 3,
                          tokens * 4, tokens * 10, tokens * 0.00002, "Done."))
            if len(batch) == 20_000:
                store.runs.bench_insert(batch)
                batch = []
        if batch:
            store.runs.bench_insert(batch)
        store.db.execute("ANALYZE")
    return db


class Timed:
    """ASGI wrapper: the time from the call to the end of the response body."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last_ms = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last_ms = (time.perf_counter() - started) * 1000

        await self.app(scope, receive, timed_send)


def measure(db: Path, root: Path, repeat: int) -> dict[str, dict[str, float]]:
    from fastapi.testclient import TestClient

    from night_pilot.config import DbLocation
    from night_pilot.web.app import create_app

    app = create_app(DbLocation(path=db), token_path=root / "web-token", zone="UTC", cwd=root)
    timed = Timed(app)
    client = TestClient(timed, base_url="http://127.0.0.1:8765", client=("127.0.0.1", 1))
    results: dict[str, dict[str, float]] = {}
    for url in TARGETS + OTHERS:
        headers = {"accept": "text/html"} if not url.startswith("/api") else {}
        for _ in range(5):  # warm-up: templates compiled, pages cached by SQLite
            assert client.get(url, headers=headers).status_code == 200, url
        times = []
        for _ in range(repeat if url in TARGETS else max(20, repeat // 5)):
            r = client.get(url, headers=headers)
            assert r.status_code == 200, (url, r.status_code)
            times.append(timed.last_ms)
        times.sort()
        results[url] = {
            "n": len(times),
            "median_ms": round(statistics.median(times), 2),
            "p90_ms": round(times[int(len(times) * 0.9) - 1], 2),
            "p99_ms": round(times[max(0, int(len(times) * 0.99) - 1)], 2),
            "max_ms": round(times[-1], 2),
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cnp-bench-web-") as tmp:
        root = Path(tmp)
        os.environ["CNP_HOME"] = str(root)
        started = time.perf_counter()
        db = build(root, args.jobs, args.runs)
        built_s = time.perf_counter() - started
        results = measure(db, root, args.repeat)
    print(f"database: {args.jobs} jobs, {args.runs} runs (built in {built_s:.1f} s); "
          f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    print(f"{'page':<28} {'n':>5} {'median':>9} {'p90':>9} {'p99':>9} {'max':>9}  target")
    ok = True
    for url, r in results.items():
        verdict = ""
        if url in TARGETS:
            good = r["median_ms"] <= TARGET_MS and r["p99_ms"] <= TARGET_MS
            ok = ok and good
            verdict = "ok" if good else "MISSED"
        print(f"{url:<28} {int(r['n']):>5} {r['median_ms']:>8.1f}ms {r['p90_ms']:>8.1f}ms "
              f"{r['p99_ms']:>8.1f}ms {r['max_ms']:>8.1f}ms  {verdict}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(
            {"jobs": args.jobs, "runs": args.runs, "target_ms": TARGET_MS,
             "results": results}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
