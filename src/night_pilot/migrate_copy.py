"""Moving an installation from SQLite to PostgreSQL (`cnp migrate copy`): check both ends,
copy every table that holds data with its ids in one transaction on the target, and reconcile
both sides in a report that is printed and kept in the target's audit log.

A service: it decides what is copied, refused and reported; the store reads the source
(read-only) and writes the target (`store/copy.py`). It never reads the clock (`now` is passed
in). Every source row ends up copied or in the report's `skipped` with its reason; a sample of
rows from every table is compared field by field after the copy, read back inside the copy's
transaction.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import redact_url
from .errors import Conflict, InvalidInput, SchemaTooNew
from .store import copy as rows
from .store.copy import COPY_TABLES, CopySource, CopyTable, TargetState
from .store.migrations import latest_version

if TYPE_CHECKING:
    from .store.pg import PostgresStore

SAMPLE_SIZE = 20
_OPEN = "('queued', 'running')"
# Tables that hold no user data of their own: the target always has them filled.
_ALWAYS_FILLED = {"counters"}


@dataclass(frozen=True)
class CopyOptions:
    sample_size: int = SAMPLE_SIZE  # rows per table compared field by field
    seed: int = 0
    replace: bool = False  # delete what the target holds first (same transaction)
    include_daemons: bool = False  # copy the source's daemon registrations too


# -- the two ends -------------------------------------------------------------------------------


def check_source(path: Path) -> rows.SourceProbe:
    """An existing cnp SQLite database, at a schema version this code can read."""
    if not path.exists():
        raise InvalidInput(f"{path} does not exist", hint="--from names cnp's SQLite file")
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file", hint="--from names cnp's SQLite file")
    probe = rows.probe_source(path)
    if probe.kind == "not_sqlite":
        raise InvalidInput(f"{path} is not an SQLite database",
                           hint="--from names cnp's SQLite file (claude-night-pilot.db)")
    if probe.kind == "legacy":
        raise InvalidInput(f"{path} is the old tool's database, not cnp's",
                           hint="import it with `cnp migrate legacy`, then copy cnp's database")
    if probe.kind != "cnp":
        raise InvalidInput(f"{path} is not a Claude Night Pilot database: {probe.detail}")
    if probe.version > latest_version():
        raise SchemaTooNew(
            f"{path} has schema version {probe.version}, but this version of cnp only knows "
            f"up to {latest_version()}",
            hint="copy with the cnp version that last opened it (or a newer one)")
    return probe


def check_target_url(url: str) -> str:
    if not url.startswith(("postgresql://", "postgres://")):
        raise InvalidInput(f"--to must be a postgresql:// URL, not {redact_url(url)!r}",
                           hint="e.g. postgresql://user@host:5432/dbname")
    return url


def check_target(state: TargetState, options: CopyOptions, url: str) -> None:
    """Refuse a target that is not cnp's, is newer than the code, or already holds data."""
    where = f"{redact_url(url)} (schema {state.schema})"
    if state.version > latest_version():
        raise SchemaTooNew(
            f"{where} has schema version {state.version}, but this version of cnp only knows "
            f"up to {latest_version()}", hint="upgrade claude-night-pilot")
    if state.version == 0 and state.foreign_tables:
        shown = ", ".join(state.foreign_tables[:10])
        more = len(state.foreign_tables) - 10
        raise Conflict(
            f"{where} has no cnp schema but holds other tables: {shown}"
            + (f" and {more} more" if more > 0 else ""),
            hint="copy into an empty schema or database of its own")
    occupied = _occupied(state.counts, options)
    if occupied and not options.replace:
        raise Conflict(
            f"{where} already holds data: "
            + ", ".join(f"{name} ({n} row{'s' if n != 1 else ''})"
                        for name, n in occupied.items())
            + "; the copy goes into an empty database",
            hint="copy into a new schema or database, or pass --replace to delete what the "
            "target holds first")


def _occupied(counts: dict[str, int], options: CopyOptions) -> dict[str, int]:
    return {name: n for name, n in counts.items()
            if n and name not in _ALWAYS_FILLED and _copied(name, options)}


def _copied(table: str, options: CopyOptions) -> bool:
    return table != "daemons" or options.include_daemons


# -- the copy -----------------------------------------------------------------------------------


@contextmanager
def _readable_source(source: Path, probe: rows.SourceProbe,
                     notes: list[str]) -> Iterator[Path]:
    """The file to read: the source, or an upgraded private copy of an older one."""
    if probe.version == latest_version():
        yield source
        return
    with tempfile.TemporaryDirectory(prefix="cnp-copy-") as tmp, \
            rows.upgraded_copy(source, Path(tmp)) as upgraded:
        notes.append(f"the source is at schema version {probe.version}: it was upgraded to "
                     f"{latest_version()} on a private copy, which was copied; the source "
                     "file itself was not changed")
        yield upgraded


def copy_database(source: Path, url: str, options: CopyOptions, now: datetime, *,
                  dry_run: bool) -> dict[str, Any]:
    """Copy (unless `dry_run`) every table of `source` into the PostgreSQL database at `url`
    in one transaction, with the audit entry; returns the report."""
    probe = check_source(source)
    check_target_url(url)
    state = rows.target_state(url)
    check_target(state, options, url)
    notes: list[str] = []
    with _readable_source(source, probe, notes) as path, CopySource(path) as src:
        source_counts = {t.name: src.count(t.name) for t in COPY_TABLES}
        runs_open, daemons_live = src.open_work()
        if runs_open or daemons_live:
            notes.append(
                f"when the source was read, {runs_open} run(s) were queued or running and "
                f"{daemons_live} daemon(s) were not recorded as stopped: runs are copied as "
                "they were; stop the SQLite daemon before copying so that none is left "
                "behind (a run left running is reaped once its lease expires)")
        if dry_run:
            report = _dry_run_report(source, url, probe, state, source_counts, src, options,
                                     notes, now)
        else:
            from .store.pg import PostgresStore

            with PostgresStore(url, migrate=False) as target:
                report = _copy(src, target, source, url, probe, state, source_counts,
                               options, notes, now)
    return report


def _copy(src: CopySource, target: PostgresStore, source: Path, url: str,
          probe: rows.SourceProbe, state: TargetState, source_counts: dict[str, int],
          options: CopyOptions, notes: list[str], now: datetime) -> dict[str, Any]:
    samples: dict[str, list[dict[str, Any]]] = {}
    if state.version == 0:
        notes.append(f"the target had no cnp schema: the copy created it (version "
                     f"{latest_version()})")
    with target.write():
        # Everything below is one transaction: any failure leaves the target as it was, with
        # no table created or migrated either (PostgreSQL's DDL is transactional).
        target.migrate()
        rows.lock_target(target)
        before = rows.target_counts(target)
        check_target(state._replace(counts=before, version=latest_version()), options, url)
        counters_before = rows.target_counters(target)
        deleted = (rows.clear_target(target, [t.name for t in COPY_TABLES
                                               if _copied(t.name, options)])
                   if options.replace else {})
        copied: dict[str, int] = {}
        for table in COPY_TABLES:
            if not _copied(table.name, options):
                continue
            if table.name == "counters":
                copied[table.name] = source_counts[table.name]
                continue
            if table.name == "usage_quarters":
                rows.clear_usage_quarters(target)
            copied[table.name], samples[table.name] = _copy_table(src, target, table, options)
        counters_after = rows.merge_counters(target, src.counters())
        high_water = src.high_water()
        identities = {t.name: rows.advance_identity(target, t.name, high_water.get(t.name, 0))
                      for t in COPY_TABLES if t.identity}
        after = rows.target_counts(target)
        sample = _compare_sample(target, samples, options)
        report = _report(
            source, url, probe, state, source_counts, before, deleted, copied, after,
            counters={name: {"source": value, "target_before": counters_before.get(name),
                             "target_after": counters_after.get(name)}
                      for name, value in src.counters().items()},
            identities=identities, sample=sample, options=options, notes=notes,
            dry_run=False, now=now)
        report["audit_id"] = rows.record_copy(target, report, now)
    return report


def _copy_table(src: CopySource, target: PostgresStore, table: CopyTable,
                options: CopyOptions) -> tuple[int, list[dict[str, Any]]]:
    """Stream one table across; returns how many rows went and the sampled source rows."""
    columns = src.columns(table.name)
    theirs = rows.target_columns(target, table.name)
    if sorted(columns) != sorted(theirs):
        raise SchemaTooNew(
            f"the source's {table.name} has columns {columns}, the target's {theirs}",
            hint="both ends must be at the same schema version")
    rng = random.Random(f"{options.seed}:{table.name}")
    reservoir: list[tuple[Any, ...]] = []
    seen = 0
    links: list[tuple[int, int]] = []
    retry_col = columns.index("retry_of") if table.name == "job_executions" else -1
    id_col = columns.index("id") if table.identity else -1
    n = 0
    for batch in src.rows(table, columns):
        for row in batch:
            # Reservoir sampling: every row equally likely, the same rows for the same seed.
            if seen < options.sample_size:
                reservoir.append(row)
            else:
                j = rng.randrange(seen + 1)
                if j < options.sample_size:
                    reservoir[j] = row
            seen += 1
        if retry_col >= 0:
            batch = [_defer_forward_link(row, id_col, retry_col, links) for row in batch]
        n += rows.insert_rows(target, table.name, columns, batch)
    if links:
        rows.link_retries(target, links)
    return n, [dict(zip(columns, row, strict=True)) for row in reservoir]


def _defer_forward_link(row: tuple[Any, ...], id_col: int, retry_col: int,
                        links: list[tuple[int, int]]) -> tuple[Any, ...]:
    """Runs go in id order; one whose `retry_of` names a later id is linked afterwards."""
    retry_of = row[retry_col]
    if retry_of is None or retry_of < row[id_col]:
        return row
    links.append((row[id_col], retry_of))
    return (*row[:retry_col], None, *row[retry_col + 1:])


def _compare_sample(target: PostgresStore, samples: dict[str, list[dict[str, Any]]],
                    options: CopyOptions) -> dict[str, Any]:
    entries = []
    for table in COPY_TABLES:
        picked = samples.get(table.name)
        if not picked:
            continue
        keys = [tuple(r[c] for c in table.key) for r in picked]
        ours = rows.fetch_rows(target, table, keys)
        for key, source_row in sorted(zip(keys, picked, strict=True), key=lambda kv: kv[0]):
            target_row = ours.get(key)
            entry: dict[str, Any] = {"table": table.name, "key": dict(zip(table.key, key,
                                                                           strict=True))}
            if target_row is None:
                entry.update(fields=len(source_row), match=False, missing=True, mismatches={})
            else:
                mismatches = {c: {"source": v, "target": target_row.get(c)}
                              for c, v in source_row.items() if not _same(v, target_row.get(c))}
                entry.update(fields=len(source_row), match=not mismatches,
                             mismatches=mismatches)
            entries.append(entry)
    return {
        "compared": True,
        "seed": options.seed,
        "per_table": options.sample_size,
        "size": len(entries),
        "matched": sum(1 for e in entries if e["match"]),
        "mismatched": sum(1 for e in entries if not e["match"]),
        # A copy changes no value: every mismatch is unexplained.
        "unexplained": sum(1 for e in entries if not e["match"]),
        "rows": entries,
    }


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and float(a) == float(b)
    return bool(a == b) and type(a) is type(b)


# -- the report ---------------------------------------------------------------------------------


def _dry_run_report(source: Path, url: str, probe: rows.SourceProbe, state: TargetState,
                    source_counts: dict[str, int], src: CopySource, options: CopyOptions,
                    notes: list[str], now: datetime) -> dict[str, Any]:
    before = dict(state.counts)
    deleted = ({name: n for name, n in before.items()
                if name not in _ALWAYS_FILLED and _copied(name, options)}
               if options.replace else {})
    copied = {t.name: source_counts[t.name] for t in COPY_TABLES if _copied(t.name, options)}
    after = {}
    for t in COPY_TABLES:
        kept = before[t.name] - deleted.get(t.name, 0)
        if t.name == "counters":
            target_names = 1 if state.version == 0 else before[t.name]
            after[t.name] = max(target_names, source_counts[t.name])
        else:
            after[t.name] = kept + copied.get(t.name, 0)
    source_counters = src.counters()
    counters = {name: {"source": value,
                       "target_before": state.fencing if name == "fencing" else None,
                       "target_after": max(value, state.fencing) if name == "fencing"
                       else value}
                for name, value in source_counters.items()}
    if state.version == 0:
        notes.append(f"the target has no cnp schema yet: the copy would create it "
                     f"(version {latest_version()})")
    high_water = src.high_water()
    identities = {t.name: max(high_water.get(t.name, 0), src.max_id(t.name)) + 1
                  for t in COPY_TABLES if t.identity}
    sample = {"compared": False, "seed": options.seed, "per_table": options.sample_size,
              "size": 0, "matched": 0, "mismatched": 0, "unexplained": 0, "rows": [],
              "note": "a dry run compares nothing: nothing was written"}
    report = _report(source, url, probe, state, source_counts, before, deleted, copied, after,
                     counters=counters, identities=identities, sample=sample,
                     options=options, notes=notes, dry_run=True, now=now)
    report["audit_id"] = None
    return report


def _report(source: Path, url: str, probe: rows.SourceProbe, state: TargetState,
            source_counts: dict[str, int], before: dict[str, int], deleted: dict[str, int],
            copied: dict[str, int], after: dict[str, int], *, counters: dict[str, Any],
            identities: dict[str, int], sample: dict[str, Any], options: CopyOptions,
            notes: list[str], dry_run: bool, now: datetime) -> dict[str, Any]:
    tables: dict[str, dict[str, Any]] = {}
    skipped = []
    for t in COPY_TABLES:
        n = source_counts[t.name]
        done = copied.get(t.name, 0)
        entry: dict[str, Any] = {
            "source_rows": n,
            "copied": done,
            "skipped": n - done,
            "target_before": before[t.name],
            "deleted": deleted.get(t.name, 0),
            "target_after": after[t.name],
        }
        if t.name == "counters":
            entry["merged"] = True  # one row per name: the higher value of both sides
            entry["reconciled"] = all(
                c["target_after"] is not None and c["target_after"] >= c["source"]
                for c in counters.values())
        else:
            entry["reconciled"] = (
                n == done + entry["skipped"]
                and after[t.name] == before[t.name] - entry["deleted"] + done)
        tables[t.name] = entry
        if n - done:
            skipped.append({"table": t.name, "rows": n - done, "reason": _skip_reason(t.name)})
    return {
        "source": str(source),
        "target": redact_url(url),
        "target_schema": state.schema,
        "dry_run": dry_run,
        "at": now.isoformat(),
        "schema": {"version": latest_version(), "source_version": probe.version,
                   "source_upgraded": probe.version != latest_version(),
                   "target_version_before": state.version},
        "replace": options.replace,
        "tables": tables,
        "counters": counters,
        "identities": identities,
        "skipped": skipped,
        "notes": notes,
        "sample": sample,
        "reconciled": all(t["reconciled"] for t in tables.values())
        and sample["unexplained"] == 0,
    }


def _skip_reason(table: str) -> str:
    if table == "daemons":
        return ("daemon registrations describe the SQLite installation's processes; "
                "--include-daemons copies them")
    return "not copied"
