"""Structured events at the key points, as JSON log lines and as OpenTelemetry spans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cli_runner import cnp


def run_cnp(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "night_pilot", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)


def test_console_spans_on_stderr_keep_stdout_one_document(cnp_home: Path) -> None:
    env = {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "cnp-test"}
    out = run_cnp("execute", "--prompt", "echo hi", "--executor", "shell", "--format", "json",
                  env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["status"] == "completed"  # spans did not pollute stdout
    for point in ("cnp.claim", "cnp.spawn", "cnp.result", "cnp.persist"):
        assert f'"name": "{point}"' in out.stderr, point
    assert '"cnp.attempt": 1' in out.stderr and "cnp-test" in out.stderr


def test_otlp_spans_reach_a_collector(cnp_home: Path) -> None:
    received: list[tuple[str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            received.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
               "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
        cnp_env = {**env, "OTEL_TRACES_EXPORTER": "otlp"}
        assert cnp("prompt", "create", "p", "true").exit_code == 0  # here: no spans
        out = run_cnp("job", "create", "1", "@daily", "--executor", "shell", env=cnp_env)
        assert out.returncode == 0, out.stderr
    finally:
        server.shutdown()
    paths = {p for p, _ in received}
    assert paths == {"/v1/traces"}
    assert any(b"cnp.register" in body for _, body in received)
