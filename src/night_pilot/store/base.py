"""What both stores share: the transaction helpers (store/txn.py), the facts every backend
reads the same way, and the query objects by subject.

A query object is made the first time its attribute is read (`store.jobs`), importing its
module then: `cnp job list` never loads the run, usage or legacy queries.
"""

from __future__ import annotations

from abc import abstractmethod
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .txn import Transactions

if TYPE_CHECKING:
    from .audit import AuditQueries
    from .claims import ClaimQueries
    from .cooldowns import CooldownQueries
    from .daemons import DaemonQueries
    from .dbapi import Connection
    from .dialect import Dialect
    from .events import EventQueries
    from .imports import ImportQueries
    from .jobs import JobQueries
    from .legacy import LegacyQueries
    from .notifications import NotificationQueries
    from .prompts import PromptQueries
    from .quota import QuotaQueries
    from .runs import RunQueries
    from .schedule import ScheduleQueries
    from .sessions import SessionQueries
    from .usage import UsageQueries

_OPEN = "('pending', 'queued', 'running', 'retry_wait', 'deferred')"


class BaseStore(Transactions):
    """One connection to one database, its dialect, and the query objects by subject."""

    db: Connection
    dialect: Dialect
    materialize_batch: int  # due jobs per transaction (scheduler.materialize_due)

    # -- the query objects ------------------------------------------------------------------

    @cached_property
    def prompts(self) -> PromptQueries:
        from .prompts import PromptQueries
        return PromptQueries(self)

    @cached_property
    def jobs(self) -> JobQueries:
        from .jobs import JobQueries
        return JobQueries(self)

    @cached_property
    def schedule(self) -> ScheduleQueries:
        from .schedule import ScheduleQueries
        return ScheduleQueries(self)

    @cached_property
    def runs(self) -> RunQueries:
        from .runs import RunQueries
        return RunQueries(self)

    @cached_property
    def imports(self) -> ImportQueries:
        from .imports import ImportQueries
        return ImportQueries(self)

    @cached_property
    def claims(self) -> ClaimQueries:
        from .claims import ClaimQueries
        return ClaimQueries(self)

    @cached_property
    def events(self) -> EventQueries:
        from .events import EventQueries
        return EventQueries(self)

    @cached_property
    def cooldowns(self) -> CooldownQueries:
        from .cooldowns import CooldownQueries
        return CooldownQueries(self)

    @cached_property
    def daemons(self) -> DaemonQueries:
        from .daemons import DaemonQueries
        return DaemonQueries(self)

    @cached_property
    def notifications(self) -> NotificationQueries:
        from .notifications import NotificationQueries
        return NotificationQueries(self)

    @cached_property
    def usage(self) -> UsageQueries:
        from .usage import UsageQueries
        return UsageQueries(self)

    @cached_property
    def quota(self) -> QuotaQueries:
        from .quota import QuotaQueries
        return QuotaQueries(self)

    @cached_property
    def audit(self) -> AuditQueries:
        from .audit import AuditQueries
        return AuditQueries(self)

    @cached_property
    def sessions(self) -> SessionQueries:
        from .sessions import SessionQueries
        return SessionQueries(self)

    @cached_property
    def legacy(self) -> LegacyQueries:
        from .legacy import LegacyQueries
        return LegacyQueries(self)

    # -- facts about the whole database -----------------------------------------------------

    def counts(self) -> dict[str, int]:
        row = self.db.execute(
            """
            SELECT (SELECT count(*) FROM prompts) AS prompts,
                   (SELECT count(*) FROM jobs WHERE deleted_at IS NULL) AS jobs,
                   (SELECT count(*) FROM jobs WHERE deleted_at IS NULL AND enabled = 1)
                       AS jobs_enabled,
                   (SELECT count(*) FROM job_executions) AS runs,
                   (SELECT count(*) FROM execution_events) AS events,
                   (SELECT count(*) FROM usage_entries) AS usage_entries,
                   (SELECT count(*) FROM audit_log) AS audit_log
            """
        ).fetchone()
        return dict(row)

    def dashboard_counts(self) -> dict[str, int]:
        """The counts the overview shows (no scan of the event or audit tables)."""
        row = self.db.execute(
            f"""
            SELECT (SELECT count(*) FROM prompts) AS prompts,
                   (SELECT count(*) FROM jobs WHERE deleted_at IS NULL) AS jobs,
                   (SELECT count(*) FROM jobs WHERE deleted_at IS NULL AND enabled = 1)
                       AS jobs_enabled,
                   (SELECT count(*) FROM job_executions) AS runs,
                   (SELECT count(*) FROM job_executions WHERE status IN {_OPEN}) AS open_runs
            """
        ).fetchone()
        return {k: int(row[k]) for k in row.keys()}  # noqa: SIM118 (sqlite3.Row)

    def applied_migrations(self) -> list[tuple[int, str, str]]:
        rows = self.db.execute("SELECT version, name, applied_at FROM schema_migrations")
        return [(r[0], r[1], r[2]) for r in rows]

    # -- what each backend answers its own way ----------------------------------------------

    @abstractmethod
    def lock_jobs(self, job_ids: list[int]) -> set[int]:
        """Inside a write transaction: hold these jobs until it ends; the ids now held."""

    @abstractmethod
    def wake_daemons(self) -> None:
        """Tell the daemons that jobs or runs changed."""

    @abstractmethod
    def db_now(self) -> Any:
        """The database's clock, or None where the daemon's clock is the only one."""
