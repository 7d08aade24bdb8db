"""Reviewing a prompt before it runs (docs/integration.md): the template rendered, its @file
references checked, its risk assessed, for a job or an ad-hoc run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import filerefs, templates
from ..cron import system_timezone
from ..models import ClaudeOptions, Job
from ..risk import RiskReport, assess

if TYPE_CHECKING:
    from ..models import RunSettings


@dataclass
class Review:
    """A prompt as it would run: rendered, its @file references checked, its risk assessed."""

    rendered: str
    templated: bool
    risk: RiskReport
    refs: filerefs.RefReport
    template_warnings: list[str]

    @property
    def warnings(self) -> list[str]:
        return self.template_warnings + self.refs.warnings()

    def to_dict(self) -> dict[str, Any]:
        return {"rendered_prompt": self.rendered, "templated": self.templated,
                "risk": self.risk.to_dict(), "file_refs": self.refs.to_list(),
                "warnings": self.warnings}


def review_prompt(content: str, *, builtins: dict[str, str], variables: dict[str, str],
                  options: ClaudeOptions, work_dir: str | None, executor: str) -> Review:
    """Render the template (a variable without a value is an error), refuse @references that
    leave the working directory, warn about missing ones, and assess the risk. Critical risk
    is the caller's to refuse (`risk.refuse_critical`): it depends on what was acknowledged."""
    parsed = templates.parse(content)
    rendered = templates.render(parsed, {**builtins, **variables})
    warnings = templates.warnings(parsed, variables)
    base = work_dir or str(Path.cwd())
    refs = filerefs.check(rendered.text, base)
    refs.refuse_escapes()
    report = assess(options=options, work_dir=work_dir, prompt=rendered.text, executor=executor)
    return Review(rendered.text, rendered.templated, report, refs, warnings)


def review_job(job: Job, content: str, now: datetime) -> Review:
    builtins = templates.builtin_values(now, job.timezone, job_name=job.name, job_id=job.id,
                                        previous_status=None)
    return review_prompt(content, builtins=builtins, variables=job.template_vars,
                         options=job.options, work_dir=job.work_dir, executor=job.executor)


def review_adhoc(content: str, settings: RunSettings, now: datetime,
                 zone: str | None = None) -> Review:
    """`review_prompt` for a run not tied to a job (built-ins: job_name `execute`)."""
    builtins = templates.builtin_values(now, zone or system_timezone(), job_name=None,
                                        job_id=None, previous_status=None)
    return review_prompt(content, builtins=builtins, variables=settings.template_vars,
                         options=settings.options, work_dir=settings.work_dir,
                         executor=settings.executor)
