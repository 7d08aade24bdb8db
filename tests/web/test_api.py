"""The JSON API in process: every endpoint answers as the CLI would, bad input is a 4xx naming
the problem, and nothing changes without the token."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from cli_runner import cnp
from event_rows import add_event
from night_pilot.models import RunStatus

from .conftest import Site

# (method, path template) of every API operation; test_every_operation_is_listed keeps this
# honest, and the tests below exercise each one.
MUTATING = [
    ("POST", "/api/prompts"),
    ("POST", "/api/prompts/import"),
    ("PATCH", "/api/prompts/{id}"),
    ("DELETE", "/api/prompts/{id}"),
    ("POST", "/api/jobs"),
    ("PATCH", "/api/jobs/{id}"),
    ("DELETE", "/api/jobs/{id}"),
    ("POST", "/api/jobs/{id}/pause"),
    ("POST", "/api/jobs/{id}/resume"),
    ("POST", "/api/jobs/{id}/trigger"),
    ("POST", "/api/runs/{id}/cancel"),
    ("POST", "/api/execute"),
    ("POST", "/api/cooldown/clear"),
]
READS = [
    ("GET", "/api/overview"),
    ("GET", "/api/status"),
    ("GET", "/api/health"),
    ("GET", "/api/cooldown"),
    ("GET", "/api/quota"),
    ("GET", "/api/quota/plan"),
    ("GET", "/api/usage"),
    ("GET", "/api/prompts"),
    ("GET", "/api/prompts/export"),
    ("GET", "/api/prompts/{id}"),
    ("GET", "/api/jobs"),
    ("GET", "/api/jobs/{id}"),
    ("GET", "/api/jobs/{id}/next"),
    ("GET", "/api/cron"),
    ("GET", "/api/runs"),
    ("GET", "/api/runs/{id}"),
    ("GET", "/api/runs/{id}/events"),
]


def test_every_operation_is_listed(site: Site) -> None:
    ops = {(m.upper(), p.replace("{prompt_id}", "{id}").replace("{job_id}", "{id}")
            .replace("{run_id}", "{id}"))
           for p, methods in site.app.openapi()["paths"].items() for m in methods}
    assert ops == set(MUTATING) | set(READS)


@pytest.mark.parametrize(("method", "path"), MUTATING)
def test_changes_without_the_token_are_refused_and_change_nothing(site: Site, method: str,
                                                                  path: str) -> None:
    p = site.prompt()
    site.job(p["id"])
    before = site.api.get("/api/status").json()["counts"]
    url = path.replace("{id}", "1")
    body = {"title": "x", "content": "y"} if method != "DELETE" else None
    r = site.anon.request(method, url, json=body)
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"
    assert "token" in r.json()["message"]
    wrong = site.anon.request(method, url, json=body, headers={"X-CNP-Token": "not-it"})
    assert wrong.status_code == 403
    assert wrong.json() == {"error": "forbidden", "message": "the web token is wrong"}
    assert site.api.get("/api/status").json()["counts"] == before


@pytest.mark.parametrize(("method", "path"), READS)
def test_reads_from_this_machine_need_no_token(site: Site, method: str, path: str) -> None:
    p = site.prompt()
    j = site.job(p["id"])
    site.api.post(f"/api/jobs/{j['id']}/trigger")
    url = path.replace("{id}", "1") + ("?cron=@daily" if path == "/api/cron" else "")
    r = site.anon.request(method, url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")


def test_both_token_headers_are_accepted(site: Site) -> None:
    bearer = site.anon.post("/api/prompts", json={"title": "a", "content": "b"},
                            headers={"Authorization": f"Bearer {site.token}"})
    header = site.anon.post("/api/prompts", json={"title": "c", "content": "d"},
                            headers={"X-CNP-Token": site.token})
    assert (bearer.status_code, header.status_code) == (201, 201)


# -- prompts -------------------------------------------------------------------------------------


def test_prompt_crud(site: Site) -> None:
    created = site.prompt("Audit", "Check the dependencies.", ["weekly", "deps"])
    assert created["tags"] == ["weekly", "deps"]
    pid = created["id"]
    assert site.api.get(f"/api/prompts/{pid}").json()["used_by_jobs"] == []
    edited = site.api.patch(f"/api/prompts/{pid}", json={"title": "Audit v2", "tags": "a, b"})
    assert edited.status_code == 200
    assert (edited.json()["title"], edited.json()["tags"]) == ("Audit v2", ["a", "b"])
    assert edited.json()["content"] == "Check the dependencies."
    listed = site.api.get("/api/prompts", params={"tag": "a"}).json()
    assert [p["id"] for p in listed["prompts"]] == [pid] and listed["tags"] == ["a", "b"]
    assert site.api.get("/api/prompts", params={"tag": "zzz"}).json()["prompts"] == []
    assert site.api.delete(f"/api/prompts/{pid}").json() == {"id": pid, "deleted": True}
    assert site.api.get(f"/api/prompts/{pid}").status_code == 404


def test_prompt_input_errors_name_the_problem(site: Site) -> None:
    empty = site.api.post("/api/prompts", json={"title": "t", "content": "   "})
    assert empty.status_code == 422 and "empty" in empty.json()["message"]
    missing = site.api.post("/api/prompts", json={"title": "t"})
    assert missing.status_code == 422 and missing.json()["field"] == "content"
    extra = site.api.post("/api/prompts", json={"title": "t", "content": "c", "nope": 1})
    assert extra.status_code == 422 and extra.json()["field"] == "nope"
    nothing = site.api.patch("/api/prompts/1", json={})
    assert nothing.status_code == 422
    assert site.api.patch("/api/prompts/99", json={"title": "x"}).status_code == 404
    assert site.api.get("/api/prompts/0").status_code == 422
    assert site.api.get(f"/api/prompts/{2**70}").status_code == 422
    not_json = site.api.post("/api/prompts", content=b"{", headers={
        "content-type": "application/json"})
    assert not_json.status_code == 422


def test_a_prompt_in_use_is_not_deleted_and_the_jobs_are_named(site: Site) -> None:
    p = site.prompt()
    a, b = site.job(p["id"]), site.job(p["id"])
    r = site.api.delete(f"/api/prompts/{p['id']}")
    assert r.status_code == 409
    assert r.json()["error"] == "conflict"
    assert f"job(s) {a['id']}, {b['id']}" in r.json()["message"]
    assert site.api.get(f"/api/prompts/{p['id']}").json()["used_by_jobs"] == [a["id"], b["id"]]


def test_prompt_export_and_import(site: Site) -> None:
    site.prompt("One", "first", ["x"])
    doc = site.api.get("/api/prompts/export").json()
    assert doc["format"] == "claude-night-pilot/prompts" and len(doc["prompts"]) == 1
    r = site.api.post("/api/prompts/import", json=doc)
    assert r.status_code == 201 and r.json()["imported"] == 1
    bad = site.api.post("/api/prompts/import", json={"prompts": [{"title": "t"}]})
    assert bad.status_code == 422 and "prompt #1" in bad.json()["message"]
    assert len(site.api.get("/api/prompts").json()["prompts"]) == 2


# -- jobs ----------------------------------------------------------------------------------------


def test_job_create_show_and_fire_times(site: Site) -> None:
    p = site.prompt()
    j = site.job(p["id"], "30 4 * * 1-5", name="Weekday", model="sonnet",
                 allowed_tools=["Read", "Bash(git log *)"], timeout="30m", retries=1)
    assert j["schedule_description"].endswith("(UTC)")
    assert len(j["next_fire_times"]) == 5
    assert j["options"] == {"model": "sonnet", "allowed_tools": ["Read", "Bash(git log *)"]}
    assert (j["timeout_s"], j["retries"], j["name"]) == (1800, 1, "Weekday")
    shown = site.api.get(f"/api/jobs/{j['id']}").json()
    assert shown["prompt_title"] == p["title"] and shown["recent_runs"] == []
    nxt = site.api.get(f"/api/jobs/{j['id']}/next",
                       params={"count": 3, "after": "2026-01-05T00:00"}).json()
    assert nxt["next_fire_times"] == ["2026-01-05T04:30:00+00:00", "2026-01-06T04:30:00+00:00",
                                      "2026-01-07T04:30:00+00:00"]
    bad_after = site.api.get(f"/api/jobs/{j['id']}/next", params={"after": "soon"})
    assert bad_after.status_code == 422
    listed = site.api.get("/api/jobs").json()["jobs"]
    assert [x["id"] for x in listed] == [j["id"]]


def test_job_dry_run_stores_nothing(site: Site) -> None:
    p = site.prompt()
    r = site.api.post("/api/jobs", json={"prompt_id": p["id"], "cron": "@daily",
                                         "timezone": "Europe/Berlin", "dry_run": True})
    assert r.status_code == 200 and r.json()["dry_run"] is True
    assert len(r.json()["next_fire_times"]) == 5
    assert site.api.get("/api/jobs").json()["jobs"] == []


@pytest.mark.parametrize(("body", "status", "expect"), [
    ({"cron": "61 * * * *"}, 422, {"error": "invalid_cron", "field": "minute"}),
    ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, 422, {"error": "invalid_input"}),
    ({"cron": "0 3 * * *", "timeout": "forever"}, 422, {"error": "invalid_input"}),
    ({"cron": "0 3 * * *", "work_dir": "/no/such/dir"}, 422, {"error": "invalid_input"}),
    ({"cron": "0 3 * * *", "retries": 99}, 422, {"field": "retries"}),
    ({"cron": "0 3 * * *", "executor": "python"}, 422, {"field": "executor"}),
    ({"cron": "0 3 * * *", "max_budget_usd": -1}, 422, {"field": "max_budget_usd"}),
    ({}, 422, {"error": "invalid_input"}),
    ({"cron": "@daily", "at": "2099-01-01T00:00"}, 422, {"error": "invalid_input"}),
    ({"at": "2001-01-01T00:00"}, 422, {"error": "invalid_input"}),
])
def test_job_validation_is_the_clis(site: Site, body: dict[str, object], status: int,
                                    expect: dict[str, str]) -> None:
    p = site.prompt()
    r = site.api.post("/api/jobs", json={"prompt_id": p["id"], **body})
    assert r.status_code == status, r.text
    for key, value in expect.items():
        assert r.json()[key] == value
    assert site.api.get("/api/jobs").json()["jobs"] == []


def test_job_for_a_missing_prompt_is_404(site: Site) -> None:
    r = site.api.post("/api/jobs", json={"prompt_id": 42, "cron": "@daily"})
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_job_update_changes_only_what_is_given(site: Site) -> None:
    p, q = site.prompt(), site.prompt("Other", "other text")
    j = site.job(p["id"], "0 3 * * *", model="opus", name="Nightly")
    with site.store() as store:
        before = store.jobs.get(j["id"])
    r = site.api.patch(f"/api/jobs/{j['id']}", json={"model": "sonnet", "description": "d"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert (data["options"]["model"], data["description"], data["name"]) == ("sonnet", "d",
                                                                              "Nightly")
    assert data["next_run_at"] == j["next_run_at"]  # schedule untouched: not rescheduled
    with site.store() as store:
        after = store.jobs.get(j["id"])
        audit = store.audit.entries("job", 1)[0]
    assert after.cron_expr == before.cron_expr and after.updated_at > before.updated_at
    assert (audit["action"], audit["actor"]) == ("update", "web")
    moved = site.api.patch(f"/api/jobs/{j['id']}", json={"cron": "15 5 * * *",
                                                         "prompt_id": q["id"]}).json()
    assert moved["cron_expr"] == "15 5 * * *" and moved["prompt_id"] == q["id"]
    assert moved["next_run_at"].endswith("05:15:00+00:00")
    at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    once = site.api.patch(f"/api/jobs/{j['id']}", json={"at": at.isoformat()}).json()
    assert once["cron_expr"] is None and once["run_at"] == at.isoformat()
    assert once["next_run_at"] == at.isoformat()
    back = site.api.patch(f"/api/jobs/{j['id']}", json={"cron": "@hourly"}).json()
    assert back["run_at"] is None and back["cron_expr"] == "0 * * * *"


def test_job_update_is_validated_and_atomic(site: Site) -> None:
    p = site.prompt()
    j = site.job(p["id"])
    for body, status, field in (({"cron": "0 24 * * *"}, 422, "hour"),
                                ({"timeout": "-5"}, 422, None),
                                ({"prompt_id": 999}, 404, None),
                                ({"bogus": True}, 422, "bogus")):
        r = site.api.patch(f"/api/jobs/{j['id']}", json=body)
        assert r.status_code == status, (body, r.text)
        if field:
            assert r.json()["field"] == field
    assert site.api.get(f"/api/jobs/{j['id']}").json()["cron_expr"] == "0 3 * * *"
    assert site.api.patch("/api/jobs/999", json={"model": "x"}).status_code == 404


def test_a_paused_job_stays_paused_when_edited(site: Site) -> None:
    j = site.job(site.prompt()["id"])
    site.api.post(f"/api/jobs/{j['id']}/pause")
    edited = site.api.patch(f"/api/jobs/{j['id']}", json={"cron": "0 4 * * *"}).json()
    assert edited["enabled"] is False and edited["next_run_at"] is None


def test_editing_a_one_shot_job_after_its_time_keeps_the_time(site: Site) -> None:
    j = site.job(site.prompt()["id"], "@daily")
    past = datetime(2020, 1, 1, tzinfo=UTC)
    with site.store() as store, store.write() as db:
        db.execute("UPDATE jobs SET cron_expr = NULL, run_at = ?, next_run_at = NULL"
                   " WHERE id = ?", ("2020-01-01T00:00:00.000000Z", j["id"]))
    r = site.api.patch(f"/api/jobs/{j['id']}", json={"name": "renamed"})
    assert r.status_code == 200, r.text
    assert r.json()["run_at"] == past.isoformat() and r.json()["name"] == "renamed"


def test_pause_resume_trigger_delete(site: Site) -> None:
    j = site.job(site.prompt()["id"])
    paused = site.api.post(f"/api/jobs/{j['id']}/pause").json()
    assert paused["enabled"] is False and paused["next_run_at"] is None
    resumed = site.api.post(f"/api/jobs/{j['id']}/resume").json()
    assert resumed["enabled"] is True and resumed["next_run_at"]
    run = site.api.post(f"/api/jobs/{j['id']}/trigger")
    assert run.status_code == 201
    assert (run.json()["status"], run.json()["trigger"]) == ("pending", "manual")
    assert run.json()["daemon_running"] is False
    second = site.api.post(f"/api/jobs/{j['id']}/trigger").json()
    assert second["status"] == "skipped"  # overlap: skip while the first is pending
    assert site.api.delete(f"/api/jobs/{j['id']}").json() == {"id": j["id"], "deleted": True}
    assert site.api.get(f"/api/jobs/{j['id']}").json()["deleted_at"]
    assert site.api.post(f"/api/jobs/{j['id']}/trigger").status_code == 404
    assert site.api.delete(f"/api/jobs/{j['id']}").status_code == 404
    assert site.api.get("/api/jobs", params={"include_deleted": True}).json()["jobs"]


def test_cron_check(site: Site) -> None:
    ok = site.anon.get("/api/cron", params={"cron": "*/15 9-17 * * mon-fri",
                                            "timezone": "America/New_York", "count": 3}).json()
    assert ok["valid"] and ok["timezone"] == "America/New_York" and len(ok["next_fire_times"]) == 3
    assert "15" in ok["description"]
    seconds = site.anon.get("/api/cron", params={"cron": "30 0 3 * * *"}).json()
    assert seconds["expr"] == "30 0 3 * * *"
    bad = site.anon.get("/api/cron", params={"cron": "0 3 * * 8"})
    assert bad.status_code == 422 and bad.json()["field"] == "day-of-week"
    empty = site.anon.get("/api/cron")
    assert empty.status_code == 422
    once = site.anon.get("/api/cron", params={"at": "2099-06-01T12:00", "timezone": "UTC"}).json()
    assert once["run_at"] == "2099-06-01T12:00:00+00:00"


# -- runs -----------------------------------------------------------------------------------------


def _finish(site: Site, run_id: int, status: str = "completed", **cols: object) -> None:
    sets = ", ".join(f"{k} = ?" for k in ("status", *cols))
    with sqlite3.connect(site.db) as db:
        db.execute(f"UPDATE job_executions SET {sets}, started_at = ?, finished_at = ?"
                   " WHERE id = ?", (status, *cols.values(), _now(), _now(), run_id))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_executions_list_filters_and_pages(site: Site) -> None:
    a = site.job(site.prompt()["id"], overlap="allow")
    b = site.job(site.prompt("B", "b")["id"], overlap="allow")
    ids = [site.api.post(f"/api/jobs/{j['id']}/trigger").json()["id"] for j in (a, b, a, a)]
    _finish(site, ids[0], "failed", reason="boom")
    page = site.anon.get("/api/runs", params={"per_page": 2}).json()
    assert (page["total"], page["pages"], page["page"]) == (4, 2, 1)
    assert [e["id"] for e in page["runs"]] == [ids[3], ids[2]]
    second = site.anon.get("/api/runs", params={"per_page": 2, "page": 2}).json()
    assert [e["id"] for e in second["runs"]] == [ids[1], ids[0]]
    by_job = site.anon.get("/api/runs", params={"job_id": a["id"]}).json()
    assert by_job["total"] == 3 and by_job["filters"]["job_id"] == a["id"]
    failed = site.anon.get("/api/runs", params={"status": "failed"}).json()
    assert [e["id"] for e in failed["runs"]] == [ids[0]]
    assert failed["runs"][0]["reason"] == "boom"
    assert site.anon.get("/api/runs", params={"status": "nope"}).status_code == 422
    assert site.anon.get("/api/runs", params={"page": 0}).status_code == 422
    beyond = site.anon.get("/api/runs", params={"page": 99}).json()
    assert beyond["runs"] == [] and beyond["total"] == 4


def test_execution_detail_events_and_cancel(site: Site) -> None:
    j = site.job(site.prompt()["id"])
    run = site.api.post(f"/api/jobs/{j['id']}/trigger").json()
    with site.store() as store:
        for seq, line in enumerate(['{"type":"system","subtype":"init","model":"m"}',
                                    '{"type":"assistant","message":{"content":'
                                    '[{"type":"text","text":"Hello"}]}}']):
            add_event(store, run["id"], seq, datetime.now(UTC), "stdout", line)
    detail = site.anon.get(f"/api/runs/{run['id']}").json()
    assert detail["status"] == "pending" and detail["active"] and detail["cancellable"]
    assert detail["prompt_text"] == "Review the code." and "events" not in detail
    with_events = site.anon.get(f"/api/runs/{run['id']}", params={"events": True}).json()
    assert [e["seq"] for e in with_events["events"]["events"]] == [0, 1]
    tail = site.anon.get(f"/api/runs/{run['id']}/events", params={"after_seq": 0}).json()
    assert [e["summary"] for e in tail["events"]] == ["Hello"] and tail["last_seq"] == 1
    assert tail["done"] is False
    limited = site.anon.get(f"/api/runs/{run['id']}/events", params={"limit": 1}).json()
    assert limited["more"] is True and len(limited["events"]) == 1
    cancelled = site.api.post(f"/api/runs/{run['id']}/cancel").json()
    assert cancelled == {"id": run["id"], "status": "cancelled", "cancel_requested": False}
    again = site.api.post(f"/api/runs/{run['id']}/cancel")
    assert again.status_code == 200  # cancelling a cancelled run is idempotent
    _finish(site, run["id"], "completed")
    ended = site.api.post(f"/api/runs/{run['id']}/cancel")
    assert ended.status_code == 409 and "already ended" in ended.json()["message"]
    assert site.anon.get("/api/runs/999").status_code == 404
    assert site.anon.get("/api/runs/999/events").status_code == 404
    assert site.api.post("/api/runs/999/cancel").status_code == 404


def test_secrets_in_mcp_config_and_argv_are_masked(site: Site) -> None:
    mcp = '{"mcpServers": {"gh": {"command": "gh-mcp", "env": {"GITHUB_PAT": "ghp_secret"}}}}'
    j = site.job(site.prompt()["id"], mcp_config=mcp)
    shown = site.anon.get(f"/api/jobs/{j['id']}").text
    assert "ghp_secret" not in shown and "***" in shown and "gh-mcp" in shown
    page = site.anon.get(f"/jobs/{j['id']}", headers={"accept": "text/html"}).text
    assert "ghp_secret" not in page
    # Sending the masked value back keeps the secret; the job still has it.
    masked = site.anon.get(f"/api/jobs/{j['id']}").json()["options"]["mcp_config"]
    site.api.patch(f"/api/jobs/{j['id']}", json={"mcp_config": masked, "model": "m"})
    with site.store() as store:
        assert "ghp_secret" in (store.jobs.get(j["id"]).options.mcp_config or "")
    run = site.api.post(f"/api/jobs/{j['id']}/trigger").json()
    with sqlite3.connect(site.db) as db:
        db.execute("UPDATE job_executions SET argv = ? WHERE id = ?",
                   (json.dumps(["claude", "--mcp-config", mcp]), run["id"]))
    detail = site.anon.get(f"/api/runs/{run['id']}").json()
    assert detail["argv"][1] == "--mcp-config" and "ghp_secret" not in detail["argv"][2]


def test_execute_queues_an_ad_hoc_run_and_respects_a_cooldown(site: Site) -> None:
    r = site.api.post("/api/execute", json={"prompt": "Summarize", "model": "haiku"})
    assert r.status_code == 201, r.text
    assert (r.json()["job_id"], r.json()["trigger"], r.json()["status"]) == (None, "execute",
                                                                             "pending")
    assert site.api.post("/api/execute", json={"prompt": " "}).status_code == 422
    _cooldown(site, hours=1)
    refused = site.api.post("/api/execute", json={"prompt": "again"})
    assert refused.status_code == 409 and "usage limit (session)" in refused.json()["message"]
    forced = site.api.post("/api/execute", json={"prompt": "again", "force": True})
    assert forced.status_code == 201


@pytest.mark.parametrize("prompt,executor", [
    ("rm -rf ~", "shell"),  # critical risk, not accepted
    ("Summarize {{nope}}", "claude"),  # a template variable without a value
])
def test_execute_refuses_what_the_cli_refuses(site: Site, prompt: str, executor: str) -> None:
    work = str(site.root / "work")
    by_cli = cnp("--db", str(site.db), "execute", "--prompt", prompt, "--executor", executor,
                 "--work-dir", work, "--mode", "async", "--format", "json")
    assert by_cli.exit_code == 2
    by_api = site.api.post("/api/execute", json={"prompt": prompt, "executor": executor,
                                                 "work_dir": work})
    assert by_api.status_code == 422, by_api.text
    assert by_api.json()["error"] == by_cli.error["error"]
    assert by_api.json()["message"] == by_cli.error["message"]
    assert site.api.get("/api/runs").json()["runs"] == []


# -- status, cooldown, usage, health -------------------------------------------------------------


def _cooldown(site: Site, hours: float) -> None:
    now = datetime.now(UTC)
    with site.store() as store:
        store.cooldowns.insert(kind="session", reset_at=now + timedelta(hours=hours),
                              detected_at=now, source_execution_id=None,
                              message="You've hit your limit")


def test_cooldown_show_and_clear(site: Site) -> None:
    assert site.anon.get("/api/cooldown").json()["active"] is False
    assert cnp("--db", str(site.db), "cooldown", "--format", "json").json == \
        site.anon.get("/api/cooldown").json()  # the same shape as the CLI's
    _cooldown(site, hours=2)
    state = site.anon.get("/api/cooldown").json()
    assert state["active"] and state["kind"] == "session"
    assert 7100 < state["seconds_left"] <= 7200
    printed = cnp("--db", str(site.db), "cooldown", "--format", "json").json
    assert set(printed) == set(state) and printed["reset_at"] == state["reset_at"]
    assert printed["message"] == state["message"] == "You've hit your limit"
    assert site.anon.get("/api/overview").json()["cooldown"]["active"] is True
    assert site.api.post("/api/cooldown/clear").json() == {"cleared": 1}
    assert site.anon.get("/api/cooldown").json()["active"] is False


def test_overview_and_status(site: Site) -> None:
    j = site.job(site.prompt()["id"])
    run = site.api.post(f"/api/jobs/{j['id']}/trigger").json()
    _finish(site, run["id"], "failed", reason="exit 1", input_tokens=10, output_tokens=5,
            total_cost_usd=0.25)
    o = site.anon.get("/api/overview").json()
    assert o["daemon"]["running"] is False
    assert o["counts"]["jobs"] == 1 and o["counts"]["runs"] == 1
    assert [r["job_id"] for r in o["next_runs"]] == [j["id"]]
    assert [f["id"] for f in o["recent_failures"]] == [run["id"]]
    assert (o["today"]["runs"], o["today"]["input_tokens"], o["today"]["cost_usd"]) == (1, 10,
                                                                                       0.25)
    s = site.anon.get("/api/status").json()
    assert s["database"] == str(site.db) and s["counts"]["runs"] == 1
    assert s["last_failures"][0]["reason"] == "exit 1"


def test_usage_by_day_and_by_job(site: Site) -> None:
    j = site.job(site.prompt()["id"], overlap="allow")
    for tokens in (100, 50):
        run = site.api.post(f"/api/jobs/{j['id']}/trigger").json()
        _finish(site, run["id"], input_tokens=tokens, output_tokens=1, total_cost_usd=0.5)
    u = site.anon.get("/api/usage", params={"days": 7}).json()
    assert len(u["by_day"]) == 7 and u["by_day"][-1]["input_tokens"] == 150
    assert u["totals"]["runs"] == 2 and u["totals"]["cost_usd"] == 1.0
    assert [(x["job_id"], x["runs"], x["cost_usd"]) for x in u["by_job"]] == [(j["id"], 2, 1.0)]
    assert site.anon.get("/api/usage", params={"days": 0}).status_code == 422


def test_health_report(site: Site) -> None:
    site.prompt()  # the database exists
    report = site.anon.get("/api/health", params={"fast": True}).json()
    assert {"database", "claude_cli", "daemon", "cooldown", "disk"} <= set(report["checks"])
    assert report["checks"]["database"]["ok"] is True


def test_statuses_listed_in_the_api_are_the_models(site: Site) -> None:
    spec = site.app.openapi()
    params = spec["paths"]["/api/runs"]["get"]["parameters"]
    pattern = next(p for p in params if p["name"] == "status")["schema"]
    text = str(pattern)
    assert all(s in text for s in RunStatus.values())


def test_the_output_cap_is_set_changed_and_reset_like_the_clis(site: Site) -> None:
    j = site.job(site.prompt()["id"], max_output="2M")
    assert j["max_output_bytes"] == 2 * 2**20
    changed = site.api.patch(f"/api/jobs/{j['id']}", json={"max_output": 8192}).json()
    assert changed["max_output_bytes"] == 8192
    bad = site.api.patch(f"/api/jobs/{j['id']}", json={"max_output": "lots"})
    assert bad.status_code == 422
    assert bad.json()["message"] == "--max-output 'lots' is not a size (e.g. 64M, 512K, 1G)"
    reset = site.api.patch(f"/api/jobs/{j['id']}", json={"max_output": None}).json()
    assert reset["max_output_bytes"] is None


def test_the_truncation_marker_is_shown_as_such(site: Site) -> None:
    j = site.job(site.prompt()["id"])
    run = site.api.post(f"/api/jobs/{j['id']}/trigger").json()
    with site.store() as store:
        add_event(store, run["id"], 0, datetime.now(UTC), "stdout", "kept")
        store.events.append(run["id"], [(1, "2026-12-04T00:00:00.000000Z", "cnp", "truncated",
                                         None, "output truncated at the 4K cap")], owner=None)
    events = site.anon.get(f"/api/runs/{run['id']}/events").json()["events"]
    assert [(e["kind"], e["summary"]) for e in events] == [
        ("text", "kept"), ("truncated", "output truncated at the 4K cap")]
    page = site.anon.get(f"/runs/{run['id']}/events", params={"after": -1})
    assert 'class="ev ev-truncated"' in page.text
