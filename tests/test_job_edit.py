"""`cnp job edit` changes what it is given, validated as `job create` and the web API's PATCH
validate (one code path: catalog.edit_job), prints what changed, and stores nothing with
--dry-run; `cnp prompt edit` with no new text opens $EDITOR."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from cli_runner import cnp

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database


@pytest.fixture
def job_id() -> int:
    pid = cnp("prompt", "create", "p", "hello", "--format", "json").json["id"]
    created = cnp("job", "create", str(pid), "0 3 * * *", "--tz", "UTC", "--name", "nightly",
                  "--format", "json")
    assert created.exit_code == 0, created.stderr
    return int(created.json["id"])


def shown(job_id: int) -> dict[str, Any]:
    return dict(cnp("job", "show", str(job_id), "--format", "json").json)


def test_an_edit_changes_only_what_it_is_given_and_says_what(job_id: int,
                                                              tmp_path: Path) -> None:
    before = shown(job_id)
    res = cnp("job", "edit", str(job_id), "--cron", "30 2 * * *", "--tz", "Europe/Berlin",
              "--timeout", "45m", "--model", "sonnet", "--allowed-tools", "Read,Grep",
              "--misfire", "skip", "--overlap", "queue", "--on-limit", "resume",
              "--retries", "0", "--max-output", "1M", "--work-dir", str(tmp_path),
              "--description", "the review")
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith(f"Changed job {job_id} (nightly):")
    for line in ("cron", "0 3 * * * -> 30 2 * * *"), ("timezone", "UTC -> Europe/Berlin"), \
            ("timeout_s", "3600 -> 2700"), ("options.model", "- -> sonnet"):
        assert any(line[0] in out and line[1] in out for out in res.stdout.splitlines()), line
    after = shown(job_id)
    assert after["cron_expr"] == "30 2 * * *" and after["timezone"] == "Europe/Berlin"
    assert after["timeout_s"] == 2700 and after["options"]["model"] == "sonnet"
    assert after["options"]["allowed_tools"] == ["Read", "Grep"]
    assert (after["misfire"], after["overlap"], after["on_limit"], after["retries"]) == (
        "skip", "queue", "resume", 0)
    assert after["max_output_bytes"] == 1024 * 1024 and after["work_dir"] == str(tmp_path)
    assert after["description"] == "the review"
    assert after["next_run_at"] != before["next_run_at"]  # the schedule changed
    assert (after["name"], after["idle_timeout_s"]) == (before["name"], before["idle_timeout_s"])
    cleared = cnp("job", "edit", str(job_id), "--model", "", "--format", "json").json
    assert cleared["changes"] == [{"field": "options.model", "old": "sonnet", "new": None}]
    assert cleared["rescheduled"] is False and "model" not in cleared["job"]["options"]
    assert shown(job_id)["next_run_at"] == after["next_run_at"]  # no schedule change


def test_a_dry_run_stores_nothing(job_id: int) -> None:
    before = shown(job_id)
    res = cnp("job", "edit", str(job_id), "--at", "2099-01-01T10:00", "--dry-run")
    assert res.exit_code == 0, res.stderr
    assert "Would change" in res.stdout and "Dry run: nothing was stored." in res.stdout
    assert "at" in res.stdout
    after = shown(job_id)
    assert after == before
    doc = cnp("job", "edit", str(job_id), "--name", "other", "--dry-run", "--format",
              "json").json
    assert doc["stored"] is False and doc["job"]["name"] == "other"
    assert doc["job"]["id"] == job_id and doc["job"]["created_at"] == before["created_at"]
    assert shown(job_id)["name"] == "nightly"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--cron", "99 * * * *"), "minute field"),
        (("--tz", "Mars/Olympus"), "time zone"),
        (("--timeout", "soon"), "--timeout"),
        (("--work-dir", "/no/such/dir"), "/no/such/dir"),
        (("--cron", "@daily", "--at", "2099-01-01T10:00"), "not both"),
        (("--prompt", "999"), "prompt 999"),
        ((), "nothing to change"),
    ],
)
def test_the_rules_of_job_create_apply(job_id: int, args: tuple[str, ...],
                                       message: str) -> None:
    before = shown(job_id)
    res = cnp("job", "edit", str(job_id), *args)
    assert res.exit_code != 0 and message in res.stderr
    assert shown(job_id) == before


def test_the_cli_and_the_api_refuse_alike(job_id: int) -> None:
    """The same bad change through `PATCH /api/jobs/{id}` and `cnp job edit`: one message."""
    from fastapi.testclient import TestClient

    from night_pilot.config import resolve_db
    from night_pilot.web.app import create_app

    app = create_app(resolve_db(None))
    token = app.state.auth.token
    with TestClient(app) as client:
        r = client.patch(f"/api/jobs/{job_id}", json={"misfire_grace": "never"},
                         headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (400, 422)
    cli = cnp("job", "edit", str(job_id), "--misfire-grace", "never", "--format", "json")
    assert cli.exit_code == 2
    assert cli.error["message"] == r.json()["message"]


EDITOR = """#!{python}
import sys
path = sys.argv[1]
text = open(path).read()
open(path, "w").write(text.replace("hello", "good night"))
"""


def test_prompt_edit_opens_the_editor_without_new_text(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    pid = cnp("prompt", "create", "p", "hello world", "--format", "json").json["id"]
    editor = tmp_path / "editor"
    editor.write_text(EDITOR.format(python=sys.executable))
    editor.chmod(0o755)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(editor))
    res = cnp("prompt", "edit", str(pid))
    assert res.exit_code == 0, res.stderr
    assert cnp("prompt", "show", str(pid), "--format", "json").json["content"] == \
        "good night world"
    again = cnp("prompt", "edit", str(pid))  # the editor finds nothing to replace
    assert again.exit_code == 0 and "unchanged" in again.stdout
    monkeypatch.delenv("EDITOR")
    refused = cnp("prompt", "edit", str(pid))  # no editor, no terminal
    assert refused.exit_code == 2 and "nothing to change" in refused.stderr
