"""Starting a claimed run: what the runner decided before spawning (the prompt as sent, its
risk, the worktree, the @references, the session resumed) recorded with the run marked
running and its audit entry, in one step; or, when the run is refused before it starts, the
same facts with the reason. Heartbeats keep the claim's lease alive meanwhile."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import filerefs
from ..models import Run
from ..procs import start_time
from ..risk import RiskReport
from ..tracing import trace

if TYPE_CHECKING:
    from .. import worktree as worktrees
    from ..store import Store


@dataclass
class Prepared:
    """A run ready to spawn, and what was decided on the way (recorded and audited)."""

    prompt: str
    templated: bool
    risk: RiskReport
    argv: list[str] = field(default_factory=list)
    cwd: str = ""
    tree: worktrees.Worktree | None = None
    refs: filerefs.RefReport = field(default_factory=filerefs.RefReport)
    resume: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.prompt.encode()).hexdigest()


def _facts(run: Run, prep: Prepared) -> dict[str, Any]:
    return {
        "job_id": run.job_id, "attempt": run.attempt, "trigger": str(run.trigger),
        "risk_level": prep.risk.level,
        "risk_triggers": [f.to_dict() for f in prep.risk.findings],
        "risk_accepted": run.settings.risk_accepted,
        "work_dir": run.settings.work_dir, "cwd": prep.cwd,
        "worktree": prep.tree.to_dict() if prep.tree else None,
        "templated": prep.templated, "file_refs": prep.refs.to_list(),
        "resume_session_id": prep.resume,
    }


def _record_facts(store: Store, run: Run, instance: str, prep: Prepared) -> bool:
    assert run.fencing_token is not None
    tree = prep.tree
    return store.claims.record_spawn(
        run.id, instance, run.fencing_token, rendered=prep.templated,
        file_refs=prep.refs.to_list(), risk_level=prep.risk.level,
        worktree_branch=tree.branch if tree else None,
        worktree_path=tree.path if tree else None,
        worktree_base=tree.base if tree else None, resume_session_id=prep.resume)


def refuse(store: Store, run: Run, instance: str, prep: Prepared, reason: str,
           now: datetime) -> None:
    """Record why a claimed run does not start (its risk, its references) and audit it; the
    caller then fails the run with `reason`."""
    with store.write():
        if _record_facts(store, run, instance, prep):
            store.audit.add(now, "refuse", "execution", run.id,
                            {**_facts(run, prep), "reason": reason,
                             "prompt_sha256": prep.sha256}, actor=instance)
    trace("refused", run_id=run.id, job_id=run.job_id, reason=reason)


def start(store: Store, run: Run, instance: str, prep: Prepared, pid: int,
          argv: list[str], now: datetime) -> bool:
    """Mark a claimed run running, with what it was given and its audit entry, in one step.
    False: the claim is lost (cancelled or reaped between claim and spawn). `argv` is the
    one recorded (its secrets redacted)."""
    assert run.fencing_token is not None
    sha = prep.sha256
    # The exact text sent is kept when it is not the stored prompt as written.
    keep_text = run.settings.prompt_text is None or prep.templated
    with store.write():
        started = store.claims.mark_running(
            run.id, instance, run.fencing_token, now, pid=pid,
            process_start=start_time(pid), argv=argv,
            prompt_text=prep.prompt if keep_text else None, prompt_sha256=sha,
        )
        if started:
            _record_facts(store, run, instance, prep)
            store.audit.add(now, "run", "execution", run.id,
                            {**_facts(run, prep), "prompt_sha256": sha, "argv": argv,
                             "pid": pid}, actor=instance)
    return started


def heartbeat(store: Store, run: Run, instance: str, now: datetime,
              lease: timedelta) -> bool:
    """Renew a running run's lease; False if the claim is lost."""
    assert run.fencing_token is not None
    return store.claims.heartbeat(run.id, instance, run.fencing_token, now, now + lease)
