"""`cnp migrate …`: move data between databases. `legacy` imports the old Rust tool's database;
`copy` moves a whole SQLite installation into PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from .app import Env, cli, common, echo, pass_env
from .output import emit, table

_SHOWN = 15  # skipped rows and notes listed in the readable report (all of them in JSON)


@cli.group()
def migrate() -> None:
    """Move data into cnp's database."""


@migrate.command("legacy")
@click.argument("path", required=False,
              help="The old tool's database file (default: where it kept it).")
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
    from .. import catalog, legacy as migrate_legacy
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
    echo(f"{head}{report['source']}" + (" (found by looking)" if found else ""))
    echo(f"Times without an offset read in {report['timezone']}; jobs run in "
         f"{report['work_dir']} and are scheduled in {report['timezone']}.")
    echo("")
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
    echo("Jobs imported now: " + ", ".join(f"{v} {k}" for k, v in states.items()))
    without = report["tables"]["execution_results"]["without_job"]
    if without:
        echo(f"Runs imported without a job: {without}")
    if stats.get("present") and stats.get("totals"):
        echo("token_usage_stats totals (not imported): " + ", ".join(
            f"{k}={v}" for k, v in stats["totals"].items()))
    if report["other_tables"]:
        echo("Other legacy tables (not imported): " + ", ".join(
            f"{k} ({v} rows)" for k, v in report["other_tables"].items()))
    for legacy_table, mapping in report["status_mapping"].items():
        if mapping:
            echo(f"{legacy_table} statuses: " + ", ".join(
                f"{raw} → {m['to']} ({m['count']})" for raw, m in mapping.items()))
    _listing("Skipped", [f"{s['table']} {s['legacy_id']}: {s['reason']}"
                         for s in report["skipped"]])
    _listing("Notes", [f"{n['table']} {n['legacy_id']}: {n['note']}" for n in report["notes"]])
    sample = report["sample"]
    echo("")
    echo(f"Sample: {sample['size']} of {sample['of']} schedules (seed {sample['seed']}): "
         f"{sample['matched']} match, {sample['mismatched']} mismatch")
    if sample["schedules"]:
        table(["schedule", "job", "prompt legacy → ours", "cron legacy → ours", "match"], [
            (e["schedule"], e["job"],
             f"{e['prompt_id']['legacy']} → {e['prompt_id']['ours_legacy']}",
             f"{e['cron_expr']['legacy']} → {e['cron_expr']['ours']}",
             "yes" if e["match"] else "NO" + (f" ({e['note']})" if e.get("note") else ""))
            for e in sample["schedules"]])
    echo("")
    if report["audit_id"] is not None:
        echo(f"Report kept in the audit log (entry {report['audit_id']}).")
    if report["reconciled"]:
        echo("Every legacy row is accounted for"
             + (" and every sample mismatch is explained above." if sample["mismatched"]
                      else "."))
    else:
        echo("Not everything reconciles: see the rows marked NO above.")


def _listing(title: str, lines: list[str]) -> None:
    if not lines:
        return
    echo(f"{title} ({len(lines)}):")
    for line in lines[:_SHOWN]:
        echo(f"  {line}")
    if len(lines) > _SHOWN:
        echo(f"  … and {len(lines) - _SHOWN} more (--format json lists them all)")


@migrate.command("copy")
@click.option("--from", "source", metavar="PATH",
              help="cnp's SQLite database to copy (default: the one --db or $CNP_DB names, "
              "if that is a file).")
@click.option("--to", "target", metavar="URL", required=True,
              help="The PostgreSQL database to copy into (postgresql://...).")
@click.option("--dry-run", is_flag=True, help="Check both ends and report; write nothing.")
@click.option("--replace", is_flag=True,
              help="Delete what the target already holds first (in the same transaction).")
@click.option("--include-daemons", is_flag=True,
              help="Copy the source's daemon registrations too (history only).")
@click.option("--sample", "sample_size", type=click.IntRange(0, 10_000), default=20,
              show_default=True, help="Rows per table compared field by field in the report.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for picking the sample (the same seed picks the same rows).")
@common
@pass_env
def migrate_copy(env: Env, source: str | None, target: str, dry_run: bool, replace: bool,
                 include_daemons: bool, sample_size: int, seed: int) -> None:
    """Copy a whole SQLite installation into PostgreSQL, in one transaction.

    Every table that holds data is copied with its ids, so runs keep their jobs and jobs their
    prompts; the target must not hold any data yet (unless --replace). The source is only
    read. The report (counts on both sides, what was skipped and why, a sampled field-by-field
    check) is printed and kept in the target's audit log.
    """
    from .. import migrate_copy as mc
    from ..config import resolve_db
    from ..errors import InvalidInput

    if source is None:
        current = resolve_db(env.db)
        if current.path is None:
            raise InvalidInput(
                f"cnp's database is {current.display()}, not an SQLite file: nothing to copy "
                "from", hint="name the SQLite file with --from PATH")
        path = current.path
    else:
        path = Path(source).expanduser().absolute()
    mc.check_target_url(target)
    options = mc.CopyOptions(sample_size=sample_size, seed=seed, replace=replace,
                             include_daemons=include_daemons)
    report = mc.copy_database(path, target, options, datetime.now(UTC), dry_run=dry_run)
    emit(env.fmt, report, lambda: _pretty_copy(report))


def _pretty_copy(report: dict[str, Any]) -> None:
    head = "Dry run (nothing written): " if report["dry_run"] else "Copied "
    echo(f"{head}{report['source']} → {report['target']} "
         f"(schema {report['target_schema']})")
    schema = report["schema"]
    echo(f"Schema version {schema['version']}; the source was at "
         f"{schema['source_version']}"
         + (" (upgraded on a private copy)." if schema["source_upgraded"] else ".")
         + (" Existing data in the target replaced." if report["replace"] else ""))
    echo("")
    rows = [(name, t["source_rows"], t["copied"], t["skipped"], t["target_before"],
             t["deleted"], t["target_after"], "yes" if t["reconciled"] else "NO")
            for name, t in report["tables"].items()]
    table(["table", "source", "copied", "skipped", "target before", "deleted", "target now",
           "reconciled"], rows)
    for name, c in report["counters"].items():
        echo(f"Counter {name}: source {c['source']}, target {c['target_before']}"
             f" → {c['target_after']} (the higher of both)")
    echo("Next ids in the target: " + ", ".join(
        f"{name} {n}" for name, n in report["identities"].items()))
    _listing("Skipped", [f"{s['table']} ({s['rows']} row{'s' if s['rows'] != 1 else ''}): "
                         f"{s['reason']}"
                         for s in report["skipped"]])
    _listing("Notes", list(report["notes"]))
    sample = report["sample"]
    echo("")
    if sample["compared"]:
        echo(f"Sample: up to {sample['per_table']} rows per table (seed {sample['seed']})"
             f": {sample['size']} rows compared field by field, {sample['matched']} "
             f"match, {sample['mismatched']} mismatch")
        bad = [e for e in sample["rows"] if not e["match"]]
        if bad:
            table(["table", "key", "field", "source", "target"], [
                (e["table"], e["key"], field, v["source"], v["target"])
                for e in bad for field, v in (e["mismatches"].items() or
                                              [("(row missing)", {"source": "", "target": ""})])])
    else:
        echo(f"Sample: {sample['note']}.")
    echo("")
    if report["audit_id"] is not None:
        echo(f"Report kept in the target's audit log (entry {report['audit_id']}).")
    if report["reconciled"]:
        echo("Every source row is accounted for"
             + (" and every sampled row matches." if sample["compared"] else "."))
    else:
        echo("Not everything reconciles: see the rows marked NO above.")
