"""Importing the Rust tool's database (`cnp migrate legacy`): find it, read it, map every row,
write the result in one transaction, and reconcile both sides in a report that is printed and
kept in the audit log.

A service: it decides and maps; the store reads the legacy file (read-only) and writes ours. It
never reads the clock (`now` is passed in). The steps are modules: `source` finds and reads the
legacy database, `values` and `tables` read its values and map its statuses, `mapping` plans
what every row becomes, `importer` writes the plan, and `report` reconciles.

Every legacy row ends up in exactly one of: imported now, imported before (found by its legacy
id, so a re-run adds nothing), or skipped with a reason. Rows imported with a change the user
should know about (paused for an invalid cron, a run without its schedule, …) carry a note.
"""

from .importer import import_legacy
from .mapping import ImportOptions, Plan, plan_import
from .report import build_report, compare_sample
from .source import (
    Discovery,
    check_legacy_path,
    choose_legacy_database,
    find_legacy_databases,
    read_legacy,
)
from .tables import (
    RESULT_STATUS,
    SCHEDULE_STATUS,
    UNKNOWN_RESULT,
    UNKNOWN_SCHEDULE_STATE,
    JobState,
    RunMapping,
    result_mapping,
    schedule_state,
)
from .values import Tokens, parse_legacy_tags, parse_legacy_time, parse_token_usage, prepare_cron

__all__ = [
    "RESULT_STATUS",
    "SCHEDULE_STATUS",
    "UNKNOWN_RESULT",
    "UNKNOWN_SCHEDULE_STATE",
    "Discovery",
    "ImportOptions",
    "JobState",
    "Plan",
    "RunMapping",
    "Tokens",
    "build_report",
    "check_legacy_path",
    "choose_legacy_database",
    "compare_sample",
    "find_legacy_databases",
    "import_legacy",
    "parse_legacy_tags",
    "parse_legacy_time",
    "parse_token_usage",
    "plan_import",
    "prepare_cron",
    "read_legacy",
    "result_mapping",
    "schedule_state",
]
