"""Paths the file system refuses outright (a name longer than it allows) are bad input with a
clear message and exit code 2, never a traceback, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_runner import cnp

LONG = "x" * 300  # more than NAME_MAX (255) in one path component


@pytest.mark.parametrize(("option", "named"), [("--work-dir", "working directory"),
                                               ("--add-dir", "--add-dir"),
                                               ("--mcp-config", "--mcp-config")])
def test_an_over_long_path_is_refused_clearly(tmp_path: Path, option: str, named: str) -> None:
    assert cnp("prompt", "create", "p", "do it").exit_code == 0
    res = cnp("job", "create", "1", "@daily", option, str(tmp_path / LONG), "--format", "json")
    assert res.exit_code == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert res.error["error"] == "invalid_input"
    assert "File name too long" in res.stderr and named in res.stderr
    assert cnp("job", "list", "--format", "json").json["jobs"] == []
