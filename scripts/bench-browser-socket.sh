#!/usr/bin/env bash
# The WebSocket ceiling in headless Chromium: how fast the browser alone moves bytes over
# loopback WebSockets to a server that does nothing with them (no protocol, disk or
# crypto: backend/examples/ws_ceiling.rs), with 1, 2 and 4 sockets at once, upload and
# download, in a dedicated worker like Ferry's, and the same download over plain HTTP
# (fetch, 1, 2 or 4 at once). A Ferry transfer in the same browser can only be slower;
# compare with scripts/bench-browser-transfer.sh.
#
#   scripts/bench-browser-socket.sh [MIB]        # per run, default 1024
#
# Environment: CARGO_TARGET_DIR (default ./target), PORT (default 18130), CHROMIUM_PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
MIB="${1:-1024}"
PORT="${PORT:-18130}"
TARGET="${CARGO_TARGET_DIR:-target}"
echo "== building the ws_ceiling example (release)" >&2
cargo build --release -p ferry-backend --example ws_ceiling >&2
WORK="$(mktemp -d /tmp/ferry-bench-socket.XXXXXX)"
"$TARGET/release/examples/ws_ceiling" "$PORT" &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break
    sleep 0.1
done
export FERRY_BENCH_CEILING_URL="http://127.0.0.1:$PORT"
export FERRY_BENCH_CEILING_MIB="$MIB"
export FERRY_BENCH_RESULTS="$WORK/results"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
npx playwright test -c tests/bench/playwright.config.ts tests/bench/ceiling.bench.ts
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) cores, $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
