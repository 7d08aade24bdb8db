"""The whole import: map the legacy rows and, unless it is a dry run, write them with the
audit entry in one transaction, then report. `now` is passed in; the clock is never read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..store import Store
from ..store.legacy import ImportedJob, LegacyImports
from ..store.legacy_file import LegacyData
from .mapping import ImportOptions, Plan, plan_import
from .report import build_report, compare_sample


def import_legacy(store: Store | None, data: LegacyData, options: ImportOptions,
                  now: datetime, *, dry_run: bool) -> dict[str, Any]:
    """Map and (unless `dry_run`) write in one transaction, with the audit entry.

    `store` may be None for a dry run when our database does not exist yet (nothing to compare
    against, and a dry run must not create it)."""
    if dry_run:
        existing = store.legacy.imports() if store is not None else LegacyImports.none()
        before = store.legacy.counts() if store is not None else _zero_counts()
        plan = plan_import(data, existing, options, now)
        after = {"prompts": before["prompts"] + len(plan.prompts),
                 "jobs": before["jobs"] + len(plan.jobs),
                 "job_executions": before["job_executions"] + len(plan.runs)}
        sample = compare_sample(data, _planned_jobs(plan, existing), plan)
        report = build_report(plan, data, before, after, sample, dry_run=True, now=now)
        report["audit_id"] = None
        return report
    assert store is not None
    with store.write():
        # Everything below reads and writes inside one transaction: what was imported before
        # cannot change under us, and any failure leaves our database exactly as it was.
        existing = store.legacy.imports()
        before = store.legacy.counts()
        plan = plan_import(data, existing, options, now)
        store.legacy.insert_prompts(plan.prompts, now)
        store.legacy.insert_jobs(plan.jobs, now)
        store.legacy.insert_runs(plan.runs)
        after = store.legacy.counts()
        sample = compare_sample(data, store.legacy.imports().jobs, plan)
        report = build_report(plan, data, before, after, sample, dry_run=False, now=now)
        report["audit_id"] = store.legacy.record_import(report, now)
    return report


def _planned_jobs(plan: Plan, existing: LegacyImports) -> dict[int, ImportedJob]:
    """What our jobs would be after the import (for a dry run's sample)."""
    jobs = dict(existing.jobs)
    for row in plan.jobs:
        jobs[row.legacy_id] = ImportedJob(
            id=None, prompt_id=None, prompt_legacy_id=row.prompt_legacy_id,
            cron_expr=row.job.cron_expr, run_at=row.job.run_at, deleted=row.retired)
    return jobs


def _zero_counts() -> dict[str, int]:
    return {"prompts": 0, "jobs": 0, "job_executions": 0}
