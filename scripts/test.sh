#!/usr/bin/env bash
# Installs what is missing, then runs every test: format and lints, unit and integration
# tests (native; the server's also against PostgreSQL), the envelope tests in headless
# Chromium (wasm), the independent format check, and the browser end-to-end suite against
# the real server.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

scripts/install.sh --browser --postgres --haproxy

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "clippy (native, all targets)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unit and integration tests (native)"
cargo test --workspace --locked

step "the server's integration tests against PostgreSQL (a throwaway cluster on 127.0.0.1)"
# Each test server gets a database of its own in the cluster; one test at a time on 2 cores.
scripts/with-postgres.sh cargo test -p ferry-backend --test api --test failing_storage --test resume --test claims --test http_download --test metrics --test credentials --locked -- --test-threads=1

step "the server's integration tests with blobs on S3 (s3s-fs on 127.0.0.1, SigV4 checked)"
# failing_storage stays local: it fills a tmpfs under the data directory, which S3 never writes.
scripts/with-s3.sh cargo test -p ferry-backend --test api --test resume --test claims --test http_download --test s3_store --test blob_contract --test lanes --test metrics --locked -- --test-threads=1

step "replicas sharing PostgreSQL and S3: migrating together, the database's clock, the janitor lease, sweeping together"
scripts/with-postgres.sh scripts/with-s3.sh cargo test -p ferry-backend --test replicas --locked -- --test-threads=1

step "envelope tests in headless Chromium (wasm32)"
CHROMEDRIVER=/usr/bin/chromedriver cargo test -p ferry-common --target wasm32-unknown-unknown --locked

step "independent implementation of docs/FORMAT.md agrees with the vectors"
.venv/bin/python tests/independent/check_vectors.py

step "clippy (envelope tests, web app and worker, wasm32)"
cargo clippy -p ferry-common --lib --tests --target wasm32-unknown-unknown --locked -- -D warnings
cargo clippy -p ferry-frontend -p ferry-worker --target wasm32-unknown-unknown --locked -- -D warnings

step "web app build (Trunk, release)"
scripts/build-web.sh

step "browser end-to-end tests (Playwright + Debian's Chromium, real server and CLI)"
# The debug binaries built by `cargo test` above; never a stale release build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# ferry-faultproxy (the fault-injecting proxy, tests/README.md) is built there too.
FERRY_SERVER_BIN="$CARGO_TARGET_DIR/debug/ferry-server" FERRY_CLI_BIN="$CARGO_TARGET_DIR/debug/ferry" \
  FERRY_FAULTPROXY_BIN="$CARGO_TARGET_DIR/debug/ferry-faultproxy" \
  npx playwright test -c tests/playwright.config.ts

step "two replicas behind HAProxy (docs/haproxy.cfg) on PostgreSQL and S3: browser and CLI through the load balancer"
FERRY_SERVER_BIN="$CARGO_TARGET_DIR/debug/ferry-server" FERRY_CLI_BIN="$CARGO_TARGET_DIR/debug/ferry" \
  scripts/with-postgres.sh scripts/with-s3.sh npx playwright test -c tests/replicas.config.ts
