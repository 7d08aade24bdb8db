"""Where Claude Code's transcripts are: the `projects` directories it writes to, every
transcript file below one (least recently written first), and the session and project a file
belongs to by its place there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path


def default_roots(env: Mapping[str, str] | None = None) -> list[Path]:
    """The `projects` directories Claude Code writes transcripts to: each one of
    `$CLAUDE_CONFIG_DIR` (comma-separated) if set, else `$XDG_CONFIG_HOME/claude` (default
    `~/.config/claude`) and `~/.claude`. Only those that exist."""
    env = os.environ if env is None else env
    configured = [p.strip() for p in env.get("CLAUDE_CONFIG_DIR", "").split(",") if p.strip()]
    if configured:
        bases = [Path(p).expanduser() for p in configured]
    else:
        home = Path(env.get("HOME") or Path.home())
        xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        bases = [xdg / "claude", home / ".claude"]
    return _unique_dirs(b / "projects" for b in bases)


def roots_for_paths(paths: Iterable[Path]) -> list[Path]:
    """`--path DIR`: a Claude config directory (its `projects/` is read) or any directory of
    transcripts (read as is)."""
    return _unique_dirs((p / "projects" if (p / "projects").is_dir() else p) for p in paths)


def _unique_dirs(paths: Iterable[Path]) -> list[Path]:
    seen: set[str] = set()
    out = []
    for p in paths:
        if not p.is_dir():
            continue
        real = os.path.realpath(p)
        if real not in seen:
            seen.add(real)
            out.append(Path(os.path.abspath(p)))
    return out


def transcript_files(root: Path) -> list[tuple[str, os.stat_result]]:
    """Every `*.jsonl` below root (subagent files in `<project>/<session>/subagents/` too),
    with its stat, least recently written first: a session forked from another is written
    after it, so the copies it starts with are credited to the session they were copied
    from."""
    found: list[tuple[int, str, os.stat_result]] = []
    stack = [str(root)]
    while stack:
        top = stack.pop()
        try:
            with os.scandir(top) as it:
                for e in it:
                    # Symlinked directories are not followed: a loop must not hang the import.
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    elif e.name.endswith(".jsonl") and e.is_file():
                        st = e.stat()
                        found.append((st.st_mtime_ns, e.path, st))
        except OSError:
            continue  # vanished or unreadable directory: the rest still counts
    found.sort(key=lambda f: (f[0], f[1]))
    return [(path, st) for _mtime, path, st in found]


def file_identity(root: str, path: str) -> tuple[str | None, str | None]:
    """The session and project a file belongs to by its place under `projects/`:
    `<project>/<session>.jsonl` or `<project>/<session>/subagents/<agent>.jsonl`."""
    parts = path[len(root):].strip(os.sep).split(os.sep)
    project = parts[0] if len(parts) > 1 else None
    if len(parts) >= 4 and parts[-2] == "subagents":
        return parts[-3], project
    return parts[-1].removesuffix(".jsonl"), project
