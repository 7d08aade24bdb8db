"""The HTML pages: each renders, each has a JSON twin with the same data, and the forms create,
edit and delete through the same rules as the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from event_rows import add_event

from .conftest import Site

HTML = {"accept": "text/html"}


def _seed(site: Site) -> dict[str, int]:
    p = site.prompt("Nightly review", "Review yesterday's commits.", ["review"])
    j = site.job(p["id"], "0 3 * * *")
    run = site.api.post(f"/api/jobs/{j['id']}/trigger").json()
    return {"prompt": p["id"], "job": j["id"], "run": run["id"]}


@pytest.mark.parametrize(("page", "twin"), [
    ("/", "/api/overview"),
    ("/prompts", "/api/prompts"),
    ("/prompts?tag=review", "/api/prompts?tag=review"),
    ("/prompts/{prompt}", "/api/prompts/{prompt}"),
    ("/jobs", "/api/jobs"),
    ("/jobs/{job}", "/api/jobs/{job}"),
    ("/runs", "/api/runs"),
    ("/runs?job_id={job}&status=pending", "/api/runs?job_id={job}&status=pending"),
    ("/runs/{run}", "/api/runs/{run}?events=true"),
    ("/usage?days=7", "/api/usage?days=7"),
    ("/health?fast=true", "/api/health?fast=true"),
])
def test_every_page_renders_and_its_json_twin_has_the_same_data(site: Site, page: str,
                                                                 twin: str) -> None:
    ids = _seed(site)
    page, twin = page.format(**ids), twin.format(**ids)
    html = site.anon.get(page, headers=HTML)
    assert html.status_code == 200, html.text
    assert html.headers["content-type"].startswith("text/html")
    assert "<!doctype html>" in html.text and "/static/htmx.min.js" in html.text
    json_link = re.search(r'<a href="([^"]+)">JSON of this page</a>', html.text)
    assert json_link is not None
    sep = "&" if "?" in page else "?"
    as_json = site.anon.get(f"{page}{sep}format=json").json()
    api = site.anon.get(twin).json()
    for volatile in ("now", "elapsed_ms"):
        as_json.pop(volatile, None)
        api.pop(volatile, None)
    if page.startswith("/health"):
        for check in (as_json, api):
            for c in check["checks"].values():
                c["details"].pop("free_bytes", None)
                c["summary"] = re.sub(r"\d+ GB free", "", c["summary"])
    assert as_json == api


def test_forms_and_fragments_render(site: Site) -> None:
    ids = _seed(site)
    for url in ("/prompts/new", "/jobs/new", f"/jobs/new?prompt_id={ids['prompt']}",
                f"/jobs/{ids['job']}/edit", "/docs", "/login", "/fragments/cooldown"):
        r = site.anon.get(url, headers=HTML)
        assert r.status_code == 200, (url, r.text)
    docs = site.anon.get("/docs").text
    assert "/api/jobs/{job_id}/trigger" in docs and "JobCreate" in docs


def test_unknown_things_are_404_pages(site: Site) -> None:
    for url in ("/jobs/999", "/prompts/999", "/runs/999", "/nowhere"):
        r = site.anon.get(url, headers=HTML)
        assert r.status_code == 404 and "Not found" in r.text, url
    assert site.anon.get("/jobs/999").json()["error"] == "not_found"


def test_live_schedule_check_fragment(site: Site) -> None:
    ok = site.anon.get("/fragments/schedule", params={"cron": "30 2 * * 1", "timezone": "UTC",
                                                       "schedule_kind": "cron"})
    assert ok.status_code == 200 and "✓" in ok.text and "02:30" in ok.text
    assert ok.text.count("<li>") == 5
    bad = site.anon.get("/fragments/schedule", params={"cron": "30 2 * 13 1",
                                                        "schedule_kind": "cron"})
    assert bad.status_code == 200 and "month" in bad.text and "13 is out of range" in bad.text
    zone = site.anon.get("/fragments/schedule", params={"cron": "@daily", "timezone": "Nope/X"})
    assert "unknown time zone" in zone.text
    once = site.anon.get("/fragments/schedule", params={
        "cron": "ignored", "at": "2099-01-02T03:04", "timezone": "UTC", "schedule_kind": "at"})
    assert "Once, at 2099-01-02 03:04:00" in once.text


def test_prompt_forms(site: Site) -> None:
    c, csrf = site.browser()
    r = c.post("/prompts", data={"title": "Audit", "content": "Check deps", "tags": "a,b",
                                 "csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/prompts/1?flash=created"
    invalid = c.post("/prompts", data={"title": "x", "content": "  ", "csrf_token": csrf})
    assert invalid.status_code == 422 and "the prompt is empty" in invalid.text
    edited = c.post("/prompts/1", data={"title": "Audit 2", "content": "Check deps",
                                        "tags": "a", "csrf_token": csrf})
    assert edited.status_code == 303
    assert site.anon.get("/api/prompts/1").json()["tags"] == ["a"]
    shown = c.get("/prompts/1?flash=updated").text
    assert "Saved." in shown and "Audit 2" in shown


def test_deleting_a_prompt_in_use_shows_the_jobs(site: Site) -> None:
    ids = _seed(site)
    c, csrf = site.browser()
    r = c.post(f"/prompts/{ids['prompt']}/delete", data={"csrf_token": csrf})
    assert r.status_code == 409
    assert f"is used by job(s) {ids['job']}" in r.text
    assert site.anon.get(f"/api/prompts/{ids['prompt']}").status_code == 200
    c.post(f"/jobs/{ids['job']}/delete", data={"csrf_token": csrf})
    gone = c.post(f"/prompts/{ids['prompt']}/delete", data={"csrf_token": csrf})
    assert gone.status_code == 303 and gone.headers["location"] == "/prompts?flash=deleted"


def _job_form(prompt_id: int, csrf: str, **overrides: str) -> dict[str, str]:
    form = {"csrf_token": csrf, "prompt_id": str(prompt_id), "schedule_kind": "cron",
            "cron": "15 4 * * *", "at": "", "timezone": "Europe/Berlin", "name": "",
            "description": "", "work_dir": "", "executor": "claude", "model": "",
            "allowed_tools": "Read,Grep", "permission_mode": "", "timeout": "30m",
            "disallowed_tools": "", "max_turns": "", "max_budget_usd": "", "idle_timeout": "",
            "retries": "2", "misfire": "latest", "misfire_grace": "6h", "overlap": "skip",
            "on_interrupt": "retry-unstarted", "on_limit": "rerun",
            "append_system_prompt": "", "mcp_config": "", "add_dirs": "", "enabled": "on"}
    form.update(overrides)
    return form


def test_job_forms_create_edit_pause_trigger_delete(site: Site) -> None:
    p = site.prompt()
    c, csrf = site.browser()
    bad = c.post("/jobs", data=_job_form(p["id"], csrf, cron="15 4 * * 8"))
    assert bad.status_code == 422 and "day-of-week" in bad.text
    assert 'value="15 4 * * 8"' in bad.text  # what was typed is kept
    r = c.post("/jobs", data=_job_form(p["id"], csrf))
    assert r.status_code == 303, r.text
    job_id = int(r.headers["location"].split("/")[2].split("?")[0])
    job = site.anon.get(f"/api/jobs/{job_id}").json()
    assert (job["cron_expr"], job["timezone"], job["timeout_s"]) == ("15 4 * * *",
                                                                   "Europe/Berlin", 1800)
    assert job["options"]["allowed_tools"] == ["Read", "Grep"]
    assert job["work_dir"] == str(site.root / "work")  # the server's default directory
    form_page = c.get(f"/jobs/{job_id}/edit").text
    assert 'value="15 4 * * *"' in form_page and 'value="30m"' in form_page
    edit = c.post(f"/jobs/{job_id}", data=_job_form(p["id"], csrf, cron="0 5 * * *",
                                                    model="sonnet", timeout="30m"))
    assert edit.status_code == 303, edit.text
    job = site.anon.get(f"/api/jobs/{job_id}").json()
    assert (job["cron_expr"], job["options"]["model"]) == ("0 5 * * *", "sonnet")
    bad_edit = c.post(f"/jobs/{job_id}", data=_job_form(p["id"], csrf, timeout="later"))
    assert bad_edit.status_code == 422 and "is not a duration" in bad_edit.text
    assert c.post(f"/jobs/{job_id}/pause", data={"csrf_token": csrf}).status_code == 303
    assert site.anon.get(f"/api/jobs/{job_id}").json()["enabled"] is False
    assert c.post(f"/jobs/{job_id}/resume", data={"csrf_token": csrf}).status_code == 303
    trig = c.post(f"/jobs/{job_id}/trigger", data={"csrf_token": csrf})
    assert trig.status_code == 303 and trig.headers["location"].startswith("/runs/")
    run_page = c.get(trig.headers["location"]).text
    assert "queued for the daemon" in run_page and "No daemon is running" in run_page
    assert 'id="events-poll"' in run_page  # live output polling while the run is open
    cancel = c.post(trig.headers["location"].split("?")[0] + "/cancel",
                    data={"csrf_token": csrf})
    assert cancel.status_code == 303
    assert c.post(f"/jobs/{job_id}/delete", data={"csrf_token": csrf}).status_code == 303
    assert site.anon.get(f"/api/jobs/{job_id}").json()["deleted_at"]


def test_a_one_shot_job_from_the_form(site: Site) -> None:
    p = site.prompt()
    c, csrf = site.browser()
    r = c.post("/jobs", data=_job_form(p["id"], csrf, schedule_kind="at", cron="",
                                       at="2099-03-04T05:06", timezone="UTC"))
    assert r.status_code == 303, r.text
    job = site.anon.get("/api/jobs/1").json()
    assert job["run_at"] == "2099-03-04T05:06:00+00:00" and job["cron_expr"] is None
    edit = c.post("/jobs/1", data=_job_form(p["id"], csrf, schedule_kind="at", cron="",
                                            at="2099-03-04T05:06:00", timezone="UTC",
                                            name="renamed"))
    assert edit.status_code == 303, edit.text
    assert site.anon.get("/api/jobs/1").json()["name"] == "renamed"


def test_events_fragment_streams_new_lines_and_stops_when_done(site: Site) -> None:
    ids = _seed(site)
    run = ids["run"]
    with site.store() as store:
        add_event(store, run, 0, datetime.now(UTC), "stdout",
                           '{"type":"assistant","message":{"content":[{"type":"text",'
                           '"text":"Working on it"}]}}')
    first = site.anon.get(f"/runs/{run}/events", params={"after": -1, "live": 1})
    assert "Working on it" in first.text and "after=0" in first.text
    assert "HX-Refresh" not in first.headers
    assert 'id="run-status" hx-swap-oob="true"' in first.text
    nothing = site.anon.get(f"/runs/{run}/events", params={"after": 0, "live": 1})
    assert "Working on it" not in nothing.text and "after=0" in nothing.text
    site.api.post(f"/api/runs/{run}/cancel")
    done = site.anon.get(f"/runs/{run}/events", params={"after": 0, "live": 1})
    assert done.headers["HX-Refresh"] == "true" and "events-poll" not in done.text
    page = site.anon.get(f"/runs/{run}", headers=HTML).text
    assert "events-poll" not in page and "Working on it" in page


def test_cooldown_banner_on_every_page(site: Site) -> None:
    from datetime import timedelta

    now = datetime.now(UTC)
    with site.store() as store:
        store.cooldowns.insert(kind="weekly", reset_at=now + timedelta(hours=3), detected_at=now,
                              source_execution_id=None, message=None)
    for url in ("/", "/jobs", "/usage", "/fragments/cooldown"):
        text = site.anon.get(url, headers=HTML).text
        assert "Usage limit reached (weekly)" in text and "data-countdown-to=" in text, url
    c, csrf = site.browser()
    assert c.post("/cooldown/clear", data={"csrf_token": csrf}).status_code == 303
    assert "Usage limit reached" not in site.anon.get("/", headers=HTML).text


def test_the_overview_card_follows_a_limit_that_starts_after_the_page_loaded(site: Site,
                                                                            ) -> None:
    """The card polls the same state as the banner, so they never disagree for long."""
    from datetime import timedelta

    page = site.anon.get("/", headers=HTML).text
    assert 'id="cooldown-card" hx-get="/fragments/cooldown?part=card"' in page
    assert '<p class="big ok">None</p>' in page
    now = datetime.now(UTC)
    with site.store() as store:
        store.cooldowns.insert(kind="five_hour", reset_at=now + timedelta(hours=2),
                              detected_at=now, source_execution_id=None, message=None)
    card = site.anon.get("/fragments/cooldown?part=card", headers=HTML).text
    assert card.startswith('<div class="card" id="cooldown-card"')
    assert '<p class="big warn">five_hour</p>' in card and "resets" in card
    banner = site.anon.get("/fragments/cooldown", headers=HTML).text
    assert "Usage limit reached (five_hour)" in banner


def test_usage_page_draws_svg_charts(site: Site) -> None:
    _seed(site)
    text = site.anon.get("/usage", headers=HTML).text
    assert text.count('<svg class="chart"') == 2  # no runs with tokens yet: no job charts
    assert "Tokens per day" in text and "Cost per day" in text


def test_executions_page_filters_and_pager(site: Site) -> None:
    j = site.job(site.prompt()["id"], overlap="allow")
    for _ in range(55):
        site.api.post(f"/api/jobs/{j['id']}/trigger")
    first = site.anon.get("/runs", headers=HTML).text
    assert "page 1 of 2" in first and 'rel="next"' in first
    second = site.anon.get("/runs?page=2&status=&job_id=", headers=HTML).text
    assert "page 2 of 2" in second and 'rel="prev"' in second
    filtered = site.anon.get(f"/runs?job_id={j['id']}&status=failed", headers=HTML).text
    assert "No runs match" in filtered
