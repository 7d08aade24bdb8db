"""The service's environment file `<data dir>/service.env`, the only place secrets go: rendering
it, reading and updating it without disturbing the user's edits, masking it for display, and
the notices about credentials and `claude` it gives rise to.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Collection, Mapping
from typing import Literal

from ..config import redact_url
from ..errors import CnpError
from .files import write_atomic
from .spec import CLAUDE_VAR_PREFIXES, PROXY_VARS, TOKEN_VARS, ServiceSpec, no_newline


def env_quote(value: str) -> str:
    """A double-quoted value that systemd's EnvironmentFile= and /bin/sh read alike."""
    no_newline(value)
    return '"' + re.sub(r'([\\"$`])', r"\\\1", value) + '"'


def render_env_file(spec: ServiceSpec) -> str:
    values = dict(spec.env_file_values)
    lines = [
        "# Environment of the Claude Night Pilot service, read when it starts. Created by",
        "# `cnp service install`; later installs leave it alone (except that --include-token",
        "# sets the credential lines). Keep it private (mode 0600).",
        '# One KEY="value" per line; systemd and /bin/sh both read it.',
        "",
        "# PATH of the shell that installed the service, so that `claude` and `node` are found.",
        f"PATH={env_quote(values.pop('PATH'))}",
    ]
    if "CNP_DB" in values:
        lines += ["", "# The database (its URL holds a password, so it is kept here).",
                  f"CNP_DB={env_quote(values.pop('CNP_DB'))}"]
    lines += ["", "# Credentials for unattended runs: a token from `claude setup-token`, or an",
              "# API key. Without one, `claude` uses the login stored in ~/.claude."]
    for name in TOKEN_VARS:
        if name in values:
            lines.append(f"{name}={env_quote(values.pop(name))}")
        else:
            lines.append(f"# {name}=")
    lines += [f"{k}={env_quote(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


_ASSIGNMENT = re.compile(r"\s*(#\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)")


def parse_env_text(text: str) -> dict[str, str]:
    """The variables an environment file sets (commented lines excluded), unquoted."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        m = _ASSIGNMENT.fullmatch(line)
        if m is None or m.group(1) is not None:
            continue
        raw = m.group(3).strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif len(raw) >= 2 and raw[0] == raw[-1] == "'":
            raw = raw[1:-1]
        values[m.group(2)] = raw
    return values


SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD", re.IGNORECASE)


def mask_env_text(text: str, hide: Collection[str] = ()) -> str:
    """The environment file as safe to print: secret values (and those of the variables named
    in `hide`) and URL passwords hidden."""
    out = []
    for line in text.splitlines():
        m = _ASSIGNMENT.fullmatch(line)
        if m is not None and m.group(1) is None:
            name, value = m.group(2), parse_env_text(line).get(m.group(2), "")
            if value and (SECRET_NAME.search(name) or name in hide):
                line = f'{name}="***"'
            elif value and redact_url(value) != value:
                line = f"{name}={env_quote(redact_url(value))}"
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def update_env_text(text: str, values: Mapping[str, str]) -> str:
    """`text` with each variable in `values` set: its line (or commented placeholder) replaced,
    else appended. Everything else stays as the user left it."""
    lines = text.splitlines()
    for name, value in values.items():
        new = f"{name}={env_quote(value)}"
        active = [i for i, ln in enumerate(lines)
                  if (m := _ASSIGNMENT.fullmatch(ln)) and m.group(2) == name and not m.group(1)]
        placeholder = [i for i, ln in enumerate(lines)
                       if (m := _ASSIGNMENT.fullmatch(ln)) and m.group(2) == name and m.group(1)]
        if active or placeholder:
            lines[(active or placeholder)[0]] = new
        else:
            lines.append(new)
    return "\n".join(lines) + "\n"


def needs_update(text: str, values: Mapping[str, str]) -> bool:
    current = parse_env_text(text)
    return any(current.get(k) != v for k, v in values.items())


EnvAction = Literal["created", "kept", "updated"]


def ensure_env_file(spec: ServiceSpec, update: Mapping[str, str] | None = None) -> EnvAction:
    """Create the environment file (mode 0600) if missing; an existing one is kept, except that
    the variables in `update` are set in it."""
    try:
        spec.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(spec.env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if not update:
                return "kept"
            text = spec.env_file.read_text()
            if not needs_update(text, update):
                return "kept"
            write_atomic(spec.env_file, update_env_text(text, update).encode(), 0o600)
            return "updated"
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, render_env_file(spec).encode())
        finally:
            os.close(fd)
        return "created"
    except OSError as exc:
        raise CnpError(f"cannot write {spec.env_file}: {exc.strerror or exc}") from exc


def read_env_file(spec: ServiceSpec) -> dict[str, str] | None:
    text = read_env_text(spec)
    return None if text is None else parse_env_text(text)


def read_env_text(spec: ServiceSpec) -> str | None:
    try:
        return spec.env_file.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise CnpError(f"cannot read {spec.env_file}: {exc}") from exc


def env_file_mode(spec: ServiceSpec) -> int | None:
    try:
        return spec.env_file.stat().st_mode & 0o777
    except FileNotFoundError:
        return None


def claude_warnings(spec: ServiceSpec, path: str) -> list[str]:
    """What would keep the service, with `path` as its PATH, from finding `claude` (and the
    `node` it may need)."""
    from ..config import find_claude

    lookup = {"PATH": path, "CNP_CLAUDE_BIN": spec.environment.get("CNP_CLAUDE_BIN", "")}
    try:
        claude = find_claude(env=lookup)
    except CnpError:
        return [f"`claude` is not on the PATH in {spec.env_file}"
                + (" and CNP_CLAUDE_BIN does not name it" if lookup["CNP_CLAUDE_BIN"] else "")
                + ": the service's Claude runs will fail until it is (install it, or edit PATH "
                "there)"]
    try:
        with claude.open("rb") as fh:
            first = fh.readline(200)
    except OSError:
        return []
    if first.startswith(b"#!") and b"node" in first and not shutil.which("node", path=path):
        return [f"{claude} runs on node, which is not on the PATH in {spec.env_file}"]
    return []


def token_notices(spec: ServiceSpec, environ: Mapping[str, str],
                  env_values: Mapping[str, str] | None) -> list[str]:
    """Credentials set in this shell that the service will not have."""
    notices = []
    defined = env_values or {}
    for name in TOKEN_VARS:
        if environ.get(name) and not defined.get(name):
            notices.append(
                f"{name} is set in this shell but not in {spec.env_file}: the service will not "
                f"have it. Add it there, or run `cnp service install --include-token`.")
    if "CNP_DB" in spec.env_file_values and defined.get("CNP_DB") != spec.env_file_values[
            "CNP_DB"]:
        notices.append(f"the database URL holds a password, so it is not in the unit: set "
                       f"CNP_DB in {spec.env_file} (--include-token writes it there)")
    return notices


def unseen_vars(spec: ServiceSpec, environ: Mapping[str, str],
                env_values: Mapping[str, str] | None) -> list[str]:
    """The Claude-related variables of this shell (`ANTHROPIC_*`, `CLAUDE_CODE_*`,
    `CLAUDE_*`, proxies) that the service would not have: set neither in the unit nor in the
    environment file. The credentials `token_notices` names are left to it. Names only."""
    defined = {**spec.environment, **(env_values or {})}
    return sorted(
        name for name, value in environ.items()
        if value and name not in defined and name not in TOKEN_VARS
        and (name.startswith(CLAUDE_VAR_PREFIXES) or name in PROXY_VARS))


def unseen_notice(spec: ServiceSpec, names: list[str]) -> list[str]:
    if not names:
        return []
    flags = " ".join(f"--env {n}" for n in names)
    return [f"set in this shell but not for the service: {', '.join(names)}; carry them over "
            f"with `cnp service install {flags}` (or add them to {spec.env_file})"]
