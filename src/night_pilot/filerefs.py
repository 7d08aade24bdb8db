"""`@file` references in a prompt: `@README.md`, `@src/`, `@*.py`, `@"docs/a b.md"`.

A reference is `@` at the start of a word followed by a path. It is resolved against the run's
working directory and must stay inside it: an absolute path, a `~` path, a `..` that climbs out,
or a symlink (anywhere along the path) that leads out is *escaping*, and the prompt is refused.
A reference that stays inside but names nothing is *missing*: a warning when a job is saved,
recorded on the run when it runs.

What counts as a reference: a word starting with `@` that contains `/`, `.`, `*`, `?` or `~`,
or that names an existing entry of the working directory (`@Makefile`). So `@dataclass` or an
`@mention` is text, and `me@example.com` is not a reference (the `@` does not start the word).
"""

from __future__ import annotations

import glob
import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidInput

# `@` not preceded by a word character (or anything else that makes it part of a word).
_REF = re.compile(r"""(?<![^\s(\[{,;:"'`])@(?:"([^"\n]+)"|([^\s"'`<>|;,()\[\]{}]+))""")
_TRAILING = ".:!?"  # sentence punctuation after a reference is not part of it
_GLOB = re.compile(r"[*?\[]")
MAX_GLOB_MATCHES = 1000


@dataclass(frozen=True)
class FileRef:
    ref: str  # as written, without the @
    status: str  # "ok", "missing" or "escapes"
    kind: str  # "file", "dir", "glob" or "unknown"
    matches: int = 0  # for a glob: how many entries it matched (at most MAX_GLOB_MATCHES)
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"ref": self.ref, "status": self.status, "kind": self.kind}
        if self.kind == "glob":
            data["matches"] = self.matches
        if self.detail:
            data["detail"] = self.detail
        return data


@dataclass
class RefReport:
    refs: list[FileRef] = field(default_factory=list)

    @property
    def missing(self) -> list[FileRef]:
        return [r for r in self.refs if r.status == "missing"]

    @property
    def escaping(self) -> list[FileRef]:
        return [r for r in self.refs if r.status == "escapes"]

    def to_list(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.refs]

    def warnings(self) -> list[str]:
        return [f"@{r.ref}: {r.detail}" for r in self.missing]

    def refuse_escapes(self) -> None:
        """Raise if any reference leaves the working directory."""
        if self.escaping:
            shown = "; ".join(f"@{r.ref} ({r.detail})" for r in self.escaping)
            raise InvalidInput(
                f"file reference outside the working directory: {shown}",
                hint="reference files by paths relative to the working directory, inside it",
            )


def parse(prompt: str, base: str | None = None) -> list[str]:
    """The references a prompt makes, each once, in order (without the @)."""
    found: list[str] = []
    for match in _REF.finditer(prompt):
        quoted, bare = match.group(1), match.group(2)
        if quoted is not None:
            ref = quoted.strip()
        else:
            ref = bare.rstrip(_TRAILING) or bare
            if not _looks_like_path(ref, base):
                continue
        if ref and ref not in found:
            found.append(ref)
    return found


def _looks_like_path(ref: str, base: str | None) -> bool:
    if any(c in ref for c in "/.*?~"):
        return True
    return base is not None and os.path.lexists(os.path.join(base, ref))


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve(ref: str, base: str) -> FileRef:
    """Where one reference leads, relative to `base` (the working directory)."""
    if ref.startswith("~"):
        return FileRef(ref, "escapes", "unknown", detail="a home-directory path")
    if os.path.isabs(ref):
        return FileRef(ref, "escapes", "unknown", detail="an absolute path")
    normal = posixpath.normpath(ref)
    if normal == ".." or normal.startswith("../"):
        return FileRef(ref, "escapes", "unknown", detail="climbs out with ..")
    root = os.path.realpath(base)
    if _GLOB.search(ref):
        return _resolve_glob(ref, root)
    full = os.path.join(root, normal)
    real = os.path.realpath(full)
    if not _within(real, root):
        return FileRef(ref, "escapes", "unknown", detail=f"a symlink leads to {real}")
    if not os.path.exists(full):
        return FileRef(ref, "missing", "unknown", detail="no such file or directory")
    is_dir = os.path.isdir(full)
    if ref.endswith("/") and not is_dir:
        return FileRef(ref, "missing", "file", detail="a file, not a directory")
    return FileRef(ref, "ok", "dir" if is_dir else "file")


def _resolve_glob(pattern: str, root: str) -> FileRef:
    matches = 0
    for match in glob.iglob(pattern, root_dir=root, recursive=True):
        real = os.path.realpath(os.path.join(root, match))
        if not _within(real, root):
            return FileRef(pattern, "escapes", "glob", matches,
                           detail=f"matches {match}, a symlink to {real}")
        matches += 1
        if matches >= MAX_GLOB_MATCHES:
            break
    if not matches:
        return FileRef(pattern, "missing", "glob", 0, detail="matches nothing")
    return FileRef(pattern, "ok", "glob", matches)


def check(prompt: str, base: str) -> RefReport:
    """Every reference of the prompt, resolved against `base`."""
    return RefReport([resolve(ref, base) for ref in parse(prompt, base)])
