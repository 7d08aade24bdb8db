"""Failures of the real CLI that another attempt would repeat are not retried: arguments it
refuses (bypassing permissions as root) and a model the API does not know (404)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from standin_api import ApiError, StandinAPI, overloaded, text
from world import World

pytestmark = pytest.mark.realcli


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with StandinAPI(default=text("Hello from the stand-in")) as api:
        yield World(tmp_path, api)


def runs(world: World) -> list[dict[str, object]]:
    return [dict(r) for r in world.rows("SELECT * FROM job_executions ORDER BY id")]


@pytest.mark.skipif(os.geteuid() != 0, reason="the CLI refuses this flag only as root")
def test_bypassing_permissions_as_root_is_refused_once(world: World) -> None:
    out = world.cnp("execute", "--prompt", "hi", "--permission-mode", "bypassPermissions",
                    "--i-understand-the-risk", "--retries", "2", "--format", "json")
    assert out.code == 1, out.stderr
    reason = out.json["reason"]
    assert "cannot be used with root/sudo privileges" in reason
    assert "not retried: the CLI refused to start with these arguments" in reason
    assert len(runs(world)) == 1
    assert world.api.main_requests() == []


def test_an_unknown_model_is_not_retried(world: World) -> None:
    world.api.default = ApiError(404, "not_found_error", "model: claude-nope")
    out = world.cnp("execute", "--prompt", "hi", "--model", "claude-nope", "--retries", "2",
                    "--format", "json")
    assert out.code == 1, out.stderr
    reason = out.json["reason"]
    assert reason.startswith("API error 404: There's an issue with the selected model")
    assert "not retried: the model or resource does not exist (HTTP 404" in reason
    assert len(runs(world)) == 1


def test_the_clis_own_retries_show_on_the_run(world: World) -> None:
    world.env["CLAUDE_CODE_MAX_RETRIES"] = "1"
    world.api.push(overloaded())
    out = world.cnp("execute", "--prompt", "hi", "--format", "json")
    assert out.code == 0, out.stderr
    assert out.json["api_retries"] == 1
    listed = world.cnp("executions")
    assert "CLI retried 1× (last: after 529, attempt 1/1)" in listed.stdout
