#!/usr/bin/env bash
# CLI throughput over loopback: a 1 GiB random file sent and received with the release
# builds of `ferry` and `ferry-server`, next to the raw disk (dd with fsync) and the
# envelope's native encryption speed (cargo bench -p ferry-common).
#
#   scripts/bench-cli.sh [SIZE_MIB]        # default 1024
#
# Environment: CARGO_TARGET_DIR (default ./target), PORT (default 18110), RUNS (default 3),
# BENCH_DIR (scratch space, default a fresh directory under /tmp), SKIP_ENVELOPE=1,
# SKIP_CUTS=1 (skip the send through ferry-faultproxy that cuts the connection 3 times).
set -euo pipefail

cd "$(dirname "$0")/.."
SIZE_MIB="${1:-1024}"
PORT="${PORT:-18110}"
TARGET="${CARGO_TARGET_DIR:-target}"
WORK="${BENCH_DIR:-$(mktemp -d /tmp/ferry-bench-cli.XXXXXX)}"
mkdir -p "$WORK"
SERVER_PID=""
PROXY_PID=""
cleanup() {
    for pid in "$PROXY_PID" "$SERVER_PID"; do
        if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building release binaries" >&2
cargo build --release -p ferry-backend -p ferry-cli -p ferry-faultproxy >&2
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

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
RUNS="${RUNS:-3}"
best() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b < a) print b; else print a }'; }
SEND_S="" RECV_S="" SHM_S=""
SHM_OK=0
if [[ -d /dev/shm ]] && (( $(df -Pk /dev/shm | awk 'NR==2 { print $4 }') > SIZE_MIB * 1024 + 65536 )); then
    SHM_OK=1
fi
mkdir -p "$WORK/out"
for run in $(seq 1 "$RUNS"); do
    echo "== run $run/$RUNS: send" >&2
    T0=$(now)
    /usr/bin/time -f "%M" -o "$WORK/send.rss" "$FERRY" send "$WORK/input.bin" --downloads 2 > "$WORK/link"
    T1=$(now)
    SEND_S=$(best "$SEND_S" "$(elapsed "$T0" "$T1")")
    echo "== run $run/$RUNS: receive (to disk, fsync)" >&2
    T2=$(now)
    /usr/bin/time -f "%M" -o "$WORK/recv.rss" "$FERRY" receive "$(cat "$WORK/link")" -o "$WORK/out"
    T3=$(now)
    RECV_S=$(best "$RECV_S" "$(elapsed "$T2" "$T3")")
    cmp "$WORK/input.bin" "$WORK/out/input.bin"
    rm -f "$WORK/out/input.bin"
    if (( SHM_OK )); then
        # The same download into memory (tmpfs), to separate the protocol from the disk.
        echo "== run $run/$RUNS: receive (to tmpfs)" >&2
        SHM="$(mktemp -d /dev/shm/ferry-bench.XXXXXX)"
        T4=$(now)
        "$FERRY" receive "$(cat "$WORK/link")" -o "$SHM"
        T5=$(now)
        rm -rf "$SHM"
        SHM_S=$(best "$SHM_S" "$(elapsed "$T4" "$T5")")
    fi
done
SHM_LINE="receive→tmpfs: (skipped: /dev/shm too small)"
if (( SHM_OK )); then
    SHM_LINE="receive→tmpfs: ${SHM_S} s  = $(rate "$SHM_S") MiB/s  (same download into /dev/shm: no disk)"
fi

CUT_LINE="send, 3 cuts:  (skipped)"
if [[ "${SKIP_CUTS:-0}" != 1 ]]; then
    # The same send through a proxy that cuts the connection after every quarter of the
    # file, three times: the CLI reconnects and resumes by itself. The difference to the
    # clean send, per cut, is what a reconnect costs (pause, handshake, `resume`, and the
    # segment in flight sent again).
    echo "== send through ferry-faultproxy, cut 3 times" >&2
    mkfifo "$WORK/proxy.out"
    "$TARGET/release/ferry-faultproxy" --upstream "127.0.0.1:$PORT" --direction up \
        --cut-after "$((SIZE_MIB * 1024 * 1024 / 4))" --max-cuts 3 >"$WORK/proxy.out" </dev/null &
    PROXY_PID=$!
    read -r PROXY_ADDR <"$WORK/proxy.out"
    T6=$(now)
    FERRY_SERVER="http://$PROXY_ADDR" "$FERRY" send "$WORK/input.bin" > /dev/null 2>"$WORK/cut.err"
    T7=$(now)
    CUT_S=$(elapsed "$T6" "$T7")
    RECONNECTS=$(grep -c "reconnecting" "$WORK/cut.err" || true)
    PER_CUT=$(awk -v a="$CUT_S" -v b="$SEND_S" 'BEGIN { printf "%.2f", (a - b) / 3 }')
    CUT_LINE="send, 3 cuts:  ${CUT_S} s  = $(rate "$CUT_S") MiB/s  (${RECONNECTS} reconnects; ${PER_CUT} s per cut over the best clean send)"
fi

# Peak memory does not grow with the file: compare with a 1 MiB send.
head -c 1048576 /dev/urandom > "$WORK/small.bin"
/usr/bin/time -f "%M" -o "$WORK/small.rss" "$FERRY" send "$WORK/small.bin" > /dev/null
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

ENVELOPE="(skipped)"
if [[ "${SKIP_ENVELOPE:-0}" != 1 ]]; then
    echo "== envelope: cargo bench -p ferry-common (256 KiB chunks)" >&2
    # criterion prints `thrpt:  [low unit median unit high unit]`: keep the median.
    ENVELOPE=$(cargo bench -p ferry-common --bench envelope -- 'stream/(encrypt|decrypt)/256$' 2>/dev/null \
        | awk '/^stream\/(en|de)crypt\/256/ { name = $1 } /thrpt:/ && name { print "  " name ": " $(NF-3), $(NF-2) " (median)"; name = "" }')
fi

cat <<REPORT
file:          ${SIZE_MIB} MiB random, loopback, release builds, 256 KiB chunks, best of ${RUNS} runs
send:          ${SEND_S} s  = $(rate "$SEND_S") MiB/s  (client peak RSS $(( $(cat "$WORK/send.rss") / 1024 )) MiB; includes Argon2id)
receive:       ${RECV_S} s  = $(rate "$RECV_S") MiB/s  (client peak RSS $(( $(cat "$WORK/recv.rss") / 1024 )) MiB; includes Argon2id, fsync)
${SHM_LINE}
${CUT_LINE}
1 MiB send:    client peak RSS $(( $(cat "$WORK/small.rss") / 1024 )) MiB (Argon2id's 64 MiB dominates; the transfer adds a few chunks)
dd (fsync):    ${DD_OUT}
envelope:
${ENVELOPE}
load average:  ${LOAD_BEFORE} before, ${LOAD_AFTER} after the transfers
machine:       $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)
REPORT
