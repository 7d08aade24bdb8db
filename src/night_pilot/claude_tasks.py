"""Claude Code's own scheduled tasks as jobs: `cnp import claude-code [PROJECT_DIR]`.

Claude Code keeps the durable tasks of its `CronCreate` tool in a project's
`.claude/scheduled_tasks.json`: `{"tasks": [...]}`, each task with a string `id`, `cron` (five
fields, in local time) and `prompt`, a number `createdAt` (milliseconds since the epoch), and
optionally `lastFiredAt` (a number), `recurring` and `permanent` (true when set). Every task of
that file becomes a job: a new prompt with the task's text, the project as its working
directory, the same cron in the system time zone; a task that is not recurring becomes a one-shot
job at the cron's next match after it was created (or after now, if that time has passed).

Tasks already imported are skipped: each import is remembered by the project and the task id.
An entry that cannot be imported is a `Problem` naming its index, id and what is wrong; the
caller decides whether one problem stops the whole import (`import_tasks(..., partial=False)`,
the default) or only the entries with problems are left out. All jobs are stored in one
transaction. `remove_tasks` deletes entries from the file (a temporary file, then a rename), so
that they stop firing in Claude Code sessions too. A service: callers pass `now`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import drafts
from .catalog import JobSpec
from .cron import parse_cron, validate_timezone
from .drafts import Draft
from .errors import CnpError, InvalidInput
from .models import Job, Prompt
from .store import Store

SOURCE = "claude-code"
TASKS_FILE = (".claude", "scheduled_tasks.json")


def tasks_file(project: Path) -> Path:
    return project.joinpath(*TASKS_FILE)


@dataclass
class Task:
    """One entry of the file, as Claude Code wrote it."""

    index: int
    id: str
    cron: str
    prompt: str
    created_at: datetime
    recurring: bool = False
    permanent: bool = False
    last_fired_at: datetime | None = None


@dataclass
class Problem:
    """An entry that cannot be imported: where it is and why."""

    index: int
    id: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "problem": self.message}

    def __str__(self) -> str:
        return f"entry {self.index}" + (f" ({self.id})" if self.id else "") + f": {self.message}"


@dataclass
class Planned:
    """A task and the job it would become."""

    task: Task
    spec: JobSpec
    prompt: Prompt
    draft: Draft


@dataclass
class ImportPlan:
    project: Path
    file: Path
    planned: list[Planned] = field(default_factory=list)
    already: dict[str, int] = field(default_factory=dict)  # task id → the job it became
    problems: list[Problem] = field(default_factory=list)


def _millis(value: Any) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_task(index: int, entry: Any) -> Task | Problem:
    """An entry checked as Claude Code reads it, and as a job needs it (a non-empty prompt)."""
    if not isinstance(entry, dict):
        return Problem(index, None, f"not an object but {type(entry).__name__}")
    task_id = entry.get("id")
    if not isinstance(task_id, str) or not task_id.strip():
        return Problem(index, None, "no string id")
    wrong = [f"{key} is not {kind}" for key, kind, ok in (
        ("cron", "a string", isinstance(entry.get("cron"), str)),
        ("prompt", "a string", isinstance(entry.get("prompt"), str)),
        ("createdAt", "a number", _number(entry.get("createdAt"))),
        ("lastFiredAt", "a number", "lastFiredAt" not in entry
         or _number(entry["lastFiredAt"])),
        ("recurring", "true or false", isinstance(entry.get("recurring", False), bool)),
        ("permanent", "true or false", isinstance(entry.get("permanent", False), bool)),
    ) if not ok]
    if wrong:
        return Problem(index, task_id, "; ".join(wrong))
    if not entry["prompt"].strip():
        return Problem(index, task_id, "the prompt is empty")
    try:
        created = _millis(entry["createdAt"])
        fired = _millis(entry["lastFiredAt"]) if "lastFiredAt" in entry else None
    except (OverflowError, OSError, ValueError) as exc:
        return Problem(index, task_id, f"a time is out of range: {exc}")
    return Task(index, task_id, entry["cron"], entry["prompt"], created,
                recurring=entry.get("recurring", False), permanent=entry.get("permanent", False),
                last_fired_at=fired)


def read_entries(file: Path) -> list[Any]:
    """The file's `tasks` list, as written (a missing or empty file has none)."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{file} does not exist",
                           hint="Claude Code writes it when a session schedules a durable task"
                           ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {file}: {exc}") from exc
    if not text.strip():
        return []
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{file} is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("tasks"), list):
        raise InvalidInput(f'{file} has no "tasks" list')
    tasks: list[Any] = doc["tasks"]
    return tasks


def _spec(task: Task, project: Path, zone: str, now: datetime) -> JobSpec:
    schedule = parse_cron(task.cron, zone)
    kind = "recurring" + (", permanent" if task.permanent else "") if task.recurring \
        else "one-shot"
    spec = JobSpec(prompt_id=0, timezone=zone, work_dir=str(project),
                   description=f"Claude Code scheduled task {task.id} ({kind}, "
                   f"cron {task.cron!r})")
    if task.recurring:
        spec.cron = task.cron
    else:
        at = schedule.next_after(max(task.created_at, now))
        if at is None:
            raise InvalidInput(f"the cron {task.cron!r} has no further fire time")
        spec.at = at.isoformat()
    return spec


def plan_import(store: Store, project: Path, now: datetime) -> ImportPlan:
    """What importing the project's tasks would do; nothing is written."""
    project = project.expanduser().absolute()
    if not project.is_dir():
        raise InvalidInput(f"{project} is not a directory")
    plan = ImportPlan(project, tasks_file(project))
    entries = read_entries(plan.file)
    done = store.imports.tasks(SOURCE, str(project))
    zone = validate_timezone(None)
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        task = parse_task(index, entry)
        if isinstance(task, Problem):
            plan.problems.append(task)
            continue
        if task.id in seen:
            plan.problems.append(Problem(index, task.id, "the same id as an earlier entry"))
            continue
        seen.add(task.id)
        if task.id in done:
            plan.already[task.id] = done[task.id]
            continue
        try:
            spec = _spec(task, project, zone, now)
            prompt = drafts.new_prompt(task.prompt)
            draft = drafts.draft_job(spec, prompt, now, project)
        except CnpError as exc:
            plan.problems.append(Problem(index, task.id, exc.message))
            continue
        plan.planned.append(Planned(task, spec, prompt, draft))
    return plan


def refusal(plan: ImportPlan, partial: bool) -> InvalidInput | None:
    """Why the plan is not imported (some entries cannot be, and not `partial`), if so."""
    if not plan.problems or partial:
        return None
    total = len(plan.problems) + len(plan.planned) + len(plan.already)
    return InvalidInput(
        f"{len(plan.problems)} of the {total} entries of {plan.file} cannot be imported; "
        "nothing was imported",
        hint="fix or remove those entries, or import the others only (--skip-invalid)")


def import_tasks(store: Store, plan: ImportPlan, now: datetime, *,
                 partial: bool = False) -> list[tuple[Task, Job]]:
    """Store the plan's jobs in one transaction; with problems, only if `partial`."""
    refused = refusal(plan, partial)
    if refused is not None:
        raise refused
    created = []
    with store.write():
        for item in plan.planned:
            job = drafts.create_drafted(store, item.spec, item.prompt, now, plan.project)
            assert job.id is not None
            store.imports.record(SOURCE, str(plan.project), item.task.id, job.id, now)
            created.append((item.task, job))
    return created


def remove_tasks(file: Path, task_ids: set[str]) -> int:
    """Delete the tasks with these ids from the file, atomically; how many were deleted."""
    entries = read_entries(file)
    doc = json.loads(file.read_text(encoding="utf-8"))
    wanted = set(task_ids)
    kept = []
    for entry in entries:  # the first entry of each id: a later one of the same id is not it
        if isinstance(entry, dict) and entry.get("id") in wanted:
            wanted.discard(entry["id"])
        else:
            kept.append(entry)
    removed = len(entries) - len(kept)
    if not removed:
        return 0
    doc["tasks"] = kept
    mode = file.stat().st_mode & 0o777
    fd, temp = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, file)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return removed
