#!/usr/bin/env bash
# Ferry's browser download next to Firefox Send's (timvisee/send 3.4.27), in the same
# headless Chromium with the same flags, driven over bare CDP (tests/support/cdp.ts): one
# random file uploaded to both, then downloaded through each one's page, click to saved
# file, sha256-compared; MiB/s and Chromium's PSS idle -> peak. Driven by Playwright:
# tests/bench/send-compare.bench.ts. See BENCHMARKS.md, "Downloads next to Firefox Send".
#
#   scripts/bench-browser-send.sh [SIZE_MIB ...]        # default 256 1024
#
# Send is built from source outside the repository, in SEND_DIR (default /work/bench-send),
# once: its source at the pinned commit from a local git copy of its repository
# (SEND_MIRROR), the two dependencies its lock file takes from git repositories built and
# packed from local copies too (WEBCRYPTO_CORE_MIRROR, CONFIGSTORE_MIRROR), everything else
# from the npm registry with --ignore-scripts (no postinstall downloads), its frontend
# built with webpack. Steps already done (a stamp file each) are skipped. Its server runs
# on 127.0.0.1 with local file storage and, since it is started with NODE_ENV=development
# and REDIS_HOST=localhost, its in-memory redis-mock for metadata: no Redis server.
#
# Environment: CARGO_TARGET_DIR (default ./target), PORT (Ferry, default 18130), SEND_PORT
# (default 18131), BENCH_DIR (scratch space, default a fresh directory under /tmp),
# FERRY_DIST (an already built web app: skips scripts/build-web.sh), SKIP_BUILD=1 (use
# the release ferry-server already built), CHROMIUM_PATH.
set -euo pipefail

cd "$(dirname "$0")/.."
REPO="$PWD"
SIZES=("$@")
[[ ${#SIZES[@]} -gt 0 ]] || SIZES=(256 1024)

# What is measured, pinned.
SEND_TAG=v3.4.27
SEND_COMMIT=e0a3d2bf2c4f5ec78a1cf656c1ae4b63f3ac1e09
WEBCRYPTO_CORE_COMMIT=8e0152a66d3ae6329cf080ccb3085eb06637070f
CONFIGSTORE_COMMIT=45c19536db34e7005a50b435582692886322ab36

SEND_DIR="${SEND_DIR:-/work/bench-send}"
SEND_MIRROR="${SEND_MIRROR:-/work/.mirror/timvisee+send/repo}"
WEBCRYPTO_CORE_MIRROR="${WEBCRYPTO_CORE_MIRROR:-/work/.mirror/dannycoates+webcrypto-core/repo}"
CONFIGSTORE_MIRROR="${CONFIGSTORE_MIRROR:-/work/.mirror/dannycoates+configstore/repo}"
PORT="${PORT:-18130}"
SEND_PORT="${SEND_PORT:-18131}"
TARGET="${CARGO_TARGET_DIR:-target}"

# `git archive COMMIT` of the repository at $1 (a work tree or a bare git directory) into $2.
archive() {
    local repo="$1" commit="$2" into="$3"
    if ! git -C "$repo" cat-file -e "$commit^{commit}" 2>/dev/null; then
        echo "no commit $commit in $repo: put a git copy of that repository there" >&2
        exit 1
    fi
    rm -rf "$into"
    mkdir -p "$into"
    git -C "$repo" archive "$commit" | tar -x -C "$into"
}

# A package tarball for one of Send's git dependencies, built from its source.
git_dep() {
    local name="$1" repo="$2" commit="$3" build="$4"
    local tgz="$SEND_DIR/deps/$name-$commit.tgz"
    [[ -s "$tgz" ]] && return
    echo "== $name at $commit (a git dependency of Send's lock file)" >&2
    local src="$SEND_DIR/deps/$name-src"
    archive "$repo" "$commit" "$src"
    if [[ "$build" == 1 ]]; then
        # Its `prepare` script: rollup + TypeScript, both from the registry.
        (cd "$src" && npm install --ignore-scripts --no-audit --no-fund >&2 &&
            npx rollup -c >&2 && npx rollup -c rollup.config.es.js >&2)
    fi
    (cd "$src" && npm pack --ignore-scripts --pack-destination "$SEND_DIR/deps" >&2)
    mv "$SEND_DIR/deps/$name-"[0-9]*.tgz "$tgz"
    rm -rf "$src"
}

setup_send() {
    local src="$SEND_DIR/src"
    mkdir -p "$SEND_DIR/deps"
    if [[ "$(cat "$src/.ferry-bench-commit" 2>/dev/null)" != "$SEND_COMMIT" ]]; then
        echo "== Send $SEND_TAG ($SEND_COMMIT) source into $src" >&2
        archive "$SEND_MIRROR" "$SEND_COMMIT" "$src"
        echo "$SEND_COMMIT" >"$src/.ferry-bench-commit"
    fi
    git_dep webcrypto-core "$WEBCRYPTO_CORE_MIRROR" "$WEBCRYPTO_CORE_COMMIT" 1
    git_dep configstore "$CONFIGSTORE_MIRROR" "$CONFIGSTORE_COMMIT" 0
    if [[ ! -e "$src/node_modules/.ferry-bench-installed" ]]; then
        echo "== Send's npm dependencies (--ignore-scripts)" >&2
        # The lock file's two git dependencies point at the tarballs built above.
        (cd "$src" && node - "$SEND_DIR/deps/webcrypto-core-$WEBCRYPTO_CORE_COMMIT.tgz" \
            "$SEND_DIR/deps/configstore-$CONFIGSTORE_COMMIT.tgz" <<'EOF'
const fs = require('fs');
const [core, store] = process.argv.slice(2).map((p) => `file:${p}`);
const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
pkg.dependencies.configstore = store;
pkg.overrides = { ...(pkg.overrides || {}), 'webcrypto-core': core };
fs.writeFileSync('package.json', JSON.stringify(pkg, null, 2) + '\n');
EOF
        )
        (cd "$src" && PUPPETEER_SKIP_CHROMIUM_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 \
            npm install --ignore-scripts --no-audit --no-fund >&2)
        touch "$src/node_modules/.ferry-bench-installed"
    fi
    if [[ ! -e "$src/dist/.ferry-bench-built" ]]; then
        echo "== Send's frontend (webpack, production)" >&2
        (cd "$src" && rm -rf dist && NODE_OPTIONS=--openssl-legacy-provider npx webpack --mode=production >&2)
        touch "$src/dist/.ferry-bench-built"
    fi
}

setup_send

WORK="${BENCH_DIR:-$(mktemp -d /tmp/ferry-bench-send.XXXXXX)}"
mkdir -p "$WORK"
FERRY_PID=""
SEND_PID=""
cleanup() {
    for pid in "$FERRY_PID" "$SEND_PID"; do
        if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    echo "== building the release ferry-server" >&2
    cargo build --release --locked -p ferry-backend >&2
fi
SERVER="$TARGET/release/ferry-server"
DIST="${FERRY_DIST:-}"
if [[ -z "$DIST" ]]; then
    echo "== building the web app (scripts/build-web.sh -> dist/)" >&2
    scripts/build-web.sh >&2
    DIST=dist
fi

INPUTS=""
for mib in "${SIZES[@]}"; do
    echo "== ${mib} MiB of random data" >&2
    head -c "$((mib * 1024 * 1024))" /dev/urandom >"$WORK/input-$mib.bin"
    INPUTS="${INPUTS:+$INPUTS,}$WORK/input-$mib.bin"
done

# Waits until $1 answers (bounded: 20 s).
wait_for() {
    for _ in $(seq 1 200); do
        curl -fsS "$1" >/dev/null 2>&1 && return
        sleep 0.1
    done
    curl -fsS "$1" >/dev/null
}

echo "== ferry-server on 127.0.0.1:$PORT" >&2
"$SERVER" --listen "127.0.0.1:$PORT" --data-dir "$WORK/ferry-data" --static-dir "$DIST" \
    --max-file-size 100GiB >"$WORK/ferry.log" 2>&1 &
FERRY_PID=$!
wait_for "http://127.0.0.1:$PORT/healthz" || { cat "$WORK/ferry.log" >&2; exit 1; }

echo "== Send's server on 127.0.0.1:$SEND_PORT (files in $WORK/send-data, redis-mock)" >&2
mkdir -p "$WORK/send-data"
(cd "$SEND_DIR/src" && NODE_ENV=development REDIS_HOST=localhost IP_ADDRESS=127.0.0.1 \
    PORT="$SEND_PORT" FILE_DIR="$WORK/send-data" BASE_URL="http://127.0.0.1:$SEND_PORT" \
    exec node server/bin/prod.js) >"$WORK/send.log" 2>&1 &
SEND_PID=$!
wait_for "http://127.0.0.1:$SEND_PORT/__heartbeat__" || { cat "$WORK/send.log" >&2; exit 1; }

# Chromium's downloads and Playwright's artifacts go to TMPDIR: keep them in $WORK.
mkdir -p "$WORK/tmp"
export TMPDIR="$WORK/tmp"
export FERRY_BENCH_URL="http://127.0.0.1:$PORT"
export FERRY_SEND_URL="http://127.0.0.1:$SEND_PORT"
export FERRY_SEND_INPUTS="$INPUTS"
export FERRY_BENCH_RESULTS="$WORK/results"
sync
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
npx playwright test -c tests/bench/playwright.config.ts send-compare.bench.ts
echo "Send $SEND_TAG ($SEND_COMMIT), node $(node --version), $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
