# A private PostgreSQL server for a test (source after lib.sh):
#
#   start_pg            initdb + postgres on 127.0.0.1:$PG_PORT, its socket
#                       in $PG_SOCK; role ferry (password $PG_PASSWORD) owns
#                       database reporting; password auth over TCP.
#                       Sets PG_URL (no password) for config databases.
#   psql_q SQL          runs SQL as the superuser, unaligned, no headers
#   restart_pg          stops the server (fast) and starts it again
#
# Debian's postgresql package provides the server; as root the server runs
# as the postgres user (initdb refuses root). Without the server the test
# skips with the reason, except under FERRY_CI (CI must run it).
PG_BIN=""
for d in "$(pg_config --bindir 2>/dev/null)" /usr/lib/postgresql/*/bin; do
    [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && { PG_BIN=$d; break; }
done
PG_PASSWORD="pg-secret-7d41c09a"

# pg_missing: a reason to skip (or fail under CI), or nothing.
pg_missing() {
    [ -n "$PG_BIN" ] && return 1
    echo "PostgreSQL server not installed (Debian package postgresql)"
}

_pg_as() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_pg() {
    PG_DIR=$(mktemp -d /tmp/ferry-pg.XXXXXX)
    chmod 755 "$PG_DIR"
    PG_DATA=$PG_DIR/data PG_SOCK=$PG_DIR/sock
    mkdir -p "$PG_SOCK"
    [ "$(id -u)" = 0 ] && chown -R postgres "$PG_DIR"
    PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    _pg_as "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --no-locale >"$WORK/pg-initdb.log" 2>&1 || { echo "initdb failed: $(tail -3 "$WORK/pg-initdb.log")"; return 1; }
    _pg_start || return 1
    PG_DB=postgres psql_q "CREATE ROLE ferry LOGIN PASSWORD '$PG_PASSWORD'" >/dev/null &&
        PG_DB=postgres psql_q "CREATE DATABASE reporting OWNER ferry" >/dev/null || { echo "cannot create the database"; return 1; }
    PG_URL="postgresql://ferry@127.0.0.1:$PG_PORT/reporting"
    _pg_cleanup_set
}

_pg_start() {
    _pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$PG_SOCK -c fsync=off" \
        start >/dev/null 2>&1 || { echo "postgres did not start: $(tail -3 "$PG_DIR/server.log")"; return 1; }
}

stop_pg() {
    [ -n "${PG_DATA:-}" ] && _pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1
}

restart_pg() {
    stop_pg && _pg_start
}

_pg_cleanup_set() {
    trap 'stop_pg; rm -rf "$PG_DIR"; _cleanup' EXIT
}

psql_q() {
    "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d "${PG_DB:-reporting}" \
        -c "$1" 2>&1
}
