"""`cnp import claude-code`: the durable tasks Claude Code keeps in a project's
`.claude/scheduled_tasks.json` become jobs. Files shaped as Claude Code 2.1.328 writes them
(`{"tasks": [...]}`, two-space indent, the session fields it adds): recurring, permanent and
one-shot tasks, malformed entries, tasks imported before, `--dry-run` and `--remove`."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cli_runner import cnp

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database

ZONE = "Europe/Paris"
CREATED = int((datetime.now(UTC) - timedelta(days=1)).timestamp() * 1000)


def task(task_id: str, cron: str, prompt: str, **extra: Any) -> dict[str, Any]:
    """A task as Claude Code's CronCreate stores it in a session of the project."""
    return {"id": task_id, "cron": cron, "prompt": prompt, "createdAt": CREATED, **extra,
            "createdBySessionId": "5d0c4a8e-3c1f-4f7e-9a51-0b6f3f1c2d9e",
            "createdByPid": 4242, "createdByProcStart": "1733300000",
            "createdInProject": "/home/me/project"}


RECURRING = task("a1b2c3d4", "0 3 * * *", "Summarize yesterday's commits\ninto NOTES.md",
                 recurring=True, lastFiredAt=CREATED + 3_600_000)
PERMANENT = task("e5f6a7b8", "*/30 9-17 * * 1-5", "Check the CI status", recurring=True,
                 permanent=True)
ONE_SHOT = task("0c0ffee0", "0 9 1 1 *", "Wish the team a happy new year")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TZ", ZONE)
    path = tmp_path / "project"
    (path / ".claude").mkdir(parents=True)
    return path


def write_tasks(project: Path, tasks: list[Any]) -> Path:
    file = project / ".claude" / "scheduled_tasks.json"
    file.write_text(json.dumps({"tasks": tasks}, indent=2) + "\n")
    return file


def run(project: Path, *args: str) -> Any:
    return cnp("import", "claude-code", str(project), *args, "--format", "json")


def jobs() -> list[dict[str, Any]]:
    res = cnp("job", "list", "--all", "--format", "json")
    assert res.exit_code == 0, res.stderr
    return list(res.json["jobs"])


def prompts() -> list[dict[str, Any]]:
    return list(cnp("prompt", "list", "--format", "json").json["prompts"])


def next_new_year(now: datetime) -> datetime:
    zone = ZoneInfo(ZONE)
    local = now.astimezone(zone)
    at = datetime(local.year, 1, 1, 9, tzinfo=zone)
    return at if at > local else datetime(local.year + 1, 1, 1, 9, tzinfo=zone)


def test_recurring_permanent_and_one_shot_tasks_become_jobs(project: Path) -> None:
    write_tasks(project, [RECURRING, PERMANENT, ONE_SHOT])
    res = run(project)
    assert res.exit_code == 0, res.stderr
    assert [c["task_id"] for c in res.json["created"]] == ["a1b2c3d4", "e5f6a7b8", "0c0ffee0"]
    assert res.json["problems"] == [] and res.json["already_imported"] == []
    by_name = {j["name"]: j for j in jobs()}
    assert set(by_name) == {"Summarize yesterday's commits", "Check the CI status",
                            "Wish the team a happy new year"}
    nightly = by_name["Summarize yesterday's commits"]
    assert (nightly["cron_expr"], nightly["timezone"], nightly["work_dir"], nightly["enabled"]) \
        == ("0 3 * * *", ZONE, str(project), True)
    assert "a1b2c3d4" in nightly["description"]
    ci = by_name["Check the CI status"]
    assert ci["cron_expr"] == "*/30 9-17 * * 1-5" and "permanent" in ci["description"]
    once = by_name["Wish the team a happy new year"]
    assert once["cron_expr"] is None
    assert datetime.fromisoformat(once["run_at"]) == next_new_year(datetime.now(UTC))
    contents = {p["title"]: p["content"] for p in prompts()}
    assert contents["Summarize yesterday's commits"] == RECURRING["prompt"]
    # The file is left as it was without --remove.
    assert len(json.loads((project / ".claude" / "scheduled_tasks.json").read_text())[
        "tasks"]) == 3


def test_the_project_defaults_to_the_current_directory(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tasks(project, [RECURRING])
    monkeypatch.chdir(project)
    res = cnp("import", "claude-code")
    assert res.exit_code == 0, res.stderr
    assert "Created job 1 from task a1b2c3d4" in res.stdout
    assert [j["work_dir"] for j in jobs()] == [str(project)]


def test_tasks_imported_before_are_skipped(project: Path, backend: str) -> None:
    write_tasks(project, [RECURRING])
    first = run(project)
    assert first.exit_code == 0, first.stderr
    job_id = first.json["created"][0]["job"]["id"]
    write_tasks(project, [RECURRING, PERMANENT])
    second = run(project)
    assert second.exit_code == 0, second.stderr
    assert second.json["already_imported"] == [{"task_id": "a1b2c3d4", "job_id": job_id}]
    assert [c["task_id"] for c in second.json["created"]] == ["e5f6a7b8"]
    # Even after its job is deleted, a task is not imported again.
    assert cnp("job", "delete", str(job_id)).exit_code == 0
    third = run(project)
    assert third.json["created"] == [] and len(third.json["already_imported"]) == 2
    assert "Nothing new to import." in cnp("import", "claude-code", str(project)).stdout
    assert len(jobs()) == 2
    # The same task id in another project is another task.
    other = project.parent / "other"
    (other / ".claude").mkdir(parents=True)
    write_tasks(other, [RECURRING])
    assert [c["task_id"] for c in run(other).json["created"]] == ["a1b2c3d4"]


MALFORMED = [
    RECURRING,
    "not a task",
    {"cron": "0 3 * * *", "prompt": "no id", "createdAt": CREATED},
    {**PERMANENT, "id": "badtypes", "cron": 5, "createdAt": "yesterday"},
    {**ONE_SHOT, "id": "badcron", "cron": "61 * * * *"},
    {**ONE_SHOT, "id": "blank", "prompt": "   "},
    {**RECURRING, "prompt": "the same id again"},
    {**ONE_SHOT, "id": "risky", "prompt": "Free some space: rm -rf / please"},
    {**PERMANENT, "id": "flagged", "recurring": "yes"},
]


def test_malformed_entries_are_reported_one_by_one_and_nothing_is_imported(
        project: Path) -> None:
    file = write_tasks(project, MALFORMED)
    res = run(project)
    assert res.exit_code == 2
    problems = res.json["problems"]
    assert [(p["index"], p["id"]) for p in problems] == [
        (1, None), (2, None), (3, "badtypes"), (4, "badcron"), (5, "blank"), (6, "a1b2c3d4"),
        (7, "risky"), (8, "flagged")]
    said = {p["index"]: p["problem"] for p in problems}
    assert said[1] == "not an object but str" and said[2] == "no string id"
    assert said[3] == "cron is not a string; createdAt is not a number"
    assert "minute" in said[4] and said[5] == "the prompt is empty"
    assert said[6] == "the same id as an earlier entry"
    assert said[7].startswith("critical risk, refused: ")
    assert said[8] == "recurring is not true or false"
    assert res.json["created"] == []
    assert res.error["message"] == (f"8 of the 9 entries of {file} cannot be imported; "
                                    "nothing was imported")
    assert jobs() == [] and prompts() == []
    pretty = cnp("import", "claude-code", str(project))
    assert pretty.exit_code == 2
    assert "Problem: entry 4 (badcron): " in pretty.stderr
    assert "Problem: entry 1: not an object but str" in pretty.stderr


def test_skip_invalid_imports_the_good_entries_only(project: Path) -> None:
    file = write_tasks(project, MALFORMED)
    res = run(project, "--skip-invalid", "--remove")
    assert res.exit_code == 0, res.stderr
    assert [c["task_id"] for c in res.json["created"]] == ["a1b2c3d4"]
    assert len(res.json["problems"]) == 8 and res.json["removed"] == 1
    assert [j["name"] for j in jobs()] == ["Summarize yesterday's commits"]
    # What could not be imported stays in the file, for the user to see to.
    left = json.loads(file.read_text())["tasks"]
    assert left == MALFORMED[1:]


def test_dry_run_writes_nothing(project: Path) -> None:
    file = write_tasks(project, [RECURRING, ONE_SHOT])
    before = (file.read_bytes(), file.stat().st_mtime_ns)
    res = run(project, "--dry-run", "--remove")
    assert res.exit_code == 0, res.stderr
    data = res.json
    assert data["dry_run"] is True and data["created"] == [] and data["would_remove"] == 2
    planned = {w["task_id"]: w for w in data["would_create"]}
    assert set(planned) == {"a1b2c3d4", "0c0ffee0"}
    assert planned["a1b2c3d4"]["recurring"] is True
    assert planned["a1b2c3d4"]["job"]["cron_expr"] == "0 3 * * *"
    assert len(planned["a1b2c3d4"]["next_fire_times"]) == 5
    assert planned["a1b2c3d4"]["risk"]["level"] == "low"
    assert planned["0c0ffee0"]["next_fire_times"] == [
        next_new_year(datetime.now(UTC)).astimezone(UTC).isoformat()]
    assert (file.read_bytes(), file.stat().st_mtime_ns) == before
    assert jobs() == [] and prompts() == []
    pretty = cnp("import", "claude-code", str(project), "--dry-run")
    assert pretty.stdout.startswith("Dry run: nothing was written.")
    assert "would create: task a1b2c3d4: At 03:00 every day (Europe/Paris); next " in pretty.stdout
    # Nothing was remembered either: the real import still creates both.
    assert len(run(project).json["created"]) == 2


def test_remove_deletes_the_imported_entries_atomically(project: Path) -> None:
    write_tasks(project, [RECURRING])
    assert run(project).exit_code == 0
    file = project / ".claude" / "scheduled_tasks.json"
    doc = {"tasks": [RECURRING, PERMANENT], "note": "kept"}
    file.write_text(json.dumps(doc, indent=2) + "\n")
    os.chmod(file, 0o600)
    res = run(project, "--remove")
    assert res.exit_code == 0, res.stderr
    # Both go: the task imported now and the one imported before.
    assert res.json["removed"] == 2
    assert file.read_text() == json.dumps({"tasks": [], "note": "kept"}, indent=2) + "\n"
    assert file.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in file.parent.iterdir()) == ["scheduled_tasks.json"]
    assert len(jobs()) == 2
    again = run(project, "--remove")
    assert again.exit_code == 0 and again.json["removed"] == 0


def test_a_missing_or_unreadable_file_is_an_error(project: Path) -> None:
    res = run(project)
    assert res.exit_code == 2
    assert res.error["message"] == f"{project / '.claude' / 'scheduled_tasks.json'} does not exist"
    file = project / ".claude" / "scheduled_tasks.json"
    file.write_text('{"jobs": []}')
    assert run(project).error["message"] == f'{file} has no "tasks" list'
    file.write_text("{not json")
    assert run(project).error["message"].startswith(f"{file} is not JSON: ")
    file.write_text("")
    empty = run(project)
    assert empty.exit_code == 0 and empty.json["created"] == []
    assert cnp("import", "claude-code", str(project / "nope")).exit_code == 2
