"""The tools `cnp mcp` offers: what each takes (`args.Arg`) and does, through the same services
as the command line, answering with the same JSON documents as its `--format json`.

`create_job` answers twice: first with the dry run of the request (the job, its risk review
and next fire times, exactly what `cnp job create --dry-run` computes) and a digest of it,
storing nothing; then, called again with the same arguments plus `confirm: true` and that
digest, it creates the job. A request that changed in between (another digest) is refused
with its new dry run. Critical risk is refused at the first call, as the command line refuses
it, unless `i_understand_the_risk` is given. No I/O of its own and no MCP: the server
(`server.py`) calls `call` with a store and the time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import catalog, drafts
from ..enums import ExecutorKind, InterruptPolicy, MisfirePolicy, OnLimit, OverlapPolicy
from ..errors import InvalidInput, NotFound
from ..models import RunStatus
from ..shapes import job_dict, job_dicts, run_dict
from ..store import Store
from .args import Arg, checked, input_schema

Handler = Callable[[Store, dict[str, Any], datetime, Path], dict[str, Any]]


@dataclass(frozen=True)
class Tool:
    name: str
    help: str
    params: tuple[Arg, ...]
    handler: Handler
    read_only: bool = False

    def input_schema(self) -> dict[str, Any]:
        return input_schema(self.params)


class DraftChanged(InvalidInput):
    """A confirmation whose digest is not the request's: the request is not what was shown."""

    kind = "changed"

    def __init__(self, given: str, draft: drafts.Draft) -> None:
        super().__init__(
            f"the request changed since its dry run (digest {given}, now {draft.digest}); "
            "nothing was stored",
            hint="review the new dry run, then confirm with its digest")
        self.draft = draft

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "dry_run": self.draft.to_dict()}


def call(name: str, store: Store, arguments: dict[str, Any] | None, now: datetime,
         cwd: Path) -> dict[str, Any]:
    """Run a tool; a `CnpError` says what is wrong with the call."""
    tool = TOOLS.get(name)
    if tool is None:
        raise NotFound(f"no tool named {name!r} (tools: {', '.join(TOOLS)})")
    return tool.handler(store, checked(tool.params, arguments), now, cwd)


# -- jobs --------------------------------------------------------------------------------------

JOB_ID = Arg("job_id", "integer", "The job's id (see list_jobs).", required=True)


def _list_jobs(store: Store, a: dict[str, Any], now: datetime, cwd: Path) -> dict[str, Any]:
    return {"jobs": job_dicts(*store.jobs.rows(include_deleted=a["include_deleted"]),
                              settings=True)}


def _show_job(store: Store, a: dict[str, Any], now: datetime, cwd: Path) -> dict[str, Any]:
    job = store.jobs.get(a["job_id"], include_deleted=True)
    return job_dict(job, catalog.describe_job(job), settings=True)


def _pause_job(store: Store, a: dict[str, Any], now: datetime, cwd: Path) -> dict[str, Any]:
    return job_dict(catalog.pause_job(store, a["job_id"], now))


def _resume_job(store: Store, a: dict[str, Any], now: datetime, cwd: Path) -> dict[str, Any]:
    return job_dict(catalog.resume_job(store, a["job_id"], now))


def _trigger_job(store: Store, a: dict[str, Any], now: datetime, cwd: Path) -> dict[str, Any]:
    from ..runs import trigger_job

    return run_dict(trigger_job(store, a["job_id"], now))


# JobSpec's fields that a tool argument of the same name sets as it is.
_SPEC_KEYS = ("cron", "at", "name", "description", "timezone", "work_dir", "executor", "model",
              "allowed_tools", "disallowed_tools", "permission_mode", "max_turns",
              "max_budget_usd", "append_system_prompt", "mcp_config", "timeout",
              "idle_timeout", "max_output", "retries", "misfire", "misfire_grace", "overlap",
              "on_interrupt", "on_limit", "worktree", "continue_session",
              "i_understand_the_risk", "quota_ceiling", "weekly_ceiling", "when",
              "spare_window")

_CREATE = (
    Arg("prompt_id", "integer", "A stored prompt to schedule (or give its text as prompt)."),
    Arg("prompt", "string", "The prompt's text, stored with the job (or name one: prompt_id)."),
    Arg("title", "string", "The new prompt's title (default: its first line)."),
    Arg("cron", "string", "Cron expression: 5 fields, 6 with seconds first, or @daily."),
    Arg("at", "string", "Run once at this ISO 8601 time instead of on a cron schedule."),
    Arg("name", "string", "Job name (default: the prompt's title)."),
    Arg("description", "string", "What the job is for.", default=""),
    Arg("timezone", "string", "IANA time zone (default: the system's)."),
    Arg("work_dir", "string", "Working directory (default: the server's, the project)."),
    Arg("executor", "string", "Run the prompt with claude, or as a shell script.",
        default="claude", choices=tuple(ExecutorKind.values())),
    Arg("model", "string", "Claude model name or alias."),
    Arg("allowed_tools", "string", "Tools granted without asking (comma-separated)."),
    Arg("disallowed_tools", "string", "Tools always denied."),
    Arg("permission_mode", "string", "Claude permission mode (e.g. acceptEdits)."),
    Arg("max_turns", "integer", "Stop after this many agent turns."),
    Arg("max_budget_usd", "number", "Stop after spending this much."),
    Arg("append_system_prompt", "string", "Extra system prompt."),
    Arg("mcp_config", "string", "MCP servers the run loads (a file, or JSON)."),
    Arg("add_dirs", "array", "More directories Claude may access."),
    Arg("timeout", "string", "Hard time limit, e.g. 30m (default 1h)."),
    Arg("idle_timeout", "string", "Kill the run after this long without output (default 10m)."),
    Arg("max_output", "string", "Store at most this much of a run's output, e.g. 64M."),
    Arg("retries", "integer", "Extra attempts after a transient failure.", default=2),
    Arg("misfire", "string", "Fire times missed while no daemon ran.", default="latest",
        choices=tuple(MisfirePolicy.values())),
    Arg("misfire_grace", "string", "How late a missed run may still start (default 6h)."),
    Arg("overlap", "string", "When the previous run is still going.", default="skip",
        choices=tuple(OverlapPolicy.values())),
    Arg("on_interrupt", "string", "Retry a run whose daemon vanished?",
        default="retry-unstarted", choices=tuple(InterruptPolicy.values())),
    Arg("on_limit", "string", "After a usage limit: run again, or resume.", default="rerun",
        choices=tuple(OnLimit.values())),
    Arg("quota_ceiling", "number", "Hold runs back while the five-hour window is at or above "
        "this percent (default: the daemon's)."),
    Arg("weekly_ceiling", "number", "The same for the seven-day window."),
    Arg("when", "string", "spare: no fixed time; run on spare capacity shortly before the "
        "five-hour window resets (give no cron or at).", choices=("spare",)),
    Arg("spare_window", "string", "With when: spare, how long before the reset a run may "
        "start (default 45m)."),
    Arg("variables", "array", "Values of the prompt's {{NAME}} placeholders, as NAME=VALUE."),
    Arg("worktree", "boolean", "Run in a fresh git worktree on a cnp/ branch.", default=False),
    Arg("continue_session", "boolean", "Each run resumes the previous run's session.",
        default=False),
    Arg("paused", "boolean", "Store the job paused.", default=False),
    Arg("i_understand_the_risk", "boolean", "Accept a critical risk level (the dry run says "
        "why it is critical).", default=False),
    Arg("confirm", "boolean", "Create the job (default: only its dry run is answered).",
        default=False),
    Arg("digest", "string", "With confirm: the digest of the dry run being confirmed."),
)


def _create_job(store: Store, a: dict[str, Any], now: datetime, cwd: Path) -> dict[str, Any]:
    if a["prompt_id"] is not None and a["prompt"] is not None:
        raise InvalidInput("give either prompt_id or prompt, not both")
    if a["prompt_id"] is None and a["prompt"] is None:
        raise InvalidInput("a job needs a prompt: prompt_id (a stored one) or prompt (its text)")
    if a["title"] is not None and a["prompt"] is None:
        raise InvalidInput("title is the title of a new prompt: give it with prompt")
    if a["prompt_id"] is not None:
        prompt = store.prompts.get(a["prompt_id"])
    else:
        prompt = drafts.new_prompt(a["prompt"], a["title"])
    spec = catalog.JobSpec(prompt_id=a["prompt_id"] or 0, enabled=not a["paused"],
                           add_dirs=list(a["add_dirs"] or ()), variables=a["variables"] or (),
                           **{key: a[key] for key in _SPEC_KEYS})
    draft = drafts.draft_job(spec, prompt, now, cwd)
    if not a["confirm"]:
        return {**draft.to_dict(), "stored": False,
                "to_create": "call create_job again with the same arguments, confirm: true "
                             f"and digest: {draft.digest!r}"}
    if a["digest"] is None:
        raise InvalidInput("confirm needs the digest of the request's dry run; nothing was "
                           "stored", hint="call create_job without confirm to get it")
    if a["digest"] != draft.digest:
        raise DraftChanged(a["digest"], draft)
    job = drafts.create_drafted(store, spec, prompt, now, cwd)
    review = catalog.review_job(job, prompt.content, now)
    return {**job_dict(job, catalog.describe_job(job), settings=True),
            "risk": review.risk.to_dict(), "warnings": review.warnings, "stored": True}


# -- runs and usage ----------------------------------------------------------------------------

def _list_runs(store: Store, a: dict[str, Any], now: datetime, cwd: Path) -> dict[str, Any]:
    runs = store.runs.recent(job_id=a["job_id"], status=a["status"], limit=a["limit"])
    return {"runs": [run_dict(r) for r in runs]}


def _show_run(store: Store, a: dict[str, Any], now: datetime, cwd: Path) -> dict[str, Any]:
    return run_dict(store.runs.get(a["run_id"]))


def _usage_daily(store: Store, a: dict[str, Any], now: datetime, cwd: Path) -> dict[str, Any]:
    from .. import usage

    days = {}
    for key in ("since", "until"):
        try:
            days[key] = usage.parse_day(a[key]) if a[key] is not None else None
        except InvalidInput as exc:
            raise InvalidInput(f"argument {key}: {exc.message} (use YYYY-MM-DD or YYYYMMDD)"
                               ) from exc
    since, until = days["since"], days["until"]
    if since and until and since > until:
        raise InvalidInput(f"since {since} is after until {until}")
    try:
        tz = usage.zone(a["tz"])
    except InvalidInput as exc:
        raise InvalidInput(f"invalid value for tz: {exc.message}") from exc
    return usage.daily_report(store, since=since, until=until, tz=tz)


def _quota(store: Store, a: dict[str, Any], now: datetime, cwd: Path, *,
           plan: bool = False) -> dict[str, Any]:
    import os

    from .. import quota

    account = quota.shown_account(store, os.environ)
    return (quota.plan if plan else quota.report)(store, now, account)


def _quota_plan(store: Store, a: dict[str, Any], now: datetime, cwd: Path) -> dict[str, Any]:
    return _quota(store, a, now, cwd, plan=True)


TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool("list_jobs", "List the scheduled jobs with their next run and last status.",
         (Arg("include_deleted", "boolean", "Include deleted jobs.", default=False),),
         _list_jobs, read_only=True),
    Tool("show_job", "Show one job: its schedule in plain English and every setting.",
         (JOB_ID,), _show_job, read_only=True),
    Tool("create_job",
         "Schedule a prompt with cnp (runs unattended by the cnp daemon, also when no Claude "
         "session is open). The first call stores nothing and answers the dry run: the job, "
         "its risk review, its next fire times and a digest. Show it to the user; to create "
         "the job, call again with the same arguments plus confirm: true and that digest.",
         _CREATE, _create_job),
    Tool("pause_job", "Stop a job from firing until it is resumed.", (JOB_ID,), _pause_job),
    Tool("resume_job", "Let a paused job fire again, from its next fire time on.", (JOB_ID,),
         _resume_job),
    Tool("trigger_job", "Run a job now, recorded like a scheduled run (a running cnp daemon "
         "starts it).", (JOB_ID,), _trigger_job),
    Tool("list_runs", "List runs, newest first.",
         (Arg("job_id", "integer", "Only runs of this job."),
          Arg("status", "string", "Only runs in this state.",
              choices=tuple(RunStatus.values())),
          Arg("limit", "integer", "At most this many.", default=20, minimum=1,
              maximum=100_000)),
         _list_runs, read_only=True),
    Tool("show_run", "Show one run: status, reason, result, tokens, cost.",
         (Arg("run_id", "integer", "The run's id (see list_runs).", required=True),),
         _show_run, read_only=True),
    Tool("usage_daily", "Tokens and cost per day (the report of `cnp usage daily`).",
         (Arg("since", "string", "First day to include (YYYY-MM-DD or YYYYMMDD)."),
          Arg("until", "string", "Last day to include (YYYY-MM-DD or YYYYMMDD)."),
          Arg("tz", "string", "Group days in this IANA zone (default: local time).")),
         _usage_daily, read_only=True),
    Tool("quota", "The subscription's five-hour and seven-day windows (the report of "
         "`cnp quota`): utilization, reset, how old the figure is, and which runs the "
         "ceilings hold back; unknown for API-key accounts.", (), _quota, read_only=True),
    Tool("quota_plan", "The week ahead (the report of `cnp quota plan`): the projected "
         "seven-day utilization of the jobs due before the weekly reset, and which runs the "
         "weekly ceilings would hold back.", (), _quota_plan, read_only=True),
)}
