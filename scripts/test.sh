#!/usr/bin/env bash
# Install everything the test suite needs (Python deps, the pinned Claude CLI from npm, a
# PostgreSQL server) and run the whole suite with every tier required: a skipped tier fails
# the run. A PostgreSQL server this script started is stopped when it ends
# (CNP_KEEP_POSTGRES=1 leaves it running); one that was already running is left alone.
# Installing Debian's packages (Chromium, systemd, PostgreSQL) needs root: as another user,
# install them first (the message says which).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# System packages some tests need: systemd-analyze (the generated unit is verified) and
# Debian's Chromium (browser tests; Playwright never downloads a browser of its own).
missing=()
command -v systemd-analyze >/dev/null || missing+=(systemd)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test.sh: the tests need Debian's ${missing[*]}; installing them needs root:" \
      "run this as root, or first: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "test.sh: installing Debian's ${missing[*]} (as root)" >&2
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
if ! bash scripts/postgres.sh status && [ "${CNP_KEEP_POSTGRES:-}" != 1 ]; then
  trap 'bash scripts/postgres.sh stop && echo "test.sh: stopped the PostgreSQL server it started" >&2' EXIT
fi
CNP_TEST_PG_URL="$(bash scripts/postgres.sh start | tail -n 1)"
export CNP_TEST_PG_URL
export CNP_REQUIRE_ALL_TIERS=1

.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest -p no:cacheprovider "$@"
