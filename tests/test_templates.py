"""Prompt templates: placeholders, defaults, built-ins, missing-variable errors at create time,
the dry run's rendered prompt, and that rendering can never execute anything."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli_runner import cnp
from conftest import Clock
from night_pilot import templates
from night_pilot.models import ExecutorKind, RunSettings, RunStatus, Trigger
from night_pilot.runner import Runner, RunnerConfig
from night_pilot.runs import claim_one, trigger_job
from night_pilot.store import Store
from night_pilot.templates import TemplateError, parse, render

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database

NOW = datetime(2026, 11, 28, 2, 30, 5, tzinfo=UTC)


def test_placeholders_defaults_and_plain_text() -> None:
    out = render("Hi {{ name }}, {{greeting|good night}} {{x|}}{{y|\" padded \"}}.",
                 {"name": "Ada"})
    assert out.text == "Hi Ada, good night  padded ."
    assert out.used == ["name", "greeting", "x", "y"]
    assert out.defaulted == ["greeting", "x", "y"]
    assert out.templated
    assert not render("no placeholders here", {}).templated


def test_a_value_wins_over_the_default_and_an_empty_value_is_a_value() -> None:
    assert render("[{{v|d}}]", {"v": ""}).text == "[]"
    assert render("[{{v|d}}]", {"v": "x"}).text == "[x]"


def test_missing_variables_are_named_all_at_once() -> None:
    with pytest.raises(TemplateError) as info:
        render("{{a}} {{b|ok}} {{c}} {{a}}", {})
    assert info.value.message == "the prompt uses {{a}}, {{c}} but no value was given"
    assert info.value.exit_code == 2


def test_what_is_not_a_placeholder_is_sent_as_written_and_warned_about() -> None:
    prompt = "helm: {{ .Values.image }}; {{ 1 + 1 }}; {{job-name}}; {{}}"
    assert render(prompt, {}).text == prompt
    notes = templates.warnings(parse(prompt), {})
    assert len(notes) == 4 and "{{ .Values.image }} is not a placeholder" in notes[0]


def test_escaped_braces_are_literal() -> None:
    assert render(r"\{{name}} and \{{ alone", {"name": "x"}).text == "{{name}} and {{ alone"
    assert render(r"\{{name}} {{name}}", {"name": "x"}).text == "{{name}} x"


def test_rendering_executes_nothing() -> None:
    hostile = [
        "{{__import__('os').system('touch pwned')}}",
        "{{ ().__class__.__bases__[0].__subclasses__() }}",
        "{{ name.__class__ }}",
        "{{ eval('1') }}",
        "{% for x in y %}{{x}}{% endfor %}",
        "${HOME} $(touch pwned) `touch pwned`",
    ]
    for prompt in hostile:
        out = render(prompt, {"name": "n", "x": "X", "y": "Y"})
        # Only a plain {{x}} is a placeholder; everything else is left exactly as written.
        assert out.text == prompt.replace("{{x}}", "X")
    assert not Path("pwned").exists()
    # A value is pasted once and never parsed again: it cannot pull in other variables.
    out = render("{{a}}", {"a": "{{secret}} {{__import__('os')}}", "secret": "s3cr3t"})
    assert out.text == "{{secret}} {{__import__('os')}}"


def test_var_options() -> None:
    assert templates.parse_vars(["a=1", "b=x=y", "c=", "a=2"]) == {"a": "2", "b": "x=y", "c": ""}
    for bad, words in [("novalue", "NAME=VALUE"), ("1x=2", "letters"), ("my-var=1", "letters"),
                       ("date=2020-01-01", "built-in")]:
        with pytest.raises(TemplateError, match=words):
            templates.parse_vars([bad])


def test_builtins_use_the_job_zone() -> None:
    values = templates.builtin_values(NOW, "Pacific/Auckland", job_name="nightly", job_id=4,
                                      previous_status="failed")
    assert values == {"date": "2026-11-28", "time": "15:30",
                      "datetime": "2026-11-28T15:30:05+13:00", "job_name": "nightly",
                      "job_id": "4", "previous_status": "failed"}
    adhoc = templates.builtin_values(NOW, "UTC", job_name=None, job_id=None,
                                     previous_status=None)
    assert (adhoc["job_name"], adhoc["job_id"], adhoc["previous_status"]) == ("execute", "",
                                                                              "none")


# -- at create time and at spawn ------------------------------------------------------------


def _prompt(content: str) -> int:
    res = cnp("prompt", "create", "t", "--stdin", "--format", "json", input=content)
    assert res.exit_code == 0, res.stderr
    return int(res.json["id"])


def test_job_create_refuses_a_variable_without_a_value(tmp_path: Path) -> None:
    pid = _prompt("Review {{project}} for {{owner}} ({{mood|calm}})")
    res = cnp("job", "create", str(pid), "@daily", "--work-dir", str(tmp_path), "--var",
              "project=cnp", "--format", "json")
    assert res.exit_code == 2
    assert res.error["error"] == "template"
    assert "{{owner}}" in res.error["message"] and "project" not in res.error["message"]
    assert cnp("job", "list", "--format", "json").json["jobs"] == []
    ok = cnp("job", "create", str(pid), "@daily", "--work-dir", str(tmp_path), "--var",
             "project=cnp", "--var", "owner=ada", "--format", "json")
    assert ok.exit_code == 0, ok.stderr
    assert ok.json["template_vars"] == {"owner": "ada", "project": "cnp"}
    shown = cnp("job", "show", str(ok.json["id"]), "--format", "json").json
    assert shown["template_vars"] == {"owner": "ada", "project": "cnp"}


def test_dry_run_shows_the_rendered_prompt(tmp_path: Path) -> None:
    pid = _prompt("Review {{project}} on {{date}} as {{job_name}} after {{previous_status}}")
    res = cnp("job", "create", str(pid), "@daily", "--name", "nightly", "--tz", "UTC",
              "--work-dir", str(tmp_path), "--var", "project=cnp", "--var", "spare=1",
              "--dry-run", "--format", "json")
    assert res.exit_code == 0, res.stderr
    data = res.json
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert data["rendered_prompt"] == f"Review cnp on {today} as nightly after none"
    assert data["templated"] is True
    assert data["risk"] == {"level": "low", "findings": []}
    assert data["warnings"] == ["--var spare is not used by the prompt"]
    pretty = cnp("job", "create", str(pid), "@daily", "--name", "nightly", "--tz", "UTC",
                 "--work-dir", str(tmp_path), "--var", "project=cnp", "--dry-run")
    assert f"rendered prompt:\n  Review cnp on {today} as nightly after none" in pretty.stdout
    assert cnp("job", "list", "--format", "json").json["jobs"] == []


def _run_job(store: Store, job_id: int, clock: Clock) -> int:
    run = trigger_job(store, job_id, clock.now())
    claimed = claim_one(store, run.id, clock.now(), instance="t:1:x", host="t",
                        lease=timedelta(seconds=30))
    assert claimed is not None
    Runner(store, "t:1:x", clock.now, RunnerConfig(kill_grace_s=1)).run(claimed)
    return run.id


def test_the_runner_renders_at_spawn_and_records_it(tmp_path: Path, store: Store,
                                                    clock: Clock) -> None:
    pid = _prompt("echo {{greeting}} from {{job_name}} {{job_id}} after {{previous_status}}")
    job = cnp("job", "create", str(pid), "@yearly", "--name", "hello", "--executor", "shell",
              "--work-dir", str(tmp_path), "--var", "greeting=hi", "--format", "json").json
    first = store.runs.get(_run_job(store, job["id"], clock))
    assert first.status == RunStatus.COMPLETED
    assert first.result_text == f"hi from hello {job['id']} after none"
    assert first.rendered is True
    # The exact text sent is what is stored and hashed.
    assert store.runs.prompt_text(first.id) == f"echo hi from hello {job['id']} after none"
    assert first.prompt_sha256 == hashlib.sha256(
        f"echo hi from hello {job['id']} after none".encode()).hexdigest()
    clock.advance(60)
    second = store.runs.get(_run_job(store, job["id"], clock))
    assert second.result_text == f"hi from hello {job['id']} after completed"


def test_a_variable_missing_at_spawn_fails_the_run_without_starting(
        tmp_path: Path, store: Store, clock: Clock) -> None:
    settings = RunSettings(executor=ExecutorKind.SHELL, work_dir=str(tmp_path),
                           prompt_text="echo {{nope}}")
    run_id = store.runs.insert(job_id=None, scheduled_for=clock.now(), trigger=Trigger.EXECUTE,
                              status=RunStatus.PENDING, settings=settings, now=clock.now())
    run = claim_one(store, run_id, clock.now(), instance="t:1:x", host="t",
                    lease=timedelta(seconds=30))
    assert run is not None
    Runner(store, "t:1:x", clock.now).run(run)
    done = store.runs.get(run_id)
    assert done.status == RunStatus.FAILED and done.pid is None
    assert done.reason == "the prompt uses {{nope}} but no value was given"
