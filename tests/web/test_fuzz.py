"""Property-based fuzzing of the whole JSON API from its own OpenAPI document (schemathesis):
whatever a client sends, the answer is never a server error. Every call carries the token, so
the endpoints that change things are exercised too, on a database seeded with prompts, jobs
and runs (which the fuzzing then edits, triggers and deletes)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from night_pilot.config import DbLocation
from night_pilot.web.app import create_app

pytestmark = pytest.mark.slow

ROOT = Path(tempfile.mkdtemp(prefix="cnp-fuzz-"))
WORK = ROOT / "work"
WORK.mkdir()
APP = create_app(DbLocation(path=ROOT / "claude-night-pilot.db"),
                 token_path=ROOT / "web-token", zone="UTC", cwd=WORK)
TOKEN = (ROOT / "web-token").read_text().strip()
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module", autouse=True)
def seeded() -> None:
    """Seeded when the test runs, not when it is collected (deselected, it costs nothing)."""
    from fastapi.testclient import TestClient

    with TestClient(APP, base_url="http://127.0.0.1:8765", headers=AUTH) as c:
        for i in range(3):
            p = c.post("/api/prompts", json={"title": f"p{i}", "content": f"text {i}",
                                             "tags": ["a", f"t{i}"]}).json()
            for cron in ("0 3 * * *", "*/5 * * * *"):
                j = c.post("/api/jobs", json={"prompt_id": p["id"], "cron": cron,
                                              "timezone": "UTC", "overlap": "allow"}).json()
                c.post(f"/api/jobs/{j['id']}/trigger")


schema = schemathesis.openapi.from_asgi("/openapi.json", APP, headers=AUTH)


@schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail(case: schemathesis.Case) -> None:
    response = case.call(headers=AUTH)
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500, (response.status_code, response.text[:500])
