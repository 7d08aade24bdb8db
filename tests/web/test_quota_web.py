"""The subscription windows on the dashboard and in the API: the overview's gauges, runs held
by a ceiling marked, `/api/quota`, and the ceilings and spare capacity in the job API and form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from night_pilot.quota import Window
from night_pilot.runs import claim_runs

from .conftest import Site
from .test_pages import HTML, _job_form


def test_the_overview_shows_both_windows_and_marks_runs_held_by_a_ceiling(site: Site) -> None:
    p = site.prompt()
    job = site.job(p["id"], quota_ceiling=80)
    assert job["quota_ceiling"] == 80.0
    before = site.anon.get("/", headers=HTML).text
    assert "Subscription windows" in before and before.count("unknown") >= 2
    assert site.anon.get("/api/quota").json()["windows"] == {"five_hour": None,
                                                              "seven_day": None}
    now = datetime.now(UTC)
    run = site.api.post(f"/api/jobs/{job['id']}/trigger").json()
    with site.store() as store:
        store.quota.observe("CLAUDE_CODE_OAUTH_TOKEN", [
            Window("five_hour", 0.85, now + timedelta(hours=2), now, "allowed"),
            Window("seven_day", 0.4, now + timedelta(days=3), now, "allowed")], None)
        claim_runs(store, now, instance="d1", host="h", slots=5, lease=timedelta(seconds=30))
    page = site.anon.get("/", headers=HTML).text
    assert 'aria-valuenow="85.0"' in page and 'aria-valuenow="40.0"' in page
    assert "resets <time" in page and "in 1h 59m" in page
    assert 'class="badge ceiling"' in page  # the held run, in "In progress and waiting"
    shown = site.anon.get("/api/quota").json()
    assert shown["windows"]["five_hour"]["utilization"] == 0.85
    assert [h["job_id"] for h in shown["held"]] == [job["id"]]
    runs_page = site.anon.get("/runs", headers=HTML).text
    assert 'class="badge ceiling"' in runs_page
    detail = site.anon.get(f"/api/runs/{run['id']}").json()
    assert detail["status"] == "deferred" and "quota ceiling of 80%" in detail["reason"]
    assert site.anon.get("/api/quota/plan").json()["seven_day"]["percent"] == 40.0


def test_the_job_api_takes_ceilings_and_spare_capacity(site: Site) -> None:
    p = site.prompt()
    job = site.job(p["id"])
    r = site.api.patch(f"/api/jobs/{job['id']}", json={"quota_ceiling": 70,
                                                        "weekly_ceiling": 90})
    assert r.status_code == 200, r.text
    assert (r.json()["quota_ceiling"], r.json()["weekly_ceiling"]) == (70.0, 90.0)
    spare = site.api.patch(f"/api/jobs/{job['id']}", json={"when": "spare",
                                                            "spare_window": "30m"})
    assert spare.status_code == 200, spare.text
    assert spare.json()["spare_window_s"] == 1800 and spare.json()["next_run_at"] is None
    back = site.api.patch(f"/api/jobs/{job['id']}", json={"cron": "0 4 * * *"})
    assert back.status_code == 200, back.text
    assert back.json()["spare_window_s"] is None and back.json()["cron_expr"] == "0 4 * * *"
    assert back.json()["quota_ceiling"] == 70.0
    bad = site.api.patch(f"/api/jobs/{job['id']}", json={"quota_ceiling": 120})
    assert bad.status_code == 422


def test_a_spare_job_from_the_form(site: Site) -> None:
    p = site.prompt()
    c, csrf = site.browser()
    r = c.post("/jobs", data=_job_form(p["id"], csrf, schedule_kind="spare", cron="",
                                       spare_window="20m", quota_ceiling="90"))
    assert r.status_code == 303, r.text
    job = site.anon.get("/api/jobs/1").json()
    assert (job["spare_window_s"], job["quota_ceiling"]) == (1200, 90.0)
    form = c.get("/jobs/1/edit").text
    assert 'value="spare" checked' in form and 'value="20m"' in form
    edit = c.post("/jobs/1", data=_job_form(p["id"], csrf, schedule_kind="cron",
                                            cron="0 2 * * *", quota_ceiling=""))
    assert edit.status_code == 303, edit.text
    job = site.anon.get("/api/jobs/1").json()
    assert job["spare_window_s"] is None and job["cron_expr"] == "0 2 * * *"
    assert job["quota_ceiling"] is None
