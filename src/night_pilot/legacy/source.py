"""Finding and reading the legacy database: the candidates under the names the old tool used
(never our own database), the one to import, and its rows, read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import DB_FILENAME, LEGACY_DB_FILENAME
from ..errors import Conflict, InvalidInput, NotFound
from ..store import legacy_file
from ..store.legacy_file import LegacyData

# The file names the old tool wrote, wherever it was started. Ours is the second one too, so a
# candidate is only taken when it has the legacy schema and is not the database cnp uses.
CANDIDATE_NAMES = (LEGACY_DB_FILENAME, DB_FILENAME)


@dataclass
class Discovery:
    found: list[Path] = field(default_factory=list)
    passed_over: list[dict[str, str]] = field(default_factory=list)


def find_legacy_databases(cwd: Path, home: Path, ours: Path | None) -> Discovery:
    """Legacy databases under the names the old tool used, in the working directory and the
    data directory. Our own database is never a candidate: not by path (resolved), and not by
    content (it has a schema_migrations table)."""
    result = Discovery()
    seen: set[Path] = set()
    ours_resolved = ours.resolve() if ours is not None else None
    for folder in (cwd, home):
        for name in CANDIDATE_NAMES:
            path = folder / name
            if not path.is_file():
                continue
            resolved = path.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            if resolved == ours_resolved:
                result.passed_over.append({"path": str(path),
                                           "reason": "the database cnp itself uses"})
                continue
            probe = legacy_file.probe(path)
            if probe.kind == "legacy":
                result.found.append(path)
            else:
                result.passed_over.append({"path": str(path), "reason": probe.detail})
    return result


def choose_legacy_database(cwd: Path, home: Path, ours: Path | None) -> Path:
    """The one legacy database to import when no PATH was given, or a clear error."""
    found = find_legacy_databases(cwd, home, ours)
    names = " or ".join(CANDIDATE_NAMES)
    if not found.found:
        passed = "".join(f"; passed over {p['path']}: {p['reason']}" for p in found.passed_over)
        raise NotFound(
            f"no legacy database found: looked for {names} in {cwd} and {home}{passed}",
            hint="give its path: cnp migrate legacy PATH",
        )
    if len(found.found) > 1:
        listed = ", ".join(str(p) for p in found.found)
        raise Conflict(
            f"found {len(found.found)} legacy databases: {listed}; import them one at a time",
            hint="name one: cnp migrate legacy PATH (legacy ids are per file, so two different "
            "legacy databases should not be merged into one cnp database)",
        )
    return found.found[0]


def check_legacy_path(path: Path, ours: Path | None) -> Path:
    """A PATH given on the command line: an existing file that is not our own database."""
    if not path.exists():
        raise InvalidInput(f"{path} does not exist")
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file")
    if ours is not None and path.resolve() == ours.resolve():
        raise InvalidInput(
            f"{path} is the database cnp itself uses, not a legacy one",
            hint="give the old tool's database file",
        )
    return path


def read_legacy(path: Path) -> LegacyData:
    """The whole legacy file, read-only; refuses a file that is not a legacy database."""
    return legacy_file.read(path)
