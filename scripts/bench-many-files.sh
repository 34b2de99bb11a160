#!/usr/bin/env bash
# One share of SIZE_MIB as one file and as FILES files in nested folders, each way: the
# CLI (`ferry send` / `ferry receive`, release builds, wall time and peak RSS) and the web
# app (the send page's folder picker, the receive page's ZIP; Chromium's PSS sampled by
# tests/bench/transfer.bench.ts through scripts/bench-browser-transfer.sh), all against
# one release `ferry-server` per part on 127.0.0.1. With ZIP64_MIB set, the web app also
# moves a folder holding one file of that many MiB (over 4 GiB: a ZIP64 entry) and a small
# one, and the saved ZIP is checked by Python's zipfile.
#
#   scripts/bench-many-files.sh [SIZE_MIB] [FILES]        # defaults 1024 and 1000
#
# Environment: CARGO_TARGET_DIR (default ./target), PORT (default 18130), RUNS (CLI runs,
# default 3), BENCH_DIR (scratch space, default a fresh directory under /tmp), SKIP_BROWSER=1,
# SKIP_BUILD=1 (use the release binaries already built), ZIP64_MIB (e.g. 4200; needs about
# three times that in free disk).
set -euo pipefail

cd "$(dirname "$0")/.."
SIZE_MIB="${1:-1024}"
FILES="${2:-1000}"
PORT="${PORT:-18130}"
RUNS="${RUNS:-3}"
TARGET="${CARGO_TARGET_DIR:-target}"
WORK="${BENCH_DIR:-$(mktemp -d /tmp/ferry-bench-many.XXXXXX)}"
mkdir -p "$WORK"
source scripts/lib/serve.sh
cleanup() {
    serve_stop
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    echo "== building release binaries" >&2
    cargo build --release -p ferry-backend -p ferry-cli >&2
fi
FERRY="$TARGET/release/ferry"
SERVER="$TARGET/release/ferry-server"

# The same bytes twice: one file, and FILES files of equal size under d<i%10>/e<i%7>/.
echo "== ${SIZE_MIB} MiB of random data, as one file and as ${FILES} files" >&2
mkdir -p "$WORK/one" "$WORK/many/tree"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/one/input.bin"
python3 - "$WORK/one/input.bin" "$WORK/many/tree" "$FILES" <<'EOF'
import os, sys
src, root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
size = os.path.getsize(src)
with open(src, "rb") as f:
    for i in range(n):
        part = size // n + (1 if i < size % n else 0)
        d = os.path.join(root, f"d{i % 10}", f"e{i % 7}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}.bin"), "wb") as out:
            out.write(f.read(part))
EOF


now() { date +%s.%N; }
rate() { awk -v mib="$SIZE_MIB" -v s="$1" 'BEGIN { printf "%.0f", mib / s }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

export FERRY_PASSPHRASE="benchmark passphrase"
export FERRY_SERVER="http://127.0.0.1:$PORT"
export FERRY_STATE_DIR="$WORK/cli-state"
serve_start "$PORT" "$WORK/server.log" --data-dir "$WORK/server-data" --max-file-size 100GiB
declare -a LINES
for run in $(seq 1 "$RUNS"); do
    for shape in one many; do
        what="$WORK/$shape/input.bin"
        [[ "$shape" == many ]] && what="$WORK/many/tree"
        echo "== run $run/$RUNS: $shape: send" >&2
        t0=$(now)
        /usr/bin/time -f "%M" -o "$WORK/send.rss" "$FERRY" send "$what" > "$WORK/link"
        t1=$(now)
        echo "== run $run/$RUNS: $shape: receive" >&2
        rm -rf "$WORK/out"
        /usr/bin/time -f "%M" -o "$WORK/recv.rss" "$FERRY" receive "$(cat "$WORK/link")" -o "$WORK/out"
        t2=$(now)
        if [[ "$shape" == one ]]; then
            cmp "$WORK/one/input.bin" "$WORK/out"
        else
            diff -r "$WORK/many/tree" "$WORK/out/tree" >/dev/null
        fi
        rm -rf "$WORK/out"
        up=$(elapsed "$t0" "$t1"); down=$(elapsed "$t1" "$t2")
        LINES+=("| $shape | $run | $up s = $(rate "$up") MiB/s | $(( $(cat "$WORK/send.rss") / 1024 )) MiB | $down s = $(rate "$down") MiB/s | $(( $(cat "$WORK/recv.rss") / 1024 )) MiB |")
    done
done
serve_stop
rm -rf "$WORK/server-data"

BROWSER_ONE=""; BROWSER_MANY=""; BROWSER_ZIP64=""
if [[ "${SKIP_BROWSER:-0}" != 1 ]]; then
    echo "== building the web app (scripts/build-web.sh -> dist/)" >&2
    scripts/build-web.sh >&2
    browser() {
        INPUT="$1" FERRY_DIST=dist SKIP_BUILD=1 ENGINES=webcrypto PORT="$PORT" BENCH_DIR="$WORK/browser" \
            scripts/bench-browser-transfer.sh 2>&1 | sed -n '/^| direction/,/^load average/p'
    }
    echo "== web app: one file" >&2
    BROWSER_ONE=$(DRIVERS=playwright browser "$WORK/one/input.bin")
    echo "== web app: ${FILES} files" >&2
    BROWSER_MANY=$(DRIVERS=playwright browser "$WORK/many/tree")
    if [[ -n "${ZIP64_MIB:-}" ]]; then
        echo "== web app: a folder with one file of ${ZIP64_MIB} MiB (ZIP64) and a small one" >&2
        rm -rf "$WORK/one" "$WORK/many"
        mkdir -p "$WORK/zip64/big"
        head -c "$((ZIP64_MIB * 1024 * 1024))" /dev/urandom > "$WORK/zip64/big/huge.bin"
        echo small > "$WORK/zip64/big/small.txt"
        BROWSER_ZIP64=$(DRIVERS=playwright browser "$WORK/zip64/big")
    fi
fi

echo
echo "CLI, ${SIZE_MIB} MiB: one file vs ${FILES} files (release builds, loopback, local disk)"
echo "| shape | run | send | send peak RSS | receive | receive peak RSS |"
echo "|---|---:|---|---:|---|---:|"
printf '%s\n' "${LINES[@]}"
if [[ -n "$BROWSER_ONE" ]]; then
    echo
    echo "web app, one file of ${SIZE_MIB} MiB:"
    echo "$BROWSER_ONE"
    echo
    echo "web app, ${FILES} files (${SIZE_MIB} MiB):"
    echo "$BROWSER_MANY"
fi
if [[ -n "$BROWSER_ZIP64" ]]; then
    echo
    echo "web app, a folder with a ${ZIP64_MIB} MiB file (ZIP64):"
    echo "$BROWSER_ZIP64"
fi
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
