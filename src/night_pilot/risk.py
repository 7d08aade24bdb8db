"""Risk review: how much damage a run could do, from what it may do (its permissions), where it
runs (its working directory and extra directories) and what it is asked to do (its prompt).

Every finding names its rule and the exact text that triggered it, so `job create`, the dry run
and the audit log can say *why* a job is high or critical. The overall level is the highest
finding, raised to critical when a broad grant meets a dangerous place or a dangerous request
(unrestricted Bash plus `sudo`, skipped permissions plus `rm -rf`): that combination is what
turns an instruction into damage without anyone being asked.

Pure functions: no I/O beyond resolving paths; the home directory can be passed in.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InvalidInput
from .models import ClaudeOptions, ExecutorKind

LEVELS = ("low", "medium", "high", "critical")
_RANK = {level: i for i, level in enumerate(LEVELS)}


def rank(level: str) -> int:
    return _RANK[level]


@dataclass(frozen=True)
class Finding:
    level: str
    source: str  # "permissions", "work_dir", "add_dir", "prompt" or "combination"
    rule: str  # a short stable name, e.g. "unrestricted-bash"
    trigger: str  # the text that triggered it, as written
    why: str  # what it means, for people

    def to_dict(self) -> dict[str, str]:
        return {"level": self.level, "source": self.source, "rule": self.rule,
                "trigger": self.trigger, "why": self.why}


@dataclass(frozen=True)
class RiskReport:
    level: str
    findings: tuple[Finding, ...] = ()

    @property
    def critical(self) -> bool:
        return self.level == "critical"

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "findings": [f.to_dict() for f in self.findings]}

    def summary(self) -> str:
        """One line: the level and the triggers of its highest findings."""
        if not self.findings:
            return self.level
        top = [f for f in self.findings if f.level == self.level]
        return f"{self.level}: " + "; ".join(f"{f.trigger} ({f.why})" for f in top)


# -- permissions -------------------------------------------------------------------------------

# Shell commands that make a scoped Bash grant as dangerous as an open one.
_DANGEROUS_COMMANDS = ("rm", "sudo", "su", "dd", "mkfs", "chmod", "chown", "curl", "wget",
                       "shred", "git push", "git reset", "git clean", "docker", "kill", "eval")
_EDIT_TOOLS = ("Write", "Edit", "MultiEdit", "NotebookEdit")
_BASH = re.compile(r"^Bash\s*(?:\((.*)\))?$", re.DOTALL)


def assess_permissions(options: ClaudeOptions) -> list[Finding]:
    found = []
    mode = options.permission_mode
    if mode == "bypassPermissions":
        found.append(Finding("high", "permissions", "bypass-permissions",
                             "--permission-mode bypassPermissions",
                             "every tool runs without asking"))
    elif mode in ("acceptEdits", "auto"):
        found.append(Finding("medium", "permissions", "auto-approve",
                             f"--permission-mode {mode}",
                             "file edits (and more in auto mode) are approved without asking"))
    for tool in options.allowed_tools:
        found.extend(_assess_tool(tool))
    return found


def _assess_tool(tool: str) -> list[Finding]:
    name = tool.strip()
    bash = _BASH.match(name)
    if bash:
        scope = (bash.group(1) or "").strip()
        if scope in ("", "*", ":*", "**", "* *"):
            return [Finding("high", "permissions", "unrestricted-bash", f"--allowed-tools {name}",
                            "any shell command runs without asking")]
        # `Bash(git push:*)`, `Bash(rm -rf *)`: the command words before any wildcard.
        command = " ".join(scope.replace(":", " ").replace("*", " ").split())
        for danger in _DANGEROUS_COMMANDS:
            if command == danger or command.startswith(danger + " "):
                return [Finding("high", "permissions", "dangerous-bash-grant",
                                f"--allowed-tools {name}",
                                f"'{danger}' runs without asking")]
        return []
    if name in ("*", "all"):
        return [Finding("high", "permissions", "all-tools", f"--allowed-tools {name}",
                        "every tool runs without asking")]
    if name in _EDIT_TOOLS or name.split("(")[0] in _EDIT_TOOLS:
        return [Finding("medium", "permissions", "edit-grant", f"--allowed-tools {name}",
                        "files are changed without asking")]
    return []


# -- places ------------------------------------------------------------------------------------

SYSTEM_DIRS = ("/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot",
               "/var", "/sys", "/proc", "/dev", "/System", "/Library", "/private/etc",
               "/private/var")
# Temporary directories under system ones (macOS keeps per-user temp dirs in /var/folders).
_TEMP_DIRS = ("/var/tmp", "/var/folders", "/private/var/folders", "/private/var/tmp")


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def assess_place(path: str | None, *, source: str = "work_dir",
                 home: str | Path | None = None) -> list[Finding]:
    if not path:
        return []
    written = str(path)
    forms = {os.path.abspath(written), os.path.realpath(written)}
    home_forms = set()
    home_dir = str(home) if home is not None else os.path.expanduser("~")
    if home_dir and home_dir not in ("/", "~"):
        home_forms = {os.path.abspath(home_dir), os.path.realpath(home_dir)}
    import tempfile  # ~15 ms; only a review pays it

    temp = {os.path.realpath(tempfile.gettempdir()), "/tmp", *_TEMP_DIRS}
    label = "--work-dir" if source == "work_dir" else "--add-dir"
    if "/" in forms:
        return [Finding("high", source, "root-dir", f"{label} /",
                        "the whole file system is in reach")]
    if forms & home_forms:
        return [Finding("medium", source, "home-dir", f"{label} {written}",
                        "the home directory itself: keys, dotfiles and every project")]
    for form in sorted(forms):
        if any(_inside(form, t) for t in temp):
            continue
        for system in SYSTEM_DIRS:
            if _inside(form, system):
                return [Finding("high", source, "system-dir", f"{label} {written}",
                                f"a system directory ({system})")]
    return []


# -- the prompt --------------------------------------------------------------------------------

_RM = re.compile(r"(?<![\w-])rm\s+((?:-{1,2}[\w-]+\s+)+)([^\s;&|]*)")
_EVERYTHING = {"/", "/*", "~", "~/", "~/*", "$HOME", "${HOME}", "$HOME/", "$HOME/*", "*", ".",
               "./", "./*", "..", "../", "/home", "/Users"}


def _rm_findings(text: str) -> list[Finding]:
    found = []
    for match in _RM.finditer(text):
        flags = match.group(1).split()
        target = match.group(2)
        short = "".join(f[1:] for f in flags if not f.startswith("--"))
        recursive = "r" in short.lower() or "--recursive" in flags
        force = "f" in short or "--force" in flags
        trigger = match.group(0).strip()
        if "--no-preserve-root" in flags:
            found.append(Finding("critical", "prompt", "rm-no-preserve-root", trigger,
                                 "deletes from the root of the file system"))
        elif recursive and force and target in _EVERYTHING:
            found.append(Finding("critical", "prompt", "rm-rf-everything", trigger,
                                 "recursively deletes the root, the home directory or everything"
                                 " here"))
        elif recursive and force:
            found.append(Finding("high", "prompt", "rm-rf", trigger,
                                 "recursive forced delete"))
        elif recursive:
            found.append(Finding("medium", "prompt", "rm-r", trigger, "recursive delete"))
    return found


# (level, rule, pattern, flags, why); compiled on first use, so importing costs nothing.
_PROMPT_RULES: tuple[tuple[str, str, str, int, str], ...] = (
    ("critical", "mkfs", r"(?<![\w-])mkfs(?:\.\w+)?\b", 0, "formats a file system"),
    ("critical", "dd-to-device", r"(?<![\w-])dd\b[^\n;|&]*\bof=/dev/[^\s;|&]+", 0,
     "writes raw bytes to a device"),
    ("critical", "write-to-device", r">\s*/dev/(?:sd|nvme|hd|vd|xvd|disk|mmcblk)\w*", 0,
     "overwrites a disk device"),
    ("critical", "fork-bomb", r":\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:", 0,
     "a fork bomb"),
    ("critical", "chmod-777-root", r"(?<![\w-])chmod\s+-R\s+0?777\s+/(?:\s|$)", re.M,
     "makes the whole file system world-writable"),
    ("high", "dd", r"(?<![\w-])dd\s+if=", 0, "raw copy with dd"),
    ("high", "sudo", r"(?<![\w-])sudo\b", 0, "runs commands as root"),
    ("high", "su-root", r"(?<![\w-])su\s+(?:-\s|-$|root\b|-c\b)", re.M,
     "switches to another user"),
    ("high", "force-push",
     r"(?<![\w-])git\s+push\b[^\n;|&]*?(?:\s--force(?:-with-lease)?\b|\s-f\b|\s\+\S+)",
     0, "rewrites the remote's history"),
    ("high", "chmod-777-recursive", r"(?<![\w-])chmod\s+(?:-\w*R\w*|--recursive)\s+0?777",
     0, "makes a tree world-writable"),
    ("high", "pipe-to-shell",
     r"(?<![\w-])(?:curl|wget)\b[^\n|;]*\|\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b", 0,
     "runs a downloaded script unseen"),
    ("high", "drop-database", r"\bDROP\s+(?:DATABASE|SCHEMA|TABLE)\b", re.I,
     "deletes a database or table"),
    ("high", "shutdown", r"(?<![\w-])(?:shutdown|reboot|poweroff|halt)\s+(?:-\w|now\b)",
     0, "stops the machine"),
    ("medium", "chmod-777", r"(?<![\w-])chmod\s+0?777\b", 0, "world-writable files"),
    ("medium", "git-reset-hard", r"(?<![\w-])git\s+reset\s+--hard\b", 0,
     "discards uncommitted work"),
    ("medium", "git-clean", r"(?<![\w-])git\s+clean\s+-\w*f", 0,
     "deletes untracked files"),
    ("medium", "find-delete", r"(?<![\w-])find\s[^\n;|&]*-delete\b", 0,
     "deletes the files it finds"),
)


@functools.cache
def _compiled_rules() -> tuple[tuple[str, str, re.Pattern[str], str], ...]:
    return tuple((level, rule, re.compile(pattern, flags), why)
                 for level, rule, pattern, flags, why in _PROMPT_RULES)


def assess_prompt(text: str) -> list[Finding]:
    found = _rm_findings(text)
    for level, rule, pattern, why in _compiled_rules():
        match = pattern.search(text)
        if match is not None:
            found.append(Finding(level, "prompt", rule, match.group(0).strip()[:120], why))
    # `chmod -R 777 /` also matches the milder chmod rules: keep the gravest of each family.
    rules = {f.rule for f in found}
    if "chmod-777-root" in rules:
        found = [f for f in found if f.rule not in ("chmod-777-recursive", "chmod-777")]
    elif "chmod-777-recursive" in rules:
        found = [f for f in found if f.rule != "chmod-777"]
    if "dd-to-device" in rules:
        found = [f for f in found if f.rule != "dd"]
    return found


# -- the whole ---------------------------------------------------------------------------------


def assess(
    *, options: ClaudeOptions, work_dir: str | None, prompt: str,
    executor: ExecutorKind | str = ExecutorKind.CLAUDE, home: str | Path | None = None,
) -> RiskReport:
    """The risk of running `prompt` with these options in `work_dir`."""
    findings: list[Finding] = []
    if str(executor) == ExecutorKind.CLAUDE:
        findings += assess_permissions(options)
    findings += assess_place(work_dir, home=home)
    for extra in options.add_dirs:
        findings += assess_place(extra, source="add_dir", home=home)
    findings += assess_prompt(prompt)
    if options.append_system_prompt:
        findings += assess_prompt(options.append_system_prompt)
    broad = [f for f in findings if f.source == "permissions" and rank(f.level) >= rank("high")]
    grave = [f for f in findings if f.source != "permissions" and rank(f.level) >= rank("high")]
    if broad and grave:
        findings.append(Finding(
            "critical", "combination", "grant-meets-danger",
            f"{broad[0].trigger} + {grave[0].trigger}",
            "a broad grant together with a dangerous place or request: nothing asks first"))
    level = max((f.level for f in findings), key=rank, default="low")
    findings.sort(key=lambda f: -rank(f.level))
    return RiskReport(level, tuple(findings))


ACCEPT_FLAG = "--i-understand-the-risk"


class RiskRefused(InvalidInput):
    """Critical risk without the acknowledgement flag."""

    kind = "risk"

    def __init__(self, report: RiskReport, where: str | None = None) -> None:
        triggers = "; ".join(f"{f.trigger} ({f.why})" for f in report.findings
                             if rank(f.level) >= rank("high"))
        place = f" in {where}" if where else ""
        super().__init__(f"critical risk{place}, refused: {triggers}",
                         hint=f"narrow the permissions, directory or prompt, or pass "
                              f"{ACCEPT_FLAG} to accept the risk")
        self.report = report

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        data["risk"] = self.report.to_dict()
        return data


def refuse_critical(report: RiskReport, accepted: bool) -> None:
    if report.critical and not accepted:
        raise RiskRefused(report)
