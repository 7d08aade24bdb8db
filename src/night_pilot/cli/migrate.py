"""`cnp migrate …`: bring data in from elsewhere. `legacy` imports the old Rust tool's database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from .app import Env, cli, common, pass_env
from .output import emit, table

_SHOWN = 15  # skipped rows and notes listed in the readable report (all of them in JSON)


@cli.group()
def migrate() -> None:
    """Move data into cnp's database."""


@migrate.command("legacy")
@click.argument("path", required=False)
@click.option("--dry-run", is_flag=True, help="Read, map and report; write nothing.")
@click.option("--tz", "timezone", metavar="ZONE",
              help="Zone for the imported jobs and for legacy times without an offset "
              "(default: the system's).")
@click.option("--work-dir", metavar="DIR",
              help="Where the imported jobs run (default: the current directory).")
@click.option("--sample", "sample_size", type=click.IntRange(0, 10_000), default=20,
              show_default=True, help="Schedules compared field by field in the report.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for picking the sample (the same seed picks the same schedules).")
@common
@pass_env
def migrate_legacy(env: Env, path: str | None, dry_run: bool, timezone: str | None,
                   work_dir: str | None, sample_size: int, seed: int) -> None:
    """Import the old Rust tool's database into cnp's, in one transaction.

    Prompts, schedules (as jobs) and execution results (as runs) are imported once each: a
    re-run adds only what is new. Without PATH the legacy file is looked for in the current
    directory and the data directory. The report (counts on both sides, what was skipped and
    why, a sampled field-by-field check) is printed and kept in the audit log.
    """
    from .. import catalog, migrate_legacy
    from ..config import LEGACY_DB_FILENAME, data_dir, resolve_db
    from ..cron import validate_timezone
    from ..errors import InvalidInput

    location = resolve_db(env.db)
    ours = location.path
    if ours is not None and ours.name == LEGACY_DB_FILENAME:
        raise InvalidInput(
            f"refusing to use {ours} as cnp's database: that name belongs to the legacy tool",
            hint="point --db or CNP_DB at another file, e.g. claude-night-pilot.db",
        )
    cwd = Path.cwd()
    source = (migrate_legacy.check_legacy_path(Path(path).expanduser(), ours) if path
              else migrate_legacy.choose_legacy_database(cwd, data_dir(), ours))
    options = migrate_legacy.ImportOptions(
        timezone=validate_timezone(timezone),
        work_dir=catalog.check_work_dir(work_dir, cwd),
        sample_size=sample_size,
        seed=seed,
    )
    # Read (and so validate) the legacy file before ours is opened, or created.
    data = migrate_legacy.read_legacy(source)
    # A dry run must not create our database; with none yet there is nothing imported before.
    store = None
    if not dry_run or location.is_postgres or (ours is not None and ours.exists()):
        store = env.store(create=not dry_run)
    report = migrate_legacy.import_legacy(store, data, options, datetime.now(UTC),
                                          dry_run=dry_run)
    emit(env.fmt, report, lambda: _pretty(report, found=path is None))


def _pretty(report: dict[str, Any], *, found: bool) -> None:
    head = "Dry run (nothing written): " if report["dry_run"] else "Imported "
    click.echo(f"{head}{report['source']}" + (" (found by looking)" if found else ""))
    click.echo(f"Times without an offset read in {report['timezone']}; jobs run in "
               f"{report['work_dir']} and are scheduled in {report['timezone']}.")
    click.echo("")
    rows = []
    for name, t in report["tables"].items():
        rows.append((f"{name} → {t['ours']}", t["legacy_rows"], t["imported"],
                     t["already_imported"], t["skipped"], t["ours_after"],
                     "yes" if t["reconciled"] else "NO"))
    stats = report["token_usage_stats"]
    if stats.get("present"):
        rows.append(("token_usage_stats", stats["rows"], 0, "-", "-", "-", "summarized only"))
    table(["legacy → ours", "legacy", "imported", "before", "skipped", "ours now",
           "reconciled"], rows)
    states = report["tables"]["schedules"]["job_states"]
    click.echo("Jobs imported now: " + ", ".join(f"{v} {k}" for k, v in states.items()))
    without = report["tables"]["execution_results"]["without_job"]
    if without:
        click.echo(f"Runs imported without a job: {without}")
    if stats.get("present") and stats.get("totals"):
        click.echo("token_usage_stats totals (not imported): " + ", ".join(
            f"{k}={v}" for k, v in stats["totals"].items()))
    if report["other_tables"]:
        click.echo("Other legacy tables (not imported): " + ", ".join(
            f"{k} ({v} rows)" for k, v in report["other_tables"].items()))
    for legacy_table, mapping in report["status_mapping"].items():
        if mapping:
            click.echo(f"{legacy_table} statuses: " + ", ".join(
                f"{raw} → {m['to']} ({m['count']})" for raw, m in mapping.items()))
    _listing("Skipped", [f"{s['table']} {s['legacy_id']}: {s['reason']}"
                         for s in report["skipped"]])
    _listing("Notes", [f"{n['table']} {n['legacy_id']}: {n['note']}" for n in report["notes"]])
    sample = report["sample"]
    click.echo("")
    click.echo(f"Sample: {sample['size']} of {sample['of']} schedules (seed {sample['seed']}): "
               f"{sample['matched']} match, {sample['mismatched']} mismatch")
    if sample["schedules"]:
        table(["schedule", "job", "prompt legacy → ours", "cron legacy → ours", "match"], [
            (e["schedule"], e["job"],
             f"{e['prompt_id']['legacy']} → {e['prompt_id']['ours_legacy']}",
             f"{e['cron_expr']['legacy']} → {e['cron_expr']['ours']}",
             "yes" if e["match"] else "NO" + (f" ({e['note']})" if e.get("note") else ""))
            for e in sample["schedules"]])
    click.echo("")
    if report["audit_id"] is not None:
        click.echo(f"Report kept in the audit log (entry {report['audit_id']}).")
    if report["reconciled"]:
        click.echo("Every legacy row is accounted for"
                   + (" and every sample mismatch is explained above." if sample["mismatched"]
                      else "."))
    else:
        click.echo("Not everything reconciles: see the rows marked NO above.")


def _listing(title: str, lines: list[str]) -> None:
    if not lines:
        return
    click.echo(f"{title} ({len(lines)}):")
    for line in lines[:_SHOWN]:
        click.echo(f"  {line}")
    if len(lines) > _SHOWN:
        click.echo(f"  … and {len(lines) - _SHOWN} more (--format json lists them all)")
