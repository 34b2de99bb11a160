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
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
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
"$TARGET/release/ferry-server" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --static-dir "$DIST" \
    >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

mkdir -p docs/img
FERRY_SHOTS_URL="http://127.0.0.1:$PORT" FERRY_SHOTS_DIR="$PWD/docs/img" \
    npx playwright test -c tests/screenshots/playwright.config.ts
ls -l docs/img
