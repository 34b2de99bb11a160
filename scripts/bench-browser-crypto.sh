#!/usr/bin/env bash
# Prints Argon2id and AES-256-GCM figures measured inside headless Chromium (release wasm).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
CHROMEDRIVER=/usr/bin/chromedriver cargo test --release -p ferry-common --target wasm32-unknown-unknown \
  --test browser_bench -- --include-ignored --nocapture 2>&1 | grep -E "FIGURE|test result"
