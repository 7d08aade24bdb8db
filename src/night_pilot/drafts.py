"""A job request reviewed before it is stored: the job it would become, its risk review and its
next fire times (what `cnp job create --dry-run` shows), and a digest of all that, so that a
client which was shown the review can confirm exactly what it saw and nothing else.

A request names a stored prompt, or brings the prompt's text (`new_prompt`): the prompt is then
stored with the job, in one transaction. A service: callers pass `now`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from . import catalog
from .catalog import JobSpec, Review
from .errors import InvalidInput
from .models import Job, Prompt
from .shapes import iso, job_dict
from .store import Store

FIRE_TIMES = 5  # next fire times shown, as `cnp job create --dry-run` shows them
TITLE_LENGTH = 60  # a prompt titled after its text: at most this much of its first line


@dataclass
class Draft:
    """A validated job, not stored; `prompt.id` is None for a prompt that comes with it."""

    job: Job
    prompt: Prompt
    review: Review
    description: str
    next_fire_times: list[datetime]

    def to_dict(self) -> dict[str, Any]:
        """The dry run's document (`cnp job create --dry-run --format json`), with the
        digest, and the prompt when it is new."""
        data = {"dry_run": True, "job": job_dict(self.job, self.description, settings=True),
                "next_fire_times": [iso(t) for t in self.next_fire_times],
                **self.review.to_dict(), "digest": self.digest}
        if self.prompt.id is None:
            data["new_prompt"] = {"title": self.prompt.title, "content": self.prompt.content}
        return data

    @property
    def digest(self) -> str:
        """What the request would store, hashed: the job's settings, the prompt and the risk.
        Not its next fire time or rendered text, which move with the clock alone."""
        job = job_dict(self.job, self.description, settings=True)
        job.pop("next_run_at", None)
        basis = {"job": job, "prompt": [self.prompt.id, self.prompt.title, self.prompt.content],
                 "risk": self.review.risk.to_dict()}
        text = json.dumps(basis, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def new_prompt(content: str, title: str | None = None) -> Prompt:
    """A prompt to store with its job; without a title, titled after its first line."""
    catalog.check_content(content)
    if title is None:
        first = content.strip().splitlines()[0].strip()
        title = first if len(first) <= TITLE_LENGTH else first[: TITLE_LENGTH - 1] + "…"
    return catalog.make_prompt(title, content, [])


def draft_job(spec: JobSpec, prompt: Prompt, now: datetime, cwd: Path) -> Draft:
    """Validate `spec` as `cnp job create` does (critical risk refused the same way)."""
    job = catalog.build_job(spec, prompt, now, cwd)
    review = catalog.review_job(job, prompt.content, now)
    schedule = catalog.schedule_of(job)
    return Draft(job, prompt, review, schedule.describe(), schedule.next_times(now, FIRE_TIMES))


def create_drafted(store: Store, spec: JobSpec, prompt: Prompt, now: datetime,
                   cwd: Path) -> Job:
    """Store the job of `draft_job(spec, prompt, …)`, and the prompt first if it is new, in
    one transaction (joining the caller's, if any)."""
    with store.write():
        if prompt.id is None:
            [prompt_id] = store.prompts.insert_many([prompt], now)
            spec = replace(spec, prompt_id=prompt_id)
        elif spec.prompt_id != prompt.id:
            raise InvalidInput(f"the job names prompt {spec.prompt_id}, not {prompt.id}")
        return catalog.create_job(store, spec, now, cwd)
