"""Locating the pinned real `claude` CLI and building the environment it runs in under test.

Owns the rules for running the CLI with no account and no network besides loopback:
which binary (env override or the cached npm install) and which variables the child gets.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

CLAUDE_CLI_VERSION = "2.1.328"
REPO = Path(__file__).resolve().parent.parent
INSTALL_SCRIPT = REPO / "scripts" / "install-claude-cli.sh"
INSTALL_TIMEOUT_S = 900  # first install downloads a ~370 MB native binary


class ClaudeCLIUnavailableError(RuntimeError):
    """The real CLI could not be found or installed; the message says what to do."""


def cache_dir() -> Path:
    return Path(os.environ.get("CNP_TEST_CACHE") or REPO / ".cache")


def _cached_bin() -> Path | None:
    prefix = cache_dir() / f"claude-cli-{CLAUDE_CLI_VERSION}" / "node_modules"
    manifest = prefix / "@anthropic-ai" / "claude-code" / "package.json"
    binary = prefix / ".bin" / "claude"
    try:
        version = json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None
    return binary if version == CLAUDE_CLI_VERSION and os.access(binary, os.X_OK) else None


def _reported_version(binary: str) -> str:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClaudeCLIUnavailableError(f"cannot run {binary} --version: {exc}") from exc
    return out.split(" ", 1)[0].strip()


@functools.lru_cache(maxsize=1)
def claude_bin() -> str:
    """Absolute path of the pinned `claude` executable; installs it into the cache if missing.

    CNP_TEST_CLAUDE_BIN overrides the lookup. Raises ClaudeCLIUnavailableError rather than returning
    something unusable, so a missing CLI fails the tests loudly instead of skipping them.
    """
    override = os.environ.get("CNP_TEST_CLAUDE_BIN")
    if override:
        if not os.access(override, os.X_OK):
            raise ClaudeCLIUnavailableError(
                f"CNP_TEST_CLAUDE_BIN={override} is not an executable file"
            )
        binary = override
    else:
        cached = _cached_bin()
        binary = str(cached) if cached else _install()
    # The expected streams were recorded with this exact version; another one is a different test.
    version = _reported_version(binary)
    if version != CLAUDE_CLI_VERSION:
        raise ClaudeCLIUnavailableError(
            f"{binary} reports version {version or '(nothing)'}, tests are pinned to "
            f"{CLAUDE_CLI_VERSION}"
        )
    return binary


def _install() -> str:
    hint = f"run {INSTALL_SCRIPT} (needs node + npm) or set CNP_TEST_CLAUDE_BIN"
    try:
        proc = subprocess.run(
            ["bash", str(INSTALL_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClaudeCLIUnavailableError(f"installing the claude CLI failed: {exc}; {hint}") from exc
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not os.access(lines[-1], os.X_OK):
        raise ClaudeCLIUnavailableError(
            f"installing the claude CLI failed (exit {proc.returncode}); {hint}\n"
            f"{proc.stderr[-3000:]}"
        )
    return lines[-1]


# Inherited variables that would make the child use another account, config dir, provider or
# network path than the one the test set up (e.g. CLAUDE_CONFIG_DIR beats HOME, CLAUDECODE marks
# a nested session, a developer's ANTHROPIC_MODEL would change the request).
_DROP_PREFIXES = ("ANTHROPIC_", "CLAUDE", "AWS_BEARER_TOKEN_BEDROCK")
_DROP_NAMES = frozenset(
    {
        "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
        "http_proxy", "https_proxy", "all_proxy", "no_proxy",
        # Runtime/config dirs outside HOME: the CLI puts its messaging socket in
        # XDG_RUNTIME_DIR; without these it stays under HOME / TMPDIR.
        "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME",
        "XDG_RUNTIME_DIR",
    }
)  # fmt: skip


def claude_env(
    home: Path,
    api_url: str,
    *,
    oauth: bool = False,
    max_retries: int | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for a `claude` child process talking to the stand-in API at api_url.

    - HOME=home: config, ~/.claude.json and transcripts ($HOME/.claude/projects/...) land there.
      No pre-seeding is needed: with -p the CLI skips onboarding and the trust dialog.
    - TMPDIR=home/tmp: the CLI keeps per-session scratch dirs and a messaging socket under
      TMPDIR; keeping them under home isolates parallel tests and cleans up with tmp_path.
    - ANTHROPIC_API_KEY, or CLAUDE_CODE_OAUTH_TOKEN when oauth=True (subscription behaviour:
      the CLI then emits rate_limit_event lines).
    - CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1: without it the CLI also calls
      api.anthropic.com directly (not ANTHROPIC_BASE_URL), which costs up to a second and
      leaves loopback.
    - HTTP(S)_PROXY point at the stand-in (NO_PROXY=loopback): should anything still try to
      leave the machine, the stand-in records the CONNECT in api.unknown_paths and refuses it
      at once instead of the request hanging on DNS or a firewall.
    - CLAUDE_CODE_MAX_RETRIES when given: the CLI's own retries of 529/5xx take >30 s by
      default.
    - `extra` last, e.g. {"IS_SANDBOX": "1"}, which the CLI requires before it accepts
      --dangerously-skip-permissions when running as root.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_DROP_PREFIXES) and k not in _DROP_NAMES
    }
    home = Path(home)
    tmp = home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": str(tmp),
            "ANTHROPIC_BASE_URL": api_url,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "HTTP_PROXY": api_url,
            "HTTPS_PROXY": api_url,
            "NO_PROXY": "127.0.0.1,localhost,::1",
        }
    )
    env.setdefault("PATH", os.defpath)
    if oauth:
        env["CLAUDE_CODE_OAUTH_TOKEN"] = "standin-oauth-token"
    else:
        env["ANTHROPIC_API_KEY"] = "standin-api-key"
    if max_retries is not None:
        env["CLAUDE_CODE_MAX_RETRIES"] = str(max_retries)
    env.update(extra or {})
    return env
