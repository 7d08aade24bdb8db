#!/usr/bin/env bash
# Install everything the test suite needs (Python deps, the pinned Claude CLI from npm, a
# PostgreSQL server) and run the whole suite with every tier required: a skipped tier fails
# the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# System packages some tests need: systemd-analyze (the generated unit is verified) and
# Debian's Chromium (browser tests; Playwright never downloads a browser of its own).
missing=()
command -v systemd-analyze >/dev/null || missing+=(systemd)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
fi

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

CNP_TEST_CLAUDE_BIN="$(bash scripts/install-claude-cli.sh | tail -n 1)"
export CNP_TEST_CLAUDE_BIN
# A private PostgreSQL server (Debian's package, installed if missing) on loopback for the
# PostgreSQL backend's tests; the storage and scheduler suites run against both backends.
CNP_TEST_PG_URL="$(bash scripts/postgres.sh start | tail -n 1)"
export CNP_TEST_PG_URL
export CNP_REQUIRE_ALL_TIERS=1

.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
