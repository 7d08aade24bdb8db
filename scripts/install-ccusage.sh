#!/usr/bin/env bash
# Installs the pinned ccusage (npm ccusage) into the test cache, for the tests that compare our
# usage import with ccusage's reading of the same transcripts. Idempotent; needs only node + npm.
# The last line of stdout is the absolute path of the `ccusage` executable.
set -euo pipefail

VERSION="18.0.11"
PKG="ccusage"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CNP_TEST_CACHE:-$REPO/.cache}"
PREFIX="$CACHE/ccusage-$VERSION"
PKG_DIR="$PREFIX/node_modules/$PKG"
BIN="$PREFIX/node_modules/.bin/ccusage"

die() { echo "install-ccusage: $*" >&2; exit 1; }

command -v node >/dev/null || die "node is not on PATH"
command -v npm >/dev/null || die "npm is not on PATH"

installed_version() {
    node -e 'try { process.stdout.write(require(process.argv[1]).version) } catch (e) {}' \
        "$PKG_DIR/package.json"
}

is_installed() {
    [[ "$(installed_version)" == "$VERSION" && -x "$BIN" ]]
}

mkdir -p "$PREFIX"
# Parallel test workers may all ask at once: one installs, the others wait.
if command -v flock >/dev/null; then
    exec 9>"$CACHE/.ccusage-$VERSION.lock"
    flock 9
fi

if ! is_installed; then
    echo "install-ccusage: installing $PKG@$VERSION into $PREFIX" >&2
    # A package.json of its own keeps npm from adopting some enclosing project.
    [[ -f "$PREFIX/package.json" ]] || echo '{"private": true}' >"$PREFIX/package.json"
    npm install --prefix "$PREFIX" --no-save --no-audit --no-fund --loglevel=error \
        "$PKG@$VERSION" >&2
    is_installed || die "$BIN missing or not version $VERSION after installing"
fi

echo "$BIN"
