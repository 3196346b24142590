#!/usr/bin/env bash
# Starts a throw-away local PostgreSQL for tests (installing the server from
# Debian's packages when missing) and prints its URI. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${CC_PG_PORT:-55432}
DATA=$PWD/.cache/pg
find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
BIN=$(find_bin)
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
    apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null
    BIN=$(find_bin)
fi
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ ! -f "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA"
    [ "$(id -u)" = 0 ] && chown postgres: "$DATA" "$(dirname "$DATA")"
    as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATA'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 512MB
CONF
fi
if ! as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w start >/dev/null
fi
echo "postgresql://postgres@127.0.0.1:$PORT/"
