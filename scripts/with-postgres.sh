#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster on 127.0.0.1 and
# FERRY_TEST_DATABASE_URL pointing at it, then removes the cluster:
#
#   scripts/with-postgres.sh cargo test -p ferry-backend --test api -- --test-threads=1
#
# Uses Debian's PostgreSQL (scripts/install.sh --postgres). initdb refuses to run as root,
# so as root the cluster runs as the `postgres` user. FERRY_PG_PORT (default 55432).
set -euo pipefail
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
PORT="${FERRY_PG_PORT:-55432}"
PGD="$(mktemp -d /tmp/ferry-pg.XXXXXX)"
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "$(id -u)" = 0 ]; then chown postgres: "$PGD"; fi
cleanup() {
  as_pg "$PGBIN/pg_ctl" -D "$PGD" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PGD"
}
trap cleanup EXIT
as_pg "$PGBIN/initdb" -D "$PGD" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
# fsync off: the cluster is thrown away; the tests check Ferry's behaviour, not the disk's.
# Dynamic shared memory in files under the cluster, not /dev/shm, which containers often
# keep small or read-only. A port someone else holds moves the cluster to the next one;
# a start that fails for another reason prints the server's own log.
start() {
  as_pg "$PGBIN/pg_ctl" -D "$PGD" -l "$PGD/log" -w -t 120 start -o "-p $PORT -k $PGD \
    -c listen_addresses=127.0.0.1 -c fsync=off -c dynamic_shared_memory_type=mmap" >/dev/null
}
for _ in 1 2 3 4 5; do
  if start; then break; fi
  if ! grep -q "could not bind\|Address already in use" "$PGD/log" 2>/dev/null; then
    echo "with-postgres.sh: PostgreSQL did not start; its log:" >&2
    cat "$PGD/log" >&2 || true
    exit 1
  fi
  echo "with-postgres.sh: port $PORT is taken; trying $((PORT + 1))" >&2
  PORT=$((PORT + 1))
  : >"$PGD/log"
done
as_pg "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" || {
  echo "with-postgres.sh: no free port near ${FERRY_PG_PORT:-55432}; last log:" >&2
  cat "$PGD/log" >&2 || true
  exit 1
}
export FERRY_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
"$@"
