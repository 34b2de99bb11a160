#!/usr/bin/env bash
# Download benchmark with the blobs in an S3-compatible bucket: starts SERVER (a built
# ferry-server) on 127.0.0.1 against the bucket scripts/with-s3.sh provides, uploads BYTES
# with bench_client, then downloads them through the download WebSocket while sampling the
# server's RSS every 50 ms. Run it under with-s3.sh, once per build to compare:
#
#   cargo build -p ferry-backend --bin ferry-server --example bench_client
#   scripts/with-s3.sh scripts/bench-s3.sh target/debug/ferry-server this $((256 << 20))
#   scripts/with-s3.sh scripts/bench-s3.sh ../other/target/debug/ferry-server other $((256 << 20))
#
# BENCH_CLIENT picks the client (default: target/debug/examples/bench_client).
set -euo pipefail
SERVER=$1
LABEL=$2
BYTES=$3
CLIENT=${BENCH_CLIENT:-target/debug/examples/bench_client}
: "${FERRY_TEST_S3_BUCKET:?run this under scripts/with-s3.sh}"

WORK=$(mktemp -d /tmp/ferry-bench-s3.XXXXXX)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
FERRY_S3_BUCKET=$FERRY_TEST_S3_BUCKET FERRY_S3_ENDPOINT=$FERRY_TEST_S3_ENDPOINT \
    FERRY_S3_ALLOW_HTTP=true FERRY_S3_PREFIX="bench-$LABEL-$$" \
    FERRY_S3_ACCESS_KEY_ID=$FERRY_TEST_S3_ACCESS_KEY_ID \
    FERRY_S3_SECRET_ACCESS_KEY=$FERRY_TEST_S3_SECRET_ACCESS_KEY RUST_LOG=warn \
    "$SERVER" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --max-file-size 64GiB \
    >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
SAMPLER_PID=""
cleanup() {
    [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
    kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 200); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
"$CLIENT" upload "$PORT" "$BYTES" >"$WORK/share" 2>"$WORK/up"
IDLE=$(rss_kib)
( while :; do rss_kib >>"$WORK/rss"; sleep 0.05; done ) &
SAMPLER_PID=$!
"$CLIENT" download "$PORT" "$(cat "$WORK/share")" 2>"$WORK/down"
kill "$SAMPLER_PID"
SAMPLER_PID=""
MAX=$(sort -n "$WORK/rss" | tail -1)
echo "$LABEL: $(cat "$WORK/down"); server RSS $((IDLE / 1024)) MiB before, max $((MAX / 1024)) MiB during"
