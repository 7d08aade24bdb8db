"""Prompt templates: `{{name}}` and `{{name|default}}` placeholders, filled from a job's variables
and a few built-ins (the date, the job, the previous run's status).

The language is deliberately tiny: a placeholder is a name, optionally followed by `|` and a
default text. Rendering looks the name up in a dictionary of strings and pastes the value in;
nothing is evaluated, there are no attributes, filters, loops or calls, and a pasted value is never
scanned again (a value that itself contains `{{x}}` stays as written). So a prompt, or a variable
value, can make rendering do nothing but substitute text.

Anything between `{{` and `}}` that is not a placeholder (`{{ .Values.image }}`, `{{ 1 + 1 }}`)
is plain text and is sent as written; `review` warns about it, since it is usually a typo. `\\{{`
writes a literal `{{`.

Pure functions, no I/O; the caller passes `now`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from .errors import InvalidInput

# The names every template can use without a --var, and what they hold.
BUILTINS: dict[str, str] = {
    "date": "today's date in the job's time zone (YYYY-MM-DD)",
    "time": "the time the run starts, in the job's time zone (HH:MM)",
    "datetime": "the start time with its UTC offset (ISO 8601, seconds)",
    "job_name": "the job's name ('execute' for a run not tied to a job)",
    "job_id": "the job's id (empty for a run not tied to a job)",
    "previous_status": "the status of the job's previous run that started, or 'none'",
}

# Group 1: an escaped `\{{`; else `{{` … `}}` on one line, group 2 being the inside.
_BRACES = re.compile(r"(\\\{\{)|\{\{([^\n]*?)\}\}")
_PLACEHOLDER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|(.*))?$", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TemplateError(InvalidInput):
    """A template that cannot be rendered: variables without a value, or a bad --var."""

    kind = "template"


@dataclass(frozen=True)
class Placeholder:
    name: str
    default: str | None  # None: no default given (the variable must have a value)
    text: str  # as written, braces included


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text and placeholders, in order."""

    parts: tuple[str | Placeholder, ...]
    not_placeholders: tuple[str, ...] = ()  # `{{…}}` spans left as plain text

    @property
    def placeholders(self) -> list[Placeholder]:
        return [p for p in self.parts if isinstance(p, Placeholder)]

    @property
    def names(self) -> list[str]:
        """Each placeholder name once, in order of first use."""
        return list(dict.fromkeys(p.name for p in self.placeholders))


@dataclass
class Rendered:
    text: str
    used: list[str] = field(default_factory=list)  # names substituted (value or default)
    defaulted: list[str] = field(default_factory=list)  # names that fell back to their default

    @property
    def templated(self) -> bool:
        """Whether the prompt had any placeholder at all."""
        return bool(self.used)


def parse(template: str) -> Template:
    parts: list[str | Placeholder] = []
    plain: list[str] = []
    literal: list[str] = []
    pos = 0
    for match in _BRACES.finditer(template):
        literal.append(template[pos:match.start()])
        pos = match.end()
        if match.group(1):
            literal.append("{{")  # `\{{`: the braces are text; the backslash only said so
            continue
        inside = match.group(2)
        found = _PLACEHOLDER.match(inside)
        if found is None:
            plain.append(match.group(0))
            literal.append(match.group(0))
            continue
        if literal:
            parts.append("".join(literal))
            literal = []
        default = found.group(2)
        parts.append(Placeholder(found.group(1), _unquote(default) if default is not None
                                 else None, match.group(0)))
    literal.append(template[pos:])
    tail = "".join(literal)
    if tail:
        parts.append(tail)
    return Template(tuple(parts), tuple(plain))


def _unquote(default: str) -> str:
    """A default is trimmed; quotes keep its spaces: `{{x|" a "}}` → ` a `."""
    text = default.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def missing(template: Template, values: Mapping[str, str]) -> list[str]:
    """The names used without a default that have no value."""
    return list(dict.fromkeys(
        p.name for p in template.placeholders if p.default is None and p.name not in values))


def render(template: str | Template, values: Mapping[str, str]) -> Rendered:
    """Substitute every placeholder; raises TemplateError naming every variable with no value."""
    parsed = parse(template) if isinstance(template, str) else template
    absent = missing(parsed, values)
    if absent:
        shown = ", ".join("{{" + name + "}}" for name in absent)
        raise TemplateError(
            f"the prompt uses {shown} but no value was given",
            hint="pass --var NAME=VALUE, or give a default in the prompt: {{NAME|default}}"
            f" (built-ins: {', '.join(BUILTINS)})",
        )
    out: list[str] = []
    result = Rendered("")
    for part in parsed.parts:
        if isinstance(part, str):
            out.append(part)
            continue
        if part.name in values:
            value = values[part.name]
        else:
            assert part.default is not None
            value = part.default
            result.defaulted.append(part.name)
        # Pasted as text: never parsed again, so a value cannot smuggle in a placeholder.
        out.append(str(value))
        result.used.append(part.name)
    result.text = "".join(out)
    result.used = list(dict.fromkeys(result.used))
    result.defaulted = list(dict.fromkeys(result.defaulted))
    return result


def parse_vars(items: Iterable[str]) -> dict[str, str]:
    """`--var NAME=VALUE` options as a dictionary (a later one wins); the value may be empty."""
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise TemplateError(f"--var {item!r} is not NAME=VALUE")
        if not _NAME.match(name):
            raise TemplateError(
                f"--var {name!r}: a variable name is letters, digits and _ "
                "(not starting with a digit)")
        if name in BUILTINS:
            raise TemplateError(f"--var {name}: {name} is a built-in variable ({BUILTINS[name]})",
                                hint="choose another name")
        values[name] = value
    return values


def builtin_values(
    now: datetime, zone: str, *, job_name: str | None, job_id: int | None,
    previous_status: str | None,
) -> dict[str, str]:
    local = now.astimezone(ZoneInfo(zone))
    return {
        "date": local.strftime("%Y-%m-%d"),
        "time": local.strftime("%H:%M"),
        "datetime": local.isoformat(timespec="seconds"),
        "job_name": job_name if job_name is not None else "execute",
        "job_id": str(job_id) if job_id is not None else "",
        "previous_status": previous_status or "none",
    }


def warnings(template: Template, variables: Mapping[str, str]) -> list[str]:
    """What is probably a mistake: variables the prompt never uses, `{{…}}` that is plain text."""
    notes = []
    unused = [name for name in variables if name not in template.names]
    if unused:
        notes.append("--var " + ", ".join(unused) + (" is" if len(unused) == 1 else " are")
                     + " not used by the prompt")
    for text in dict.fromkeys(template.not_placeholders):
        notes.append(f"{text} is not a placeholder (a name is letters, digits and _) and is "
                     "sent as written; write \\{{ to mean literal braces")
    return notes
