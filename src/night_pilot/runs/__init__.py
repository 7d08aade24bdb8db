"""Runs: the one owner of a run's state.

Every change to a run row goes through here: creating runs (the fire times the scheduler
planned, a manual trigger, an ad-hoc prompt, follow-up attempts), claiming them (with the
usage-limit deferral and the overlap policy), starting them, recording their output, finishing
them with a follow-up decided from policy, reaping runs whose owner vanished, cancelling,
handing claims back, and pruning. Every decision takes `now`; the runner executes, the daemon
keeps time. `run_to_end` is the exception: it drives a runner in this process, by the
runner's clock, for commands that run a prompt without a daemon.
"""

from .cancel import cancel, prune, stop_requested
from .claim import (
    claim_one,
    claim_runs,
    cooldown_until,
    release_claims,
    renew_claims,
    take_back_ahead,
)
from .create import (
    OVERLAP_SKIPPED,
    PlannedRun,
    create_adhoc,
    create_batch_item,
    create_follow_up,
    create_scheduled,
    refuse_during_cooldown,
    review_adhoc,
    trigger_job,
)
from .finish import (
    CONTINUE_PROMPT,
    FollowUpPolicy,
    Outcome,
    fail_internal,
    finish,
    next_attempt,
)
from .foreground import run_to_end
from .output import DEFAULT_MAX_OUTPUT, OutputRecorder, api_retry_notes
from .reap import MAX_INTERRUPT_ATTEMPTS, reap
from .start import Prepared, heartbeat, refuse, start

__all__ = [
    "CONTINUE_PROMPT", "DEFAULT_MAX_OUTPUT", "MAX_INTERRUPT_ATTEMPTS", "OVERLAP_SKIPPED",
    "FollowUpPolicy", "Outcome", "OutputRecorder", "PlannedRun", "Prepared", "api_retry_notes",
    "cancel",
    "claim_one", "claim_runs", "cooldown_until", "create_adhoc", "create_batch_item",
    "create_follow_up", "create_scheduled", "fail_internal", "finish", "heartbeat",
    "next_attempt", "prune", "reap", "refuse", "refuse_during_cooldown", "release_claims",
    "renew_claims", "review_adhoc", "run_to_end", "start", "stop_requested",
    "take_back_ahead", "trigger_job",
]
