#!/usr/bin/env bash
# Install everything the test suite needs (Python deps, the pinned Claude CLI from npm) and run
# the whole suite with every tier required: a skipped tier fails the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

CNP_TEST_CLAUDE_BIN="$(bash scripts/install-claude-cli.sh | tail -n 1)"
export CNP_TEST_CLAUDE_BIN
export CNP_REQUIRE_ALL_TIERS=1

.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
