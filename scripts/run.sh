#!/usr/bin/env bash
# Installs what is missing, builds the web app and the server (release), and serves Ferry
# with its embedded defaults (local disk + SQLite under ./data) on http://127.0.0.1:8080.
# Extra arguments go to the server (see `ferry-server --help`), e.g. --listen 0.0.0.0:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"

scripts/install.sh
scripts/build-web.sh
cargo build --release --locked -p ferry-backend --bin ferry-server
exec target/release/ferry-server --static-dir dist "$@"
