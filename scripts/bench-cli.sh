#!/usr/bin/env bash
# CLI throughput over loopback: a 1 GiB random file sent and received with the release
# builds of `ferry` and `ferry-server`, next to the raw disk (dd with fsync) and the
# envelope's native encryption speed (cargo bench -p ferry-common).
#
#   scripts/bench-cli.sh [SIZE_MIB]        # default 1024
#
# Environment: CARGO_TARGET_DIR (default ./target), PORT (default 18110),
# BENCH_DIR (scratch space, default a fresh directory under /tmp), SKIP_ENVELOPE=1.
set -euo pipefail

cd "$(dirname "$0")/.."
SIZE_MIB="${1:-1024}"
PORT="${PORT:-18110}"
TARGET="${CARGO_TARGET_DIR:-target}"
WORK="${BENCH_DIR:-$(mktemp -d /tmp/ferry-bench-cli.XXXXXX)}"
mkdir -p "$WORK"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building release binaries" >&2
cargo build --release -p ferry-backend -p ferry-cli >&2
FERRY="$TARGET/release/ferry"
SERVER="$TARGET/release/ferry-server"

# seconds with millisecond precision
now() { date +%s.%N; }
rate() { awk -v mib="$SIZE_MIB" -v s="$1" 'BEGIN { printf "%.0f", mib / s }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

echo "== ${SIZE_MIB} MiB of random data" >&2
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/input.bin"

echo "== raw disk: dd with fsync" >&2
DD_OUT=$(dd if=/dev/zero of="$WORK/dd.bin" bs=1M count="$SIZE_MIB" conv=fsync 2>&1 | tail -1)
rm -f "$WORK/dd.bin"

echo "== server on 127.0.0.1:$PORT" >&2
"$SERVER" --listen "127.0.0.1:$PORT" --data-dir "$WORK/server-data" \
    --max-file-size 100GiB >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/api/limits" >/dev/null 2>&1 && break
    sleep 0.1
done

export FERRY_PASSPHRASE="benchmark passphrase"
export FERRY_SERVER="http://127.0.0.1:$PORT"
sync

echo "== send" >&2
T0=$(now)
/usr/bin/time -f "%M" -o "$WORK/send.rss" "$FERRY" send "$WORK/input.bin" > "$WORK/link"
T1=$(now)
echo "== receive" >&2
mkdir -p "$WORK/out"
T2=$(now)
/usr/bin/time -f "%M" -o "$WORK/recv.rss" "$FERRY" receive "$(cat "$WORK/link")" -o "$WORK/out"
T3=$(now)
cmp "$WORK/input.bin" "$WORK/out/input.bin"

SEND_S=$(elapsed "$T0" "$T1")
RECV_S=$(elapsed "$T2" "$T3")

ENVELOPE="(skipped)"
if [[ "${SKIP_ENVELOPE:-0}" != 1 ]]; then
    echo "== envelope: cargo bench -p ferry-common (256 KiB chunks)" >&2
    ENVELOPE=$(cargo bench -p ferry-common --bench envelope -- 'stream/(encrypt|decrypt)/256$' 2>/dev/null \
        | awk '/^stream\/(en|de)crypt\/256/ { name = $1 } /thrpt:/ && name { print name ": " $(NF-3), $(NF-2), $(NF-1), $NF; name = "" }')
fi

cat <<REPORT
file:          ${SIZE_MIB} MiB random, loopback, release builds, 256 KiB chunks
send:          ${SEND_S} s  = $(rate "$SEND_S") MiB/s  (client peak RSS $(( $(cat "$WORK/send.rss") / 1024 )) MiB; includes Argon2id)
receive:       ${RECV_S} s  = $(rate "$RECV_S") MiB/s  (client peak RSS $(( $(cat "$WORK/recv.rss") / 1024 )) MiB; includes Argon2id, fsync)
dd (fsync):    ${DD_OUT}
envelope:
${ENVELOPE}
machine:       $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)
REPORT
