#!/usr/bin/env bash
# Regenerates the README's screenshots (docs/img/screenshot-<page>-<theme>-<width>.png: the
# send page with a file chosen, the shared link, the receive page; light and dark, desktop
# and phone) from the running app: a release ferry-server on 127.0.0.1 with a fresh data
# directory, driven by Playwright in Debian's Chromium (tests/screenshots/).
#
#   scripts/screenshots.sh
#
# Environment: CARGO_TARGET_DIR (default ./target), PORT (default 18140), FERRY_DIST (an
# already built web app: skips scripts/build-web.sh), SKIP_BUILD=1 (use the release
# ferry-server already built).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
scripts/install.sh --browser
PORT="${PORT:-18140}"
TARGET="${CARGO_TARGET_DIR:-target}"
WORK="$(mktemp -d /tmp/ferry-shots.XXXXXX)"
source scripts/lib/serve.sh
cleanup() {
    serve_stop
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    cargo build --release -p ferry-backend >&2
fi
DIST="${FERRY_DIST:-}"
if [[ -z "$DIST" ]]; then
    scripts/build-web.sh >&2
    DIST=dist
fi
SERVER="$TARGET/release/ferry-server"
serve_start "$PORT" "$WORK/server.log" --data-dir "$WORK/data" --static-dir "$DIST"

mkdir -p docs/img
FERRY_SHOTS_URL="http://127.0.0.1:$PORT" FERRY_SHOTS_DIR="$PWD/docs/img" \
    npx playwright test -c tests/screenshots/playwright.config.ts
ls -l docs/img
