#!/usr/bin/env bash
# Builds the web app into dist/ with Trunk, offline, using the pinned local wasm-bindgen and
# npm's wasm-opt (binaryen@132; Debian's older wasm-opt breaks the app).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
cargo fetch --locked            # Trunk.toml sets offline = true
trunk build --release
