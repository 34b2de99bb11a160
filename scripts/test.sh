#!/usr/bin/env bash
# Installs what is missing, then runs every test: format and lints, unit and integration
# tests (native), the envelope tests in headless Chromium (wasm), the independent format
# check, and the browser end-to-end suite against the real server.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

scripts/install.sh --browser

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "clippy (native, all targets)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unit and integration tests (native)"
cargo test --workspace --locked

step "envelope tests in headless Chromium (wasm32)"
CHROMEDRIVER=/usr/bin/chromedriver cargo test -p ferry-common --target wasm32-unknown-unknown --locked

step "independent implementation of docs/FORMAT.md agrees with the vectors"
.venv/bin/python tests/independent/check_vectors.py
