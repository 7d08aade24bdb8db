"""Batches: several prompts run with bounded concurrency, each through the same runner path as
`cnp execute` (a recorded ad-hoc run, its retries followed to the end).

At most `concurrency` runs are in flight: each worker inserts its run and claims it in one
transaction when it is ready to start it, so no run row waits where a daemon could take it and
exceed the bound. Ctrl-C (or setting `stop`) starts nothing more and cancels what is running;
the outcomes say which items never started.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import CnpError, InvalidInput
from .models import RunStatus

if TYPE_CHECKING:
    from .models import Run, RunSettings
    from .runner import RunnerConfig
    from .store import Store


@dataclass(frozen=True)
class BatchItem:
    label: str  # how the summary names it
    prompt_text: str | None = None  # an ad-hoc prompt…
    prompt_id: int | None = None  # …or a stored one (read at spawn, like a job's)


@dataclass
class BatchOutcome:
    index: int
    item: BatchItem
    run: Run | None = None  # the last attempt, as recorded
    error: str | None = None  # why it never ran

    @property
    def ok(self) -> bool:
        return self.run is not None and self.run.status == RunStatus.COMPLETED


# What the progress display hears: ("start", index, run_id) and ("done", index, outcome).
Listener = Callable[[str, int, object], None]


def parse_file(path: str) -> list[BatchItem]:
    """Prompts from a file: JSON (a list of strings or {"content"|"prompt", "title"} objects,
    or a `cnp prompt export` document), or text with prompts separated by lines that are just
    `---` (without such a line, each non-blank line is one prompt)."""
    from .catalog import decode_prompt_bytes

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    text = decode_prompt_bytes(data, path)
    if path.endswith(".json") or text.lstrip().startswith(("[", "{")):
        return _parse_json(text, path)
    lines = text.splitlines()
    if any(line.strip() == "---" for line in lines):
        chunks: list[str] = []
        current: list[str] = []
        for line in lines:
            if line.strip() == "---":
                chunks.append("\n".join(current))
                current = []
            else:
                current.append(line)
        chunks.append("\n".join(current))
        prompts = [c.strip("\n") for c in chunks if c.strip()]
    else:
        prompts = [line.strip() for line in lines if line.strip()]
    if not prompts:
        raise InvalidInput(f"{path} holds no prompts")
    return [BatchItem(_label(i, p), prompt_text=p) for i, p in enumerate(prompts)]


def _parse_json(text: str, path: str) -> list[BatchItem]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path} is not JSON: {exc}") from exc
    entries = doc.get("prompts") if isinstance(doc, dict) else doc
    if not isinstance(entries, list) or not entries:
        raise InvalidInput(f"{path}: expected a non-empty list of prompts")
    items = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict):
            content = entry.get("content", entry.get("prompt"))
            title = entry.get("title")
        else:
            content, title = entry, None
        if not isinstance(content, str) or not content.strip():
            raise InvalidInput(f"{path}: prompt #{i + 1} has no text")
        label = f"#{i + 1} {title}" if isinstance(title, str) and title else _label(i, content)
        items.append(BatchItem(label, prompt_text=content))
    return items


def _label(index: int, text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"#{index + 1} {first[:40]}" + ("…" if len(first) > 40 else "")


def run_batch(
    items: list[BatchItem], settings: RunSettings, *, open_store: Callable[[], Store],
    concurrency: int, config: RunnerConfig, host: str, instance: str,
    clock: Callable[[], datetime], listener: Listener | None = None,
    stop: threading.Event | None = None,
) -> list[BatchOutcome]:
    """Run every item, at most `concurrency` at a time, in order of the list."""
    from .runner import Runner, StopSignal
    from .runs import claim_one, create_batch_item, run_to_end

    if concurrency < 1:
        raise InvalidInput("--concurrent must be at least 1")
    stop = stop or threading.Event()
    signals: dict[int, StopSignal] = {}
    lock = threading.Lock()
    outcomes = [BatchOutcome(i, item) for i, item in enumerate(items)]
    tell = listener or (lambda *_: None)

    def one(index: int) -> None:
        outcome = outcomes[index]
        if stop.is_set():
            outcome.error = "not started: the batch was stopped"
            tell("done", index, outcome)
            return
        item = items[index]
        store = open_store()
        try:
            now = clock()
            with store.write():
                run_id = create_batch_item(
                    store, replace(settings, prompt_text=item.prompt_text), now,
                    prompt_id=item.prompt_id)
                claimed = claim_one(store, run_id, now, instance=instance, host=host,
                                    lease=timedelta(seconds=config.lease_s))
            assert claimed is not None  # inserted and claimed in one transaction
            signal = StopSignal()
            with lock:
                signals[index] = signal
            if stop.is_set():
                signal.stop(RunStatus.CANCELLED, "cancelled: the batch was stopped")
            tell("start", index, run_id)
            runner = Runner(store, instance, clock, config)
            outcome.run = run_to_end(store, runner, claimed, host=host, cancel=signal)
        except CnpError as exc:
            outcome.error = exc.message
        finally:
            with lock:
                signals.pop(index, None)
            store.close()
        tell("done", index, outcome)

    def stop_running() -> None:
        with lock:
            for signal in signals.values():
                if not signal.is_set():
                    signal.stop(RunStatus.CANCELLED, "cancelled: the batch was stopped")

    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cnp-batch")
    futures = [pool.submit(one, i) for i in range(len(items))]
    try:
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.2)
            if stop.is_set():
                stop_running()
    except KeyboardInterrupt:
        # Ctrl-C: start nothing more, stop what runs, and wait for it to be recorded.
        stop.set()
        stop_running()
        pool.shutdown(wait=True, cancel_futures=True)
    else:
        pool.shutdown(wait=True)
        for future in futures:
            future.result()  # a worker's unexpected error is not swallowed
    for outcome in outcomes:
        if outcome.run is None and outcome.error is None:
            outcome.error = "not started: the batch was stopped"
    return outcomes
