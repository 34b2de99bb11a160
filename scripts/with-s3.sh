#!/usr/bin/env bash
# Runs a command with a throwaway S3-compatible server (s3s-fs, which checks SigV4
# signatures and keeps each object as the file ROOT/BUCKET/KEY) on 127.0.0.1, one bucket
# in it, and FERRY_TEST_S3_* describing them; then stops it and removes its root:
#
#   scripts/with-s3.sh cargo test -p ferry-backend --test s3_store -- --test-threads=1
#
# Installs the pinned s3s-fs into ~/.cargo/bin when missing (newer versions need a newer
# rustc). FERRY_S3_TEST_PORT picks the first port to try (default: a free one).
set -euo pipefail
VERSION=0.14.1
BIN="$HOME/.cargo/bin/s3s-fs"
# The list is read whole first: `grep -q` leaving a pipe early would fail it under pipefail.
installed="$(cargo install --list)"
if ! [ -x "$BIN" ] || ! grep -qx "s3s-fs v$VERSION:" <<<"$installed"; then
  echo "with-s3.sh: installing s3s-fs $VERSION" >&2
  cargo install --locked s3s-fs --version "$VERSION" --features binary
fi

DIR="$(mktemp -d /tmp/ferry-s3.XXXXXX)"
ROOT="$DIR/root"
mkdir "$ROOT"
PID=""
cleanup() {
  if [ -n "$PID" ]; then
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT

hex() { od -An -tx1 -N "$1" /dev/urandom | tr -d ' \n'; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
ACCESS_KEY="ferry$(hex 8)"
SECRET_KEY="$(hex 20)"
BUCKET="ferry-test-$(hex 4)"
PORT="${FERRY_S3_TEST_PORT:-$(free_port)}"

# Started and polled until it answers; a port taken in the meantime moves it to another.
up=""
for _ in 1 2 3 4 5; do
  "$BIN" --host 127.0.0.1 --port "$PORT" --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" \
    "$ROOT" >"$DIR/log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    if ! kill -0 "$PID" 2>/dev/null; then break; fi
    if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then up=1; break; fi
    sleep 0.1
  done
  if [ -n "$up" ]; then break; fi
  kill "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=""
  echo "with-s3.sh: s3s-fs did not start on port $PORT; its log:" >&2
  cat "$DIR/log" >&2 || true
  PORT="$(free_port)"
done
if [ -z "$up" ]; then
  echo "with-s3.sh: s3s-fs did not start" >&2
  exit 1
fi

ENDPOINT="http://127.0.0.1:$PORT"
# The SHA-256 of an empty body, which S3 wants signed in its own header.
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
status="$(curl -s -o "$DIR/create" -w '%{http_code}' -X PUT \
  -H "x-amz-content-sha256: $EMPTY_SHA256" --aws-sigv4 "aws:amz:us-east-1:s3" --user "$ACCESS_KEY:$SECRET_KEY" "$ENDPOINT/$BUCKET")"
if [ "$status" != 200 ]; then
  echo "with-s3.sh: creating the bucket answered $status:" >&2
  cat "$DIR/create" >&2 || true
  exit 1
fi

export FERRY_TEST_S3_ENDPOINT="$ENDPOINT"
export FERRY_TEST_S3_BUCKET="$BUCKET"
export FERRY_TEST_S3_ROOT="$ROOT"
export FERRY_TEST_S3_ACCESS_KEY_ID="$ACCESS_KEY"
export FERRY_TEST_S3_SECRET_ACCESS_KEY="$SECRET_KEY"
"$@"
