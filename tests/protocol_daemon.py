"""The real daemon loop in a process of its own, with a runner that follows the runner's
protocol without spawning a program per run:

    python tests/protocol_daemon.py URL --offset SECONDS [--concurrency N] [--lease S]

It exists for scheduling tests at rates a 2-core machine could not sustain with a real child
process per run (hundreds of runs a second across several daemons). Everything the scheduler
does is real: materializing, claiming with SKIP LOCKED and fencing tokens, heartbeats,
reaping, the database clock, LISTEN/NOTIFY. Each "run" marks itself running (recording the pid
of a stand-in process group this daemon keeps, so a reaper on this host has a real orphaned
group to kill when the daemon dies), records the true wall time it started as its result
text, sleeps `--run-s` and finishes through the fenced `finish_run`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime

from night_pilot.config import DbLocation
from night_pilot.daemon import Daemon, DaemonConfig
from night_pilot.models import Run, RunResult, RunStatus
from night_pilot.procs import start_time
from night_pilot.runner import RunnerConfig, StopSignal
from night_pilot.store import Store


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--offset", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--lease", type=float, default=5.0)
    parser.add_argument("--run-s", type=float, default=0.3)
    args = parser.parse_args()

    # One process group standing for this daemon's runs; it outlives a kill -9 of the daemon,
    # as a real run's would, until a reaper kills it.
    group = subprocess.Popen(["sleep", "infinity"], start_new_session=True)
    group_start = start_time(group.pid)

    class ProtocolRunner:
        def __init__(self, store: Store, instance: str, now: Callable[[], datetime],
                     config: RunnerConfig) -> None:
            self.store, self.instance, self.now = store, instance, now

        def run(self, run: Run, cancel: StopSignal | None = None) -> None:
            assert run.fencing_token is not None
            began = time.time()
            if not self.store.claims.mark_running(run.id, self.instance, run.fencing_token,
                                           self.now(), pid=group.pid,
                                           process_start=group_start, argv=["protocol"],
                                           prompt_text=None, prompt_sha256=None):
                return
            time.sleep(args.run_s)
            self.store.claims.finish(run.id, self.instance, run.fencing_token,
                                  RunResult(RunStatus.COMPLETED, result_text=f"{began:.6f}"),
                                  self.now())

    config = DaemonConfig(concurrency=args.concurrency, lease_s=args.lease,
                          clock_offset_s=args.offset, shutdown_grace_s=5.0,
                          runner=RunnerConfig(lease_s=args.lease))
    try:
        return Daemon(DbLocation(url=args.url), config, runner_factory=ProtocolRunner).run()
    finally:
        group.kill()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(__file__))
    sys.exit(main())
