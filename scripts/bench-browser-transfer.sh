#!/usr/bin/env bash
# The web app's transfer speed in headless Chromium: one large random file uploaded through
# the send page and downloaded through the receive page (sha256-compared), with WebCrypto
# and with the aes-gcm wasm fallback (`?aes=wasm`), next to raw WebCrypto AES-256-GCM
# measured in the same browser; peak memory of Chromium's processes (PSS) and the longest
# main-thread task per direction. Driven by Playwright: tests/bench/transfer.bench.ts.
#
#   scripts/bench-browser-transfer.sh [SIZE_MIB]        # default 1024
#
# Environment: CARGO_TARGET_DIR (default ./target), PORT (default 18120), BENCH_DIR (scratch
# space for the input, the server's data and Chromium's downloads; default a fresh
# directory under /tmp), FERRY_DIST (an already built web app: skips scripts/build-web.sh),
# SKIP_BUILD=1 (use the release ferry-server already built), ENGINES (default
# "webcrypto,wasm"; "webcrypto/lanes=4" uploads over 4 sockets, e.g.
# ENGINES=webcrypto/lanes=1,webcrypto/lanes=2,webcrypto/lanes=4), DRIVERS (default "cdp,playwright": see tests/support/cdp.ts), RAW_MIB
# (raw WebCrypto volume, default 1024), PRIMITIVES=1 (also time the pieces one by one:
# tests/bench/primitives), CHROMIUM_PATH, STORES (default "local"; "local s3" runs the
# whole bench once with blobs in the data directory and once in an S3 bucket, s3s-fs on
# 127.0.0.1 started through scripts/with-s3.sh), INPUT (a file or a folder to move instead
# of SIZE_MIB of random bytes; a folder is chosen with the folder picker and its ZIP checked
# file by file, Playwright driver only: scripts/bench-many-files.sh).
set -euo pipefail

cd "$(dirname "$0")/.."
STORES="${STORES:-local}"
if [[ " $STORES " == *" s3 "* && -z "${FERRY_TEST_S3_BUCKET:-}" ]]; then
    exec scripts/with-s3.sh "$0" "$@"
fi
SIZE_MIB="${1:-1024}"
PORT="${PORT:-18120}"
TARGET="${CARGO_TARGET_DIR:-target}"
WORK="${BENCH_DIR:-$(mktemp -d /tmp/ferry-bench-browser.XXXXXX)}"
mkdir -p "$WORK"
source scripts/lib/serve.sh
cleanup() {
    serve_stop
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    echo "== building the release ferry-server" >&2
    cargo build --release -p ferry-backend >&2
fi
SERVER="$TARGET/release/ferry-server"
DIST="${FERRY_DIST:-}"
if [[ -z "$DIST" ]]; then
    echo "== building the web app (scripts/build-web.sh -> dist/)" >&2
    scripts/build-web.sh >&2
    DIST=dist
fi

if [[ "${PRIMITIVES:-0}" == 1 ]]; then
    # The primitives page and worker (tests/bench/primitives) served beside the app, on
    # its origin, from a copy of the build.
    cp -r "$DIST" "$WORK/dist"
    cp tests/bench/primitives/page.html "$WORK/dist/bench-primitives.html"
    cp tests/bench/primitives/page.js "$WORK/dist/bench-primitives.js"
    cp tests/bench/primitives/worker.js "$WORK/dist/bench-primitives-worker.js"
    DIST="$WORK/dist"
fi

if [[ -z "${INPUT:-}" ]]; then
    echo "== ${SIZE_MIB} MiB of random data" >&2
    head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/input.bin"
fi

# Starts the server with its blobs in store $1 (local or s3).
serve() {
    local store_args=()
    if [[ "$1" == s3 ]]; then
        store_args=(--s3-bucket "$FERRY_TEST_S3_BUCKET" --s3-endpoint "$FERRY_TEST_S3_ENDPOINT"
            --s3-allow-http --s3-prefix "bench-$RANDOM")
    fi
    echo "== server on 127.0.0.1:$PORT, blobs: $1" >&2
    FERRY_S3_ACCESS_KEY_ID="${FERRY_TEST_S3_ACCESS_KEY_ID:-}" \
        FERRY_S3_SECRET_ACCESS_KEY="${FERRY_TEST_S3_SECRET_ACCESS_KEY:-}" \
        serve_start "$PORT" "$WORK/server.log" --data-dir "$WORK/server-data-$1" --static-dir "$DIST" \
        --max-file-size 100GiB "${store_args[@]}"
}

# Chromium's downloads and Playwright's artifacts go to TMPDIR: keep them in $WORK.
mkdir -p "$WORK/tmp"
export TMPDIR="$WORK/tmp"
export FERRY_BENCH_URL="http://127.0.0.1:$PORT"
export FERRY_BENCH_INPUT="${INPUT:-$WORK/input.bin}"
export FERRY_BENCH_ENGINES="${ENGINES:-webcrypto,wasm}"
export FERRY_BENCH_RAW_MIB="${RAW_MIB:-1024}"
export FERRY_BENCH_RESULTS="$WORK/results"
export FERRY_BENCH_PRIMITIVES="${PRIMITIVES:-0}"
export FERRY_BENCH_DRIVERS="${DRIVERS:-cdp,playwright}"
for store in $STORES; do
    serve "$store"
    sync
    echo "== blobs: $store"
    npx playwright test -c tests/bench/playwright.config.ts
    serve_stop
    rm -rf "$WORK/server-data-$store"
done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
