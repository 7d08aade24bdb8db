"""Prompts and jobs as the user defines them: validation, defaults and the first fire time.

A service: it checks input, builds domain objects and hands them to the store. It never reads
the clock (callers pass `now`) and never renders output. `prompts` and `jobs` define the two,
`options` and `units` check what a job or an ad-hoc run is given, `edits` applies a change to
a job (the CLI's, the API's and the dashboard's), and `review` renders and assesses a prompt
before it runs.
"""

from .edits import JobEdit, apply_changes, edit_job, job_changes, spec_of_job, update_job
from .jobs import build_job, create_job, describe_job, pause_job, resume_job, schedule_of
from .options import JobSpec, adhoc_settings, check_work_dir, validate_claude_options
from .prompts import (
    check_content,
    create_prompt,
    decode_prompt_bytes,
    edit_prompt,
    export_prompts,
    make_prompt,
    parse_prompt_export,
    parse_tags,
    read_prompt_file,
)
from .review import Review, review_adhoc, review_job
from .units import format_duration, format_size, parse_duration, parse_size

__all__ = [
    "JobEdit",
    "JobSpec",
    "Review",
    "adhoc_settings",
    "apply_changes",
    "build_job",
    "check_content",
    "check_work_dir",
    "create_job",
    "create_prompt",
    "decode_prompt_bytes",
    "describe_job",
    "edit_job",
    "edit_prompt",
    "export_prompts",
    "format_duration",
    "format_size",
    "job_changes",
    "make_prompt",
    "parse_duration",
    "parse_prompt_export",
    "parse_size",
    "parse_tags",
    "pause_job",
    "read_prompt_file",
    "resume_job",
    "review_adhoc",
    "review_job",
    "schedule_of",
    "spec_of_job",
    "update_job",
    "validate_claude_options",
]
