#!/usr/bin/env bash
# Installs what Ferry's build and tests need and is missing, at pinned versions.
# Idempotent: every step checks first, so a warm machine spends seconds here.
# Needs root for apt (Debian 12). Nothing here downloads a prebuilt binary or browser:
# tools build from crates.io, wasm-opt comes from npm's binaryen, Chromium from Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14          # 0.22 needs rustc 1.96.1
WASM_BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen crate in Cargo.lock
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

HAPROXY_SERIES=2.6             # Debian 12's; docs/haproxy.cfg is tested with it

with_browser=0
with_postgres=0
with_haproxy=0
for arg in "$@"; do
  case "$arg" in
    --browser) with_browser=1 ;;
    --postgres) with_postgres=1 ;;
    --haproxy) with_haproxy=1 ;;
    *) echo "usage: $0 [--browser] [--postgres] [--haproxy]" >&2; exit 2 ;;
  esac
done

if ! command -v unzip >/dev/null; then
  step "Debian's unzip (checks the ZIP archives of shares of several files)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip >/dev/null
fi

if [ "$with_browser" = 1 ] && { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }; then
  step "Debian's chromium and chromium-driver (for browser tests)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if [ "$with_postgres" = 1 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  step "Debian's PostgreSQL (the server's integration tests also run against it)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

if [ "$with_haproxy" = 1 ] && ! haproxy -v 2>/dev/null | grep -q "version $HAPROXY_SERIES\."; then
  step "Debian's HAProxy $HAPROXY_SERIES (the load balancer of the multi-replica tests)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "haproxy=$HAPROXY_SERIES.*" >/dev/null
  # Installed to be run by the tests, not as a service of this machine.
  if command -v systemctl >/dev/null && systemctl is-active --quiet haproxy 2>/dev/null; then
    systemctl stop haproxy || true
  fi
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "Rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if ! trunk --version 2>/dev/null | grep -q " $TRUNK_VERSION"; then
  step "trunk $TRUNK_VERSION (from source, ~11 min on 2 cores)"
  cargo install --locked trunk --version "$TRUNK_VERSION"
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION"; then
  step "wasm-bindgen-cli $WASM_BINDGEN_VERSION (from source, ~4 min)"
  # Not --locked: its lock file names a webpki-roots release the registry here lacks.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

if [ -f package-lock.json ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    step "npm packages (pinned in package-lock.json; no browser download)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
  fi
fi

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import cryptography, argon2" 2>/dev/null; then
  step "Python packages for the independent format check"
  python3 -m venv .venv
  .venv/bin/pip install -q -r tests/independent/requirements.txt
fi
