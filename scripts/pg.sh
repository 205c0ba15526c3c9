#!/usr/bin/env bash
# Start or stop a private PostgreSQL server for the integration tests.
# Usage: scripts/pg.sh start|stop|url
# The cluster lives in ${CVM_PG_DATA:-/tmp/cvm-pgdata-PORT} (outside the checkout, so the postgres
# user can reach it even when the checkout sits in root's home), listens on 127.0.0.1:${CVM_PG_PORT:-55432},
# and trusts local connections: it is a throwaway test server, never a production one.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${CVM_PG_PORT:-55432}"
DATA="${CVM_PG_DATA:-${TMPDIR:-/tmp}/cvm-pgdata-${PORT}}"
URL="postgresql+psycopg://postgres@127.0.0.1:${PORT}/postgres"

find_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  return 1
}

install_pg() {
  echo "PostgreSQL server not found; installing it from Debian's packages" >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
}

as_pg() {
  # PostgreSQL refuses to run as root: run its tools as the postgres user then.
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  BIN="$(find_bin)" || { install_pg; BIN="$(find_bin)"; }
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    mkdir -p "$DATA" && chown postgres "$DATA"
  else
    mkdir -p "$DATA"
  fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    echo "$URL"; return 0
  fi
  as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
    -o "-p $PORT -h 127.0.0.1 -k /tmp -c fsync=off -c max_connections=200" start >/dev/null
  echo "$URL"
}

stop() {
  BIN="$(find_bin)" || exit 0
  [ -f "$DATA/PG_VERSION" ] || exit 0
  as_pg "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
