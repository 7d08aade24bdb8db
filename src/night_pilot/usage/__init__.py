"""The usage ledger: imports Claude Code's transcripts (every API response once, re-reading only
what was appended) and builds the daily, monthly, session, 5-hour-block and per-job reports.
A service: it reads transcript files and calls the store; no SQL here, and nothing printed.

`scan` finds the transcripts, `parse` reads their lines into entries merged by the rule in
`dedup`, `ingest` imports what is new, `reports` groups the ledger, and `pricing` holds the
price table that costs responses whose transcript states no cost.
"""

from .dedup import dedup_key
from .ingest import FileImport, ImportReport, import_transcripts
from .parse import ParseCounts, normalize_timestamp, parse_lines
from .reports import (
    BLOCK_HOURS,
    Tally,
    block_report,
    daily_report,
    day_range,
    job_report,
    parse_day,
    session_report,
    zone,
    zone_label,
)
from .scan import default_roots, roots_for_paths, transcript_files

__all__ = [
    "BLOCK_HOURS",
    "FileImport",
    "ImportReport",
    "ParseCounts",
    "Tally",
    "block_report",
    "daily_report",
    "day_range",
    "dedup_key",
    "default_roots",
    "import_transcripts",
    "job_report",
    "normalize_timestamp",
    "parse_day",
    "parse_lines",
    "roots_for_paths",
    "session_report",
    "transcript_files",
    "zone",
    "zone_label",
]
