"""The inputs of the MCP tools: each declared once, as a JSON Schema for `tools/list` and as
the check a call's arguments pass before a service sees them.

The checks are the command line's: what the services validate (cron, zone, tool lists,
durations, paths, risk) they validate here too, with the same messages; what the command line's
parser checks (types, choices, ranges, required and unknown arguments) is checked here in the
same words, naming the tool's argument instead of the option.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,), "number": (int, float), "string": (str,), "boolean": (bool,),
    "array": (list,),
}
_NOUNS = {"integer": "int", "number": "float", "string": "string", "boolean": "boolean",
          "array": "list of strings"}


@dataclass(frozen=True)
class Arg:
    """One argument of a tool. `default` None: absent unless given."""

    name: str
    type: str  # a JSON Schema type; "array" is a list of strings
    help: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "description": self.help}
        if self.type == "array":
            out["items"] = {"type": "string"}
        if self.choices:
            out["enum"] = list(self.choices)
        if self.default is not None:
            out["default"] = self.default
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out

    def check(self, value: Any) -> Any:
        kinds = _PY_TYPES[self.type]
        ok = isinstance(value, kinds) and (self.type in ("boolean", "string", "array")
                                           or not isinstance(value, bool))
        if ok and self.type == "array":
            ok = all(isinstance(item, str) for item in value)
        if not ok:
            raise InvalidInput(
                f"argument {self.name}: invalid {_NOUNS[self.type]} value: {value!r}")
        if self.choices and value not in self.choices:
            listed = ", ".join(repr(c) for c in self.choices)
            raise InvalidInput(
                f"argument {self.name}: invalid choice: {value!r} (choose from {listed})")
        low_ok = self.minimum is None or value >= self.minimum
        high_ok = self.maximum is None or value <= self.maximum
        if not (low_ok and high_ok):
            bounds = (f"{self.minimum}<=" if self.minimum is not None else "") + "x" + (
                f"<={self.maximum}" if self.maximum is not None else "")
            raise InvalidInput(f"argument {self.name}: {value} is not in the range {bounds}")
        return tuple(value) if self.type == "array" else value


def input_schema(params: tuple[Arg, ...]) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {p.name: p.schema() for p in params},
        "additionalProperties": False,
    }
    required = [p.name for p in params if p.required]
    if required:
        schema["required"] = required
    return schema


def checked(params: tuple[Arg, ...], arguments: dict[str, Any] | None) -> dict[str, Any]:
    """The arguments of a call, checked, with every declared one present (absent: its
    default). A JSON null counts as absent."""
    given = {k: v for k, v in (arguments or {}).items() if v is not None}
    known = {p.name for p in params}
    unknown = sorted(set(given) - known)
    if unknown:
        raise InvalidInput(f"unrecognized arguments: {', '.join(unknown)}")
    missing = [p.name for p in params if p.required and p.name not in given]
    if missing:
        raise InvalidInput(f"the following arguments are required: {', '.join(missing)}")
    out = {}
    for p in params:
        out[p.name] = p.check(given[p.name]) if p.name in given else p.default
    return out
