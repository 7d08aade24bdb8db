"""The project's own scripts: the test command stops the PostgreSQL server it started."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres(action: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(REPO / "scripts" / "postgres.sh"), action], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def pg_env() -> Iterator[dict[str, str]]:
    # A server of its own, not the one the suite runs against, in a directory Debian's
    # `postgres` user (who runs the server when we are root) can reach: not under pytest's
    # private temporary root.
    pg_dir = Path(tempfile.mkdtemp(prefix="cnp-pg-test-"))
    pg_dir.chmod(0o755)
    if os.geteuid() == 0:
        subprocess.run(["chown", "postgres:", str(pg_dir)], check=True)
    env = {**os.environ, "CNP_PG_DIR": str(pg_dir), "CNP_PG_PORT": str(free_port())}
    env.pop("CNP_TEST_PG_URL", None)
    yield env
    postgres("stop", env)
    shutil.rmtree(pg_dir, ignore_errors=True)


@pytest.mark.slow
def test_postgres_script_starts_reports_and_stops_its_server(pg_env: dict[str, str]) -> None:
    assert postgres("status", pg_env).returncode == 3
    started = postgres("start", pg_env)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip().endswith(f":{pg_env['CNP_PG_PORT']}/cnp")
    assert postgres("status", pg_env).returncode == 0
    assert postgres("start", pg_env).returncode == 0  # idempotent: reuses the running server
    assert postgres("stop", pg_env).returncode == 0
    assert postgres("status", pg_env).returncode == 3


@pytest.mark.slow
def test_the_test_command_stops_the_server_it_started(pg_env: dict[str, str]) -> None:
    # Collect-only keeps the inner run short; everything around pytest runs as in CI.
    out = subprocess.run(["bash", str(REPO / "scripts" / "test.sh"), "--co", "-q",
                          "tests/test_cron.py"], env=pg_env, capture_output=True, text=True,
                         timeout=900, cwd=REPO)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "test.sh: stopped the PostgreSQL server it started" in out.stderr
    assert postgres("status", pg_env).returncode == 3


@pytest.mark.slow
def test_the_test_command_leaves_a_running_server_alone(pg_env: dict[str, str]) -> None:
    assert postgres("start", pg_env).returncode == 0
    try:
        out = subprocess.run(["bash", str(REPO / "scripts" / "test.sh"), "--co", "-q",
                              "tests/test_cron.py"], env=pg_env, capture_output=True,
                             text=True, timeout=900, cwd=REPO)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
        assert "stopped the PostgreSQL server" not in out.stderr
        assert postgres("status", pg_env).returncode == 0
    finally:
        postgres("stop", pg_env)
