"""`cnp batch`: prompts from ids or a file, the concurrency bound, the review before anything
starts, the summary, and stopping a batch. Runs use the shell executor (same runner path);
tests/realcli/test_integration.py counts real `claude` processes."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli_runner import cnp
from night_pilot.batch import BatchItem, parse_file, run_batch
from night_pilot.errors import InvalidInput
from night_pilot.models import ExecutorKind, RunSettings, RunStatus
from night_pilot.runner import RunnerConfig
from night_pilot.store import SqliteStore

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database


def spans(log: Path) -> list[tuple[float, float]]:
    starts: dict[str, float] = {}
    out = []
    for line in log.read_text().split():
        kind, name, at = line.split(",")
        if kind == "start":
            starts[name] = float(at)
        else:
            out.append((starts[name], float(at)))
    return out


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def script(name: str, log: Path, seconds: float = 0.4) -> str:
    return (f"echo start,{name},$(date +%s.%N) >> {log}; sleep {seconds}; "
            f"echo end,{name},$(date +%s.%N) >> {log}; echo done {name}")


def test_five_prompts_never_more_than_two_at_once(tmp_path: Path) -> None:
    log = tmp_path / "log"
    prompts = tmp_path / "prompts.txt"
    # Long enough to overlap: the two workers start together, each run sleeps 0.2 s.
    prompts.write_text("\n".join(script(f"p{i}", log, 0.2) for i in range(5)) + "\n")
    res = cnp("batch", "--file", str(prompts), "--concurrent", "2", "--executor", "shell",
              "--work-dir", str(tmp_path), "--format", "json")
    assert res.exit_code == 0, res.stderr
    data = res.json
    assert data["totals"]["completed"] == 5 and data["totals"]["failed"] == 0
    assert [i["run"]["result"] for i in data["items"]] == [f"done p{i}" for i in range(5)]
    intervals = spans(log)
    assert len(intervals) == 5
    assert most_at_once(intervals) == 2
    # Every prompt is an ordinary recorded ad-hoc run.
    runs = cnp("runs", "--format", "json").json["runs"]
    assert len(runs) == 5 and {r["trigger"] for r in runs} == {"execute"}


def test_concurrent_one_runs_them_in_order(tmp_path: Path) -> None:
    log = tmp_path / "log"
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([script(f"p{i}", log, 0.05) for i in range(3)]))
    res = cnp("batch", "--file", str(prompts), "--concurrent", "1", "--executor", "shell",
              "--work-dir", str(tmp_path), "--format", "json")
    assert res.exit_code == 0, res.stderr
    intervals = spans(log)
    assert most_at_once(intervals) == 1
    assert intervals == sorted(intervals)


def test_stored_prompts_by_id_and_the_summary(tmp_path: Path) -> None:
    ids = []
    for text in ("echo first", "echo second; exit 5", "echo third {{who}}"):
        ids.append(cnp("prompt", "create", text.split()[1], text, "--format",
                       "json").json["id"])
    args = ["batch", "--prompts", ",".join(map(str, ids)), "--executor", "shell",
            "--retries", "0", "--var", "who=you", "--work-dir", str(tmp_path)]
    res = cnp(*args, "--format", "json")
    assert res.exit_code == 1  # one prompt failed
    items = res.json["items"]
    assert [i["label"] for i in items] == [f"prompt {ids[0]}: first",
                                           f"prompt {ids[1]}: second;",
                                           f"prompt {ids[2]}: third"]
    assert [i["ok"] for i in items] == [True, False, True]
    assert items[2]["run"]["result"] == "third you"
    assert items[1]["run"]["reason"] == "the script exited 5"
    assert items[0]["run"]["prompt_sha256"]
    pretty = cnp(*args)
    assert pretty.exit_code == 1
    assert "2 of 3 prompts completed" in pretty.stdout
    assert "the script exited 5" in pretty.stdout
    assert "✗ prompt" in pretty.stderr and "✓ prompt" in pretty.stderr  # the progress lines


def test_everything_is_reviewed_before_anything_starts(tmp_path: Path) -> None:
    log = tmp_path / "log"
    prompts = tmp_path / "p.txt"
    prompts.write_text(f"{script('a', log, 0)}\n---\nrm -rf ~\n")
    res = cnp("batch", "--file", str(prompts), "--executor", "shell", "--work-dir",
              str(tmp_path), "--format", "json")
    assert res.exit_code == 2 and res.error["error"] == "risk"
    assert res.error["message"].startswith("critical risk in #2 rm -rf ~, refused")
    assert not log.exists()
    assert cnp("runs", "--format", "json").json["runs"] == []
    prompts.write_text(f"{script('a', log, 0)}\n---\necho {{{{missing}}}}\n")
    res = cnp("batch", "--file", str(prompts), "--executor", "shell", "--work-dir",
              str(tmp_path), "--format", "json")
    assert res.exit_code == 2 and res.error["message"].startswith("#2 echo {{missing}}: ")
    assert not log.exists()


def test_the_choice_of_prompts_is_checked(tmp_path: Path) -> None:
    for args, words in [((), "either --prompts"), (("--prompts", "1", "--file", "x"),
                                                   "either --prompts"),
                        (("--prompts", "1,x"), "'x' is not a prompt id"),
                        (("--prompts", ","), "names no prompt"),
                        (("--file", str(tmp_path / "none")), "cannot read")]:
        res = cnp("batch", *args, "--format", "json")
        assert res.exit_code == 2, args
        assert words in res.error["message"]
    assert cnp("batch", "--prompts", "99", "--format", "json").error["error"] == "not_found"


def test_prompt_files(tmp_path: Path) -> None:
    lines = tmp_path / "lines.txt"
    lines.write_text("first prompt\n\n  second prompt  \n")
    assert [i.prompt_text for i in parse_file(str(lines))] == ["first prompt", "second prompt"]
    chunks = tmp_path / "chunks.md"
    chunks.write_text("one\nstill one\n---\n\n---\ntwo\n")
    assert [i.prompt_text for i in parse_file(str(chunks))] == ["one\nstill one", "two"]
    doc = tmp_path / "p.json"
    doc.write_text(json.dumps({"prompts": [{"title": "T", "content": "c1"}, {"prompt": "c2"},
                                           "c3"]}))
    items = parse_file(str(doc))
    assert [(i.label, i.prompt_text) for i in items] == [("#1 T", "c1"), ("#2 c2", "c2"),
                                                         ("#3 c3", "c3")]
    for bad, words in [("[]", "non-empty list"), ('[{"title": "x"}]', "has no text"),
                       ("[1", "is not JSON")]:
        doc.write_text(bad)
        with pytest.raises(InvalidInput, match=words):
            parse_file(str(doc))
    lines.write_text("\n \n")
    with pytest.raises(InvalidInput, match="holds no prompts"):
        parse_file(str(lines))


def test_stopping_a_batch_cancels_the_running_and_starts_nothing_more(tmp_path: Path) -> None:
    db = tmp_path / "db.db"
    SqliteStore(db).close()
    stop = threading.Event()
    started: list[int] = []

    def listener(event: str, index: int, payload: object) -> None:
        if event == "start":
            started.append(index)
            stop.set()

    items = [BatchItem(f"#{i}", prompt_text="sleep 30") for i in range(3)]
    settings = RunSettings(executor=ExecutorKind.SHELL, work_dir=str(tmp_path))
    t0 = datetime.now(UTC)
    outcomes = run_batch(items, settings, open_store=lambda: SqliteStore(db), concurrency=1,
                         config=RunnerConfig(kill_grace_s=1), host=socket.gethostname(),
                         instance="test:1:batch", clock=lambda: datetime.now(UTC),
                         listener=listener, stop=stop)
    assert (datetime.now(UTC) - t0).total_seconds() < 15
    assert started == [0]
    first = outcomes[0].run
    assert first is not None and first.status == RunStatus.CANCELLED
    assert first.reason == "cancelled: the batch was stopped"
    assert [o.error for o in outcomes[1:]] == ["not started: the batch was stopped"] * 2
    with SqliteStore(db) as store:
        assert len(store.runs.recent()) == 1
