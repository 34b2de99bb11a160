#!/usr/bin/env bash
# Many uploads at once through HAProxy (docs/haproxy.cfg) over two release ferry-server
# replicas sharing one PostgreSQL database and one S3 bucket (s3s-fs), all on 127.0.0.1:
# how many are committed, the wall time, and each replica's peak RSS (sampled from /proc
# every 100 ms).
#
#   scripts/bench-replicas.sh                        # 200 uploads of 10 MiB
#   COUNT=50 BYTES=$((1 << 20)) scripts/bench-replicas.sh
#
# Starts PostgreSQL and s3s-fs itself (through scripts/with-postgres.sh and with-s3.sh).
# Every client here is 127.0.0.1, so the replicas run with --max-sockets-per-ip 1024 and
# --rate-upload-starts off: the per-address caps (16 sockets, 60 new uploads a minute)
# would otherwise refuse most of them, which measures the caps.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${FERRY_TEST_DATABASE_URL:-}" ] || [ -z "${FERRY_TEST_S3_BUCKET:-}" ]; then
  scripts/install.sh --postgres --haproxy
  exec scripts/with-postgres.sh scripts/with-s3.sh "$0" "$@"
fi

COUNT=${COUNT:-200}
BYTES=${BYTES:-$((10 << 20))}
LB=${BENCH_PORT:-18190}
PORTS=($((LB + 1)) $((LB + 2)))
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
WORK=$(mktemp -d /tmp/ferry-bench-replicas.XXXXXX)

cargo build --release -q -p ferry-backend --bin ferry-server --example bench_client
BIN=$CARGO_TARGET_DIR/release
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

SERVERS=()
for i in 0 1; do
  FERRY_S3_ACCESS_KEY_ID=$FERRY_TEST_S3_ACCESS_KEY_ID FERRY_S3_SECRET_ACCESS_KEY=$FERRY_TEST_S3_SECRET_ACCESS_KEY \
    RUST_LOG=warn "$BIN/ferry-server" --listen "127.0.0.1:${PORTS[$i]}" --data-dir "$WORK/data-$i" \
    --database-url "$FERRY_TEST_DATABASE_URL" --s3-bucket "$FERRY_TEST_S3_BUCKET" \
    --s3-endpoint "$FERRY_TEST_S3_ENDPOINT" --s3-allow-http --s3-prefix bench \
    --trusted-proxies 127.0.0.1 --max-sockets-per-ip 1024 --rate-upload-starts off --reserve-space 1MiB \
    >"$WORK/replica-$i.log" 2>&1 &
  SERVERS+=($!)
  PIDS+=($!)
done
FERRY_LB_BIND="127.0.0.1:$LB" FERRY_REPLICA_A="127.0.0.1:${PORTS[0]}" FERRY_REPLICA_B="127.0.0.1:${PORTS[1]}" \
  haproxy -db -f docs/haproxy.cfg >"$WORK/haproxy.log" 2>&1 &
PIDS+=($!)
# Each replica answers, then the balancer has answered 10 times in a row (both in rotation).
for port in "${PORTS[@]}" "$LB"; do
  ok=0
  for _ in $(seq 300); do
    if curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then ok=$((ok + 1)); else ok=0; fi
    if { [ "$port" != "$LB" ] && [ $ok -ge 1 ]; } || [ $ok -ge 10 ]; then break; fi
    sleep 0.2
  done
done
sleep 2

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
sample() { while :; do rss_kib "$1" >>"$2"; sleep 0.1; done; }
max_mib() { sort -n "$1" | tail -1 | awk '{printf "%.1f", $1 / 1024}'; }
SAMPLERS=()
for i in 0 1; do
  echo "$(rss_kib "${SERVERS[$i]}")" >"$WORK/idle-$i"
  sample "${SERVERS[$i]}" "$WORK/rss-$i" &
  SAMPLERS+=($!)
  PIDS+=($!)
done
"$BIN/examples/bench_client" many "$LB" "$COUNT" "$BYTES"
for pid in "${SAMPLERS[@]}"; do kill "$pid"; done
for i in 0 1; do
  echo "replica $i RSS: idle $(max_mib "$WORK/idle-$i") MiB, peak $(max_mib "$WORK/rss-$i") MiB ($(wc -l <"$WORK/rss-$i") samples)"
done
