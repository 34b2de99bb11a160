#!/usr/bin/env bash
# Server benchmark: upload and download a large share over loopback against a release
# ferry-server, sample the server's RSS from /proc, and compare upload throughput with dd
# writing the same amount to the same disk with fsync.
#
#   scripts/bench-server.sh            # 2 GiB
#   BENCH_BYTES=$((512<<20)) scripts/bench-server.sh
#   LANES=4 scripts/bench-server.sh    # the upload over 4 sockets at once (default 1)
#   STORE=s3 scripts/bench-server.sh   # blobs in an S3 bucket (s3s-fs on 127.0.0.1, started
#                                      # by scripts/with-s3.sh) instead of the data directory
set -euo pipefail
cd "$(dirname "$0")/.."
STORE=${STORE:-local}
if [ "$STORE" = s3 ] && [ -z "${FERRY_TEST_S3_BUCKET:-}" ]; then
  exec scripts/with-s3.sh "$0" "$@"
fi
STORE_ARGS=()
if [ "$STORE" = s3 ]; then
  STORE_ARGS=(--s3-bucket "$FERRY_TEST_S3_BUCKET" --s3-endpoint "$FERRY_TEST_S3_ENDPOINT" --s3-allow-http)
  export FERRY_S3_ACCESS_KEY_ID=$FERRY_TEST_S3_ACCESS_KEY_ID FERRY_S3_SECRET_ACCESS_KEY=$FERRY_TEST_S3_SECRET_ACCESS_KEY
fi

BYTES=${BENCH_BYTES:-$((2 << 30))}
PORT=${BENCH_PORT:-18090}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
# Data on the same disk as the repository (not a tmpfs).
WORK=$(mktemp -d -p "${BENCH_DIR:-$PWD/target}" ferry-bench.XXXXXX)

cargo build --release -q -p ferry-backend --bin ferry-server --example bench_client
BIN=$CARGO_TARGET_DIR/release
SERVER_PID=""
SAMPLER_PID=""
cleanup() {
    [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

RUST_LOG=warn "$BIN/ferry-server" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
    --max-file-size 64GiB "${STORE_ARGS[@]}" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
# Samples the server's RSS every 100 ms into $1 until killed.
sample() { while :; do rss_kib >>"$1"; sleep 0.1; done; }
max_mib() { sort -n "$1" | tail -1 | awk '{printf "%.1f", $1 / 1024}'; }

IDLE=$(rss_kib)
sample "$WORK/rss-up" & SAMPLER_PID=$!
"$BIN/examples/bench_client" upload "$PORT" "$BYTES" >"$WORK/share" 2>"$WORK/up"
kill $SAMPLER_PID; SAMPLER_PID=""
sample "$WORK/rss-down" & SAMPLER_PID=$!
"$BIN/examples/bench_client" download "$PORT" "$(cat "$WORK/share")" 2>"$WORK/down"
kill $SAMPLER_PID; SAMPLER_PID=""

MIB=$((BYTES >> 20))
DD=$( { dd if=/dev/zero of="$WORK/dd.bin" bs=1M count="$MIB" conv=fsync 2>&1 >/dev/null; } | tail -1)
rm -f "$WORK/dd.bin"

echo "blob store:         $STORE"
echo "file size:          $MIB MiB (ciphertext $(cat "$WORK/up" | awk '{print $2}') bytes, 256 KiB chunks)"
echo "$(cat "$WORK/up")"
echo "$(cat "$WORK/down")"
echo "server RSS idle:    $(awk -v k="$IDLE" 'BEGIN {printf "%.1f", k / 1024}') MiB"
echo "server RSS upload:  max $(max_mib "$WORK/rss-up") MiB ($(wc -l <"$WORK/rss-up") samples)"
echo "server RSS download: max $(max_mib "$WORK/rss-down") MiB ($(wc -l <"$WORK/rss-down") samples)"
echo "dd bs=1M count=$MIB conv=fsync: $DD"
