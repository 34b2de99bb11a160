#!/usr/bin/env bash
# Server benchmark: upload and download a large share over loopback against a release
# ferry-server, sample the server's RSS from /proc, and compare upload throughput with dd
# writing the same amount to the same disk with fsync.
#
#   scripts/bench-server.sh                      # 2 GiB
#   BENCH_BYTES=$((512<<20)) scripts/bench-server.sh
#   LANES=4 scripts/bench-server.sh              # the upload over 4 sockets at once (default 1)
#   STORES="local s3" scripts/bench-server.sh    # the same run with blobs in the data
#                                                # directory, then in an S3 bucket (s3s-fs on
#                                                # 127.0.0.1, started by scripts/with-s3.sh)
#   METRICS=1 scripts/bench-server.sh            # each store twice in the same run: metrics
#                                                # off, then on (--metrics-listen, scraped
#                                                # every second during the transfers);
#                                                # METRICS_MODES="off on on off" for another order
#   LIMITS=1 scripts/bench-server.sh             # each store with limits off, then on
#                                                # (--upload-access credential with a token,
#                                                # --storage-quota, rate limits), and in each
#                                                # mode also MANY (default 200) uploads of
#                                                # 1 MiB at once, where admission dominates;
#                                                # LIMITS_MODES="off limits limits off"
set -euo pipefail
cd "$(dirname "$0")/.."
STORES=${STORES:-local}
if [[ " $STORES " == *" s3 "* && -z "${FERRY_TEST_S3_BUCKET:-}" ]]; then
  exec scripts/with-s3.sh "$0" "$@"
fi

BYTES=${BENCH_BYTES:-$((2 << 30))}
PORT=${BENCH_PORT:-18090}
METRICS_PORT=$((PORT + 1))
if [ -n "${METRICS:-}" ]; then MODES=${METRICS_MODES:-off on}; else MODES=off; fi
if [ -n "${LIMITS:-}" ]; then MODES=${LIMITS_MODES:-off limits}; fi
MANY=${MANY:-200}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
# Data on the same disk as the repository (not a tmpfs).
WORK=$(mktemp -d -p "${BENCH_DIR:-$PWD/target}" ferry-bench.XXXXXX)

cargo build --release -q -p ferry-backend --bin ferry-server --example bench_client
BIN=$CARGO_TARGET_DIR/release
SERVER_PID=""
SAMPLER_PID=""
SCRAPER_PID=""
cleanup() {
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
  [ -n "$SCRAPER_PID" ] && kill "$SCRAPER_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }
# Samples the server's RSS every 100 ms into $1 until killed.
sample() { while :; do rss_kib >>"$1"; sleep 0.1; done; }
max_mib() { sort -n "$1" | tail -1 | awk '{printf "%.1f", $1 / 1024}'; }
# Scrapes /metrics every second into $1 (the last scrape) until killed; counts scrapes.
scrape() {
  while :; do
    curl -fs "http://127.0.0.1:$METRICS_PORT/metrics" >"$1.tmp" && mv "$1.tmp" "$1" && echo >>"$1.count"
    sleep 1
  done
}

# Starts a server with its blobs in store $1 (local or s3), metrics $2 (off or on), and
# waits until it answers.
serve() {
  local args=()
  if [ "$1" = s3 ]; then
    args=(--s3-bucket "$FERRY_TEST_S3_BUCKET" --s3-endpoint "$FERRY_TEST_S3_ENDPOINT" --s3-allow-http)
  fi
  if [ "$2" = on ]; then
    args+=(--metrics-listen "127.0.0.1:$METRICS_PORT")
  fi
  # Every limit on, none reached: what checking them costs. Off: none checked at all.
  if [ "$2" = limits ]; then
    args+=(--upload-access credential --storage-quota 1TiB
      --rate-upload-starts 100000/min --rate-download-starts 100000/min)
  else
    args+=(--rate-upload-starts off --rate-download-starts off --rate-wrong-passphrases off)
  fi
  FERRY_S3_ACCESS_KEY_ID="${FERRY_TEST_S3_ACCESS_KEY_ID:-}" \
    FERRY_S3_SECRET_ACCESS_KEY="${FERRY_TEST_S3_SECRET_ACCESS_KEY:-}" RUST_LOG=warn \
    "$BIN/ferry-server" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data-$1" \
    --max-file-size 64GiB --max-sockets-per-ip 1024 "${args[@]}" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
}

# Uploads and downloads one share with blobs in store $1, metrics $2, and prints the
# figures.
bench() {
  serve "$1" "$2"
  local idle
  idle=$(rss_kib)
  unset FERRY_TOKEN
  if [ "$2" = limits ]; then
    FERRY_TOKEN=$("$BIN/ferry-server" --data-dir "$WORK/data-$1" admin token create --label bench --quota 1TiB)
    export FERRY_TOKEN
  fi
  rm -f "$WORK/metrics" "$WORK/metrics.count"
  if [ "$2" = on ]; then scrape "$WORK/metrics" & SCRAPER_PID=$!; fi
  sample "$WORK/rss-up-$1" & SAMPLER_PID=$!
  "$BIN/examples/bench_client" upload "$PORT" "$BYTES" >"$WORK/share" 2>"$WORK/up"
  kill $SAMPLER_PID; SAMPLER_PID=""
  sample "$WORK/rss-down-$1" & SAMPLER_PID=$!
  "$BIN/examples/bench_client" download "$PORT" "$(cat "$WORK/share")" 2>"$WORK/down"
  kill $SAMPLER_PID; SAMPLER_PID=""
  if [ -n "${LIMITS:-}" ]; then
    "$BIN/examples/bench_client" many "$PORT" "$MANY" $((1 << 20)) >"$WORK/many"
  fi
  if [ -n "$SCRAPER_PID" ]; then
    kill "$SCRAPER_PID"; SCRAPER_PID=""
    curl -fs "http://127.0.0.1:$METRICS_PORT/metrics" >"$WORK/metrics"
  fi
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  rm -rf "$WORK/data-$1"

  echo "== blobs: $1, mode: $2"
  echo "file size:          $((BYTES >> 20)) MiB (ciphertext $(awk '{print $2}' "$WORK/up") bytes, 256 KiB chunks)"
  cat "$WORK/up" "$WORK/down"
  echo "server RSS idle:    $(awk -v k="$idle" 'BEGIN {printf "%.1f", k / 1024}') MiB"
  echo "server RSS upload:  max $(max_mib "$WORK/rss-up-$1") MiB ($(wc -l <"$WORK/rss-up-$1") samples)"
  echo "server RSS download: max $(max_mib "$WORK/rss-down-$1") MiB ($(wc -l <"$WORK/rss-down-$1") samples)"
  if [ -n "${LIMITS:-}" ]; then cat "$WORK/many"; fi
  if [ "$2" = on ]; then
    echo "scrapes:            $(wc -l <"$WORK/metrics.count" 2>/dev/null || echo 0), the last $(wc -c <"$WORK/metrics") bytes:"
    grep -E '^ferry_(upload_received|download_sent)_bytes_total|^ferry_(uploads_committed|downloads_counted)_total' "$WORK/metrics" | sed 's/^/  /'
  fi
  rm -f "$WORK"/rss-*
}

for store in $STORES; do
  for mode in $MODES; do bench "$store" "$mode"; done
done
MIB=$((BYTES >> 20))
DD=$( { dd if=/dev/zero of="$WORK/dd.bin" bs=1M count="$MIB" conv=fsync 2>&1 >/dev/null; } | tail -1)
rm -f "$WORK/dd.bin"
echo "dd bs=1M count=$MIB conv=fsync: $DD"
