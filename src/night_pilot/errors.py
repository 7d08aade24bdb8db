"""The errors the project raises on purpose, and the exit code each maps to.

Every error a user can cause is a `CnpError` with a message that names the problem; the CLI
prints the message (and its cause chain) and exits with `exit_code`. Nothing here imports.
"""

from __future__ import annotations


class CnpError(Exception):
    """A failure the user should read: the message names what went wrong."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"error": self.kind, "message": self.message}
        if self.hint:
            data["hint"] = self.hint
        cause = self.__cause__
        chain = []
        while cause is not None:
            chain.append(f"{type(cause).__name__}: {cause}")
            cause = cause.__cause__
        if chain:
            data["cause"] = chain
        return data


class InvalidInput(CnpError):
    """Input that can never be valid as given (bad cron, unknown zone, empty prompt)."""

    exit_code = 2
    kind = "invalid_input"


class InvalidCron(InvalidInput):
    """A schedule expression that cannot be parsed; `field` names the offending part."""

    kind = "invalid_cron"

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.field = field

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        if self.field:
            data["field"] = self.field
        return data


class NotFound(CnpError):
    """A prompt, job or run id that does not exist."""

    kind = "not_found"


class Conflict(CnpError):
    """The request is valid but the current state forbids it (a prompt still used by jobs)."""

    kind = "conflict"


class CooldownActive(Conflict):
    """A Claude run refused because a usage limit is in force (until its reset)."""

    kind = "cooldown"


class StorageError(CnpError):
    """The database cannot be opened, read or written as required."""

    kind = "storage"


class SchemaTooNew(StorageError):
    """The database was migrated by a newer version of the code than this one."""

    kind = "schema_too_new"
