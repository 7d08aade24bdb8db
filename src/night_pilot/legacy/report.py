"""The import's report: both sides counted per table and reconciled, with a seeded random
sample of schedules compared field by field, the status mapping used, and every skip and note.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..store.legacy import ImportedJob
from ..store.legacy_file import LegacyData
from .mapping import Plan
from .values import as_legacy_id, as_text, cron_matches, parse_legacy_time


def compare_sample(data: LegacyData, ours: dict[int, ImportedJob], plan: Plan,
                   ) -> dict[str, Any]:
    """Field by field, for a seeded random sample of legacy schedules: the prompt (through the
    legacy id map) and the cron expression (and the one-shot time, for one-shots)."""
    options = plan.options
    zone = ZoneInfo(options.timezone)
    rows = {lid: r for r in data.rows("schedules")
            if (lid := as_legacy_id(r.get("id"))) is not None}
    ids = sorted(rows)
    picked = sorted(random.Random(options.seed).sample(ids, min(options.sample_size, len(ids))))
    skipped = {s["legacy_id"]: s["reason"] for s in plan.skipped if s["table"] == "schedules"}
    entries = []
    for lid in picked:
        row, job = rows[lid], ours.get(lid)
        legacy_prompt = as_legacy_id(row.get("prompt_id"))
        legacy_cron = as_text(row.get("cron_expr")).strip() or None
        entry: dict[str, Any] = {"schedule": lid, "job": job.id if job else None}
        if job is None:
            entry["note"] = f"not imported: {skipped.get(lid, 'unknown reason')}"
        elif job.deleted:
            entry["note"] = "retired: imported as a deleted job"
        prompt_ok = job is not None and job.prompt_legacy_id == legacy_prompt
        entry["prompt_id"] = {
            "legacy": row.get("prompt_id"),
            "ours": job.prompt_id if job else None,
            "ours_legacy": job.prompt_legacy_id if job else None,
            "match": prompt_ok,
        }
        ours_cron = job.cron_expr if job else None
        if legacy_cron is None and ours_cron is not None:
            legacy_cron_view = as_text(row.get("schedule_time")).strip() or None
        else:
            legacy_cron_view = legacy_cron
        cron_ok = job is not None and cron_matches(legacy_cron_view, ours_cron)
        entry["cron_expr"] = {"legacy": legacy_cron, "ours": ours_cron, "match": cron_ok}
        fields_ok = [prompt_ok, cron_ok]
        if job is not None and job.run_at is not None:
            try:
                legacy_at = parse_legacy_time(row.get("schedule_time"), zone)
            except ValueError:
                legacy_at = None
            at_ok = legacy_at == job.run_at
            entry["run_at"] = {"legacy": as_text(row.get("schedule_time")),
                               "ours": job.run_at.isoformat(), "match": at_ok}
            fields_ok.append(at_ok)
        entry["match"] = all(fields_ok)
        entries.append(entry)
    return {
        "seed": options.seed,
        "size": len(entries),
        "of": len(ids),
        "matched": sum(1 for e in entries if e["match"]),
        "mismatched": sum(1 for e in entries if not e["match"]),
        # A mismatch with no note (skipped, retired) would mean the import wrote something
        # other than what it planned.
        "unexplained": sum(1 for e in entries if not e["match"] and "note" not in e),
        "schedules": entries,
    }


def _ranges(ids: Iterable[int]) -> list[list[int]]:
    """Sorted ids as [first, last] runs: legacy ids are mostly consecutive."""
    out: list[list[int]] = []
    for i in sorted(set(ids)):
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def build_report(plan: Plan, data: LegacyData, ours_before: dict[str, int],
                 ours_after: dict[str, int], sample: dict[str, Any], *, dry_run: bool,
                 now: datetime) -> dict[str, Any]:
    tables = {}
    for legacy_name, our_name in (("prompts", "prompts"), ("schedules", "jobs"),
                                  ("execution_results", "job_executions")):
        t = plan.tallies[legacy_name]
        added = ours_after[our_name] - ours_before[our_name]
        tables[legacy_name] = {
            "ours": our_name,
            "legacy_rows": t.legacy,
            "imported": t.imported,
            "already_imported": t.already,
            "skipped": t.skipped,
            "ours_before": ours_before[our_name],
            "ours_after": ours_after[our_name],
            "reconciled": t.legacy == t.imported + t.already + t.skipped
            and added == t.imported,
        }
    tables["schedules"]["job_states"] = {k: plan.job_states.get(k, 0)
                                         for k in ("enabled", "paused", "done", "retired")}
    tables["execution_results"]["without_job"] = plan.runs_without_job
    tables["execution_results"]["numbered_as_later_attempts"] = plan.shared_timestamps
    return {
        "source": str(plan.source),
        "dry_run": dry_run,
        "at": now.isoformat(),
        "timezone": plan.options.timezone,
        "work_dir": plan.options.work_dir,
        "tables": tables,
        "token_usage_stats": plan.token_usage_stats,
        "other_tables": plan.other_tables,
        "status_mapping": plan.status_map,
        "skipped": plan.skipped,
        "notes": plan.notes,
        "sample": sample,
        "reconciled": all(t["reconciled"] for t in tables.values())
        and sample["unexplained"] == 0,
        "imported_ids": {
            "prompts": _ranges(r.legacy_id for r in plan.prompts),
            "schedules": _ranges(r.legacy_id for r in plan.jobs),
            "execution_results": _ranges(r.legacy_id for r in plan.runs),
        },
    }
