"""`cnp batch`: several prompts, at most N at a time, with a progress bar and a summary table.

Every prompt is reviewed before anything starts (template variables, @file references, risk:
one critical prompt refuses the batch without --i-understand-the-risk), then each runs as a
recorded ad-hoc run, exactly as `cnp execute` runs one."""

from __future__ import annotations

import socket
import sys
import threading
from typing import TYPE_CHECKING, Any

import click
from click.exceptions import Exit

from ..errors import CnpError, InvalidInput
from .app import Env, cli, common, pass_env
from .jobs import run_options, warn
from .output import emit
from .runs import _deliver_notifications, _now, run_data

if TYPE_CHECKING:
    from ..batch import BatchItem, BatchOutcome


def _items(env: Env, prompt_ids: str | None, file: str | None) -> list[BatchItem]:
    from ..batch import BatchItem, parse_file

    if (prompt_ids is None) == (file is None):
        raise InvalidInput("give the prompts with either --prompts ID,ID,… or --file F")
    if file is not None:
        return parse_file(file)
    assert prompt_ids is not None
    ids = []
    for raw in prompt_ids.split(","):
        if not raw.strip():
            continue
        try:
            ids.append(int(raw))
        except ValueError:
            raise InvalidInput(f"--prompts: {raw.strip()!r} is not a prompt id") from None
    items = []
    for prompt_id in ids:
        prompt = env.store().prompts.get(prompt_id)
        items.append(BatchItem(f"prompt {prompt_id}: {prompt.title}", prompt_id=prompt_id))
    if not items:
        raise InvalidInput("--prompts names no prompt")
    return items


def _outcome_dict(o: BatchOutcome) -> dict[str, Any]:
    data: dict[str, Any] = {"index": o.index + 1, "label": o.item.label,
                            "prompt_id": o.item.prompt_id, "ok": o.ok, "error": o.error}
    data["run"] = run_data(o.run) if o.run is not None else None
    return data


def _totals(outcomes: list[BatchOutcome]) -> dict[str, Any]:
    runs = [o.run for o in outcomes if o.run is not None]
    costs = [r.total_cost_usd for r in runs if r.total_cost_usd is not None]
    return {
        "prompts": len(outcomes),
        "completed": sum(o.ok for o in outcomes),
        "failed": sum(not o.ok for o in outcomes),
        "input_tokens": sum(r.input_tokens or 0 for r in runs),
        "output_tokens": sum(r.output_tokens or 0 for r in runs),
        "cost_usd": sum(costs) if costs else None,
    }


@cli.command("batch")
@click.option("--prompts", "prompt_ids", metavar="ID,ID,…", help="Stored prompts, by id.")
@click.option("--file", "file", metavar="F",
              help="Prompts from a file: JSON (a list), or text with prompts separated by "
              "'---' lines (else one prompt per line).")
@click.option("--concurrent", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Prompts running at once.")
@click.option("--force", is_flag=True, help="Start even while a usage limit is in force.")
@run_options
@common
@pass_env
def batch(env: Env, /, prompt_ids: str | None, file: str | None, concurrent: int, force: bool,
          add_dirs: tuple[str, ...], **opts: Any) -> None:
    """Run several prompts, at most --concurrent at a time; print a summary of every run."""
    from pathlib import Path

    from .. import catalog
    from ..batch import run_batch
    from ..config import resolve_db
    from ..daemons import instance_id
    from ..risk import RiskRefused
    from ..runner import RunnerConfig
    from ..store import open_store

    items = _items(env, prompt_ids, file)
    store = env.store()
    spec = catalog.JobSpec(prompt_id=0, cron="@daily", add_dirs=list(add_dirs), **opts)
    if not force and spec.executor == "claude":
        active = store.cooldowns.active(_now())
        if active is not None:
            raise CnpError(
                f"a usage limit ({active['kind']}) is in force until "
                f"{active['reset_at']:%Y-%m-%d %H:%M:%S} UTC; not starting",
                hint="wait for the reset, or pass --force to try anyway (it may spend quota)")
    settings = catalog.adhoc_settings(spec, Path.cwd(), prompt_text=None)
    notes: list[str] = []
    for item in items:
        content = item.prompt_text
        if content is None:
            assert item.prompt_id is not None
            content = store.prompts.get(item.prompt_id).content
        try:
            review = catalog.review_adhoc(content, settings, _now())
        except CnpError as exc:
            raise type(exc)(f"{item.label}: {exc.message}", hint=exc.hint) from None
        if review.risk.critical and not settings.risk_accepted:
            raise RiskRefused(review.risk, where=item.label)
        notes += [f"{item.label}: {note}" for note in review.warnings]
    warn(env, notes)

    host = socket.gethostname()
    location = resolve_db(env.db)
    kwargs: dict[str, Any] = {
        "open_store": lambda: open_store(location), "concurrency": concurrent,
        "config": RunnerConfig(), "host": host, "instance": instance_id(host), "clock": _now,
    }
    if env.fmt == "json":
        outcomes = run_batch(items, settings, **kwargs)
    else:
        outcomes = _with_progress(items, settings, kwargs, run_batch)
    _deliver_notifications(env)
    totals = _totals(outcomes)
    data = {"concurrency": concurrent, "items": [_outcome_dict(o) for o in outcomes],
            "totals": totals}
    emit(env.fmt, data, lambda: _summary(outcomes, totals))
    if totals["failed"]:
        raise Exit(1)


def _with_progress(items: list[BatchItem], settings: Any, kwargs: dict[str, Any],
                   run_batch: Any) -> list[BatchOutcome]:
    """Run the batch under a rich progress bar on stderr: one line per finished prompt."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    running: dict[int, int] = {}
    lock = threading.Lock()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("batch", total=len(items))

        def describe() -> str:
            with lock:
                now_running = sorted(running)
            if not now_running:
                return "batch"
            return "running " + ", ".join(f"#{i + 1}" for i in now_running)

        def listener(event: str, index: int, payload: object) -> None:
            if event == "start":
                with lock:
                    running[index] = int(payload)  # type: ignore[call-overload]
            else:
                with lock:
                    running.pop(index, None)
                outcome: BatchOutcome = payload  # type: ignore[assignment]
                status = str(outcome.run.status) if outcome.run else "not run"
                mark = "[green]✓[/green]" if outcome.ok else "[red]✗[/red]"
                detail = outcome.error or (outcome.run.reason if outcome.run else "") or ""
                progress.console.print(f"{mark} {outcome.item.label}: {status}"
                                       + (f" ({detail})" if detail else ""), markup=True,
                                       highlight=False)
                progress.advance(task)
            progress.update(task, description=describe())

        return list(run_batch(items, settings, listener=listener, **kwargs))


def _summary(outcomes: list[BatchOutcome], totals: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{totals['completed']} of {totals['prompts']} prompts completed",
                  show_footer=True)
    table.add_column("#", footer="", no_wrap=True)
    table.add_column("prompt", footer="total", overflow="fold", max_width=40)
    table.add_column("run", footer="", no_wrap=True)
    table.add_column("status", footer="", no_wrap=True)
    table.add_column("time", justify="right", footer="", no_wrap=True)
    table.add_column("tokens in/out", justify="right", no_wrap=True,
                     footer=f"{totals['input_tokens']}/{totals['output_tokens']}")
    cost = totals["cost_usd"]
    table.add_column("cost", justify="right", no_wrap=True,
                     footer=f"${cost:.4f}" if cost is not None else "-")
    table.add_column("session / reason", overflow="fold", footer="")
    for o in outcomes:
        r = o.run
        if r is None:
            table.add_row(str(o.index + 1), o.item.label, "-", "[red]not run[/red]", "-", "-",
                          "-", o.error or "")
            continue
        style = "green" if o.ok else "red"
        table.add_row(
            str(o.index + 1), o.item.label, str(r.id), f"[{style}]{r.status}[/{style}]",
            f"{r.duration_ms / 1000:.1f}s" if r.duration_ms is not None else "-",
            f"{r.input_tokens}/{r.output_tokens}" if r.input_tokens is not None else "-",
            f"${r.total_cost_usd:.4f}" if r.total_cost_usd is not None else "-",
            (r.session_id or "") if o.ok else (r.reason or ""))
    # A pipe or a file gets a wide table rather than an 80-column one.
    Console(highlight=False, width=None if sys.stdout.isatty() else 120).print(table)
