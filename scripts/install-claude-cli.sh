#!/usr/bin/env bash
# Installs the pinned Claude Code CLI (npm @anthropic-ai/claude-code) into the test cache, for the
# tests that drive the real CLI against a local stand-in API. Idempotent; needs only node + npm.
# The last line of stdout is the absolute path of the `claude` executable; npm's chatter goes to
# stderr so callers can take that line as is.
set -euo pipefail

VERSION="2.1.328"
PKG="@anthropic-ai/claude-code"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${CNP_TEST_CACHE:-$REPO/.cache}"
PREFIX="$CACHE/claude-cli-$VERSION"
PKG_DIR="$PREFIX/node_modules/$PKG"
BIN="$PREFIX/node_modules/.bin/claude"

die() { echo "install-claude-cli: $*" >&2; exit 1; }

command -v node >/dev/null || die "node is not on PATH"
command -v npm >/dev/null || die "npm is not on PATH"

installed_version() {
    node -e 'try { process.stdout.write(require(process.argv[1]).version) } catch (e) {}' \
        "$PKG_DIR/package.json"
}

# The npm package ships a placeholder bin/claude.exe that its postinstall replaces with the
# native binary of the platform package; a half-finished install leaves the placeholder, so ask
# the executable itself rather than trusting package.json alone.
is_installed() {
    [[ "$(installed_version)" == "$VERSION" && -x "$BIN" ]] || return 1
    [[ "$("$BIN" --version 2>/dev/null || true)" == "$VERSION"* ]]
}

mkdir -p "$PREFIX"
# Parallel test workers may all ask for the CLI at once: one installs, the others wait.
if command -v flock >/dev/null; then
    exec 9>"$CACHE/.claude-cli-$VERSION.lock"
    flock 9
fi

if ! is_installed; then
    echo "install-claude-cli: installing $PKG@$VERSION into $PREFIX" >&2
    # A package.json of its own keeps npm from adopting some enclosing project.
    [[ -f "$PREFIX/package.json" ]] || echo '{"private": true}' >"$PREFIX/package.json"
    # Optional dependencies carry the native binaries: make sure a user config cannot omit them.
    npm install --prefix "$PREFIX" --no-save --no-audit --no-fund --include=optional \
        --loglevel=error "$PKG@$VERSION" >&2
    if ! is_installed && [[ -f "$PKG_DIR/install.cjs" ]]; then
        # npm versions that hold back install scripts leave the placeholder: run the step by hand.
        (cd "$PKG_DIR" && node install.cjs) >&2
    fi
    is_installed || die "$BIN does not report version $VERSION after installing"
fi

echo "$BIN"
