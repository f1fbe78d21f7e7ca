#!/usr/bin/env bash
# A PostgreSQL cluster for the Prefect server (Prefect's advice for a service; SQLite stays the
# embedded default). Debian's `postgresql` package (ops/system_packages.txt) provides it.
#
#   bash ops/prefect_postgres.sh start <folder> [port]   # init if needed, start on 127.0.0.1,
#                                                        # create role+database, print the URL
#   bash ops/prefect_postgres.sh url   <folder>          # print the URL again
#   bash ops/prefect_postgres.sh stop  <folder>          # stop the cluster (data kept)
#   make prefect-postgres PG_DIR=<folder> [PG_PORT=5433] / make prefect-postgres-stop PG_DIR=...
#
# then: export PREFECT_API_DATABASE_CONNECTION_URL="$(bash ops/prefect_postgres.sh url <folder>)"
#       prefect server start ...
# Layout of <folder>: data/ (the cluster, also the socket directory), postgres.log, port and
# password (mode 600). PostgreSQL refuses to run as root: run as root, the cluster belongs to
# the `postgres` user and every server command runs as that user (runuser); <folder> and its
# parents must be reachable by it. Run as another user, the cluster is that user's.
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|url|stop|status <folder> [port]" >&2
  exit 2
fi
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
data="$dir/data"
DB_NAME="${PG_DATABASE:-prefect}"
DB_USER="${PG_USER:-prefect}"

bindir="${PG_BIN:-}"
if [ -z "$bindir" ]; then
  bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/pg_ctl" ]; then
  echo "prefect_postgres: no PostgreSQL server binaries (install the Debian package" \
       "'postgresql', see ops/system_packages.txt, or set PG_BIN)" >&2
  exit 1
fi

as_owner() {  # run a server command as the cluster's owner
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

url() {
  local port pw
  port="$(cat "$dir/port")"
  pw="$(cat "$dir/password")"
  echo "postgresql+asyncpg://${DB_USER}:${pw}@127.0.0.1:${port}/${DB_NAME}"
}

psql_owner() {
  as_owner "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$data" -p "$(cat "$dir/port")" \
    -d postgres "$@"
}

init_cluster() {
  [ -f "$data/PG_VERSION" ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "prefect_postgres: no 'postgres' user" >&2; exit 1; }
    install -d -o postgres -g postgres -m 700 "$data"
    if ! runuser -u postgres -- test -w "$data"; then
      echo "prefect_postgres: the postgres user cannot reach $data (make $dir and its" \
           "parents traversable, e.g. chmod o+x)" >&2
      exit 1
    fi
  else
    install -d -m 700 "$data"
  fi
  [ -f "$dir/password" ] || (umask 077; python3 -c \
    'import secrets; print(secrets.token_urlsafe(24))' > "$dir/password")
  # trust on the socket only (owner's tools); password (scram) for TCP on 127.0.0.1
  as_owner "$bindir/initdb" -D "$data" -U postgres --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
}

start() {
  local port="${1:-}"
  [ -n "$port" ] || port="$( [ -f "$dir/port" ] && cat "$dir/port" || free_port)"
  echo "$port" > "$dir/port"
  init_cluster
  touch "$dir/postgres.log"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir/postgres.log"
  if ! as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $data" start >/dev/null
  fi
  local pw
  pw="$(cat "$dir/password")"
  if [ "$(psql_owner -tAc "SELECT 1 FROM pg_roles WHERE rolname='$DB_USER'")" != "1" ]; then
    psql_owner -c "CREATE ROLE \"$DB_USER\" LOGIN PASSWORD '$pw'"
  fi
  if [ "$(psql_owner -tAc "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'")" != "1" ]; then
    psql_owner -c "CREATE DATABASE \"$DB_NAME\" OWNER \"$DB_USER\""
  fi
  url
}

stop() {
  if [ -f "$data/PG_VERSION" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1
  then
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
  fi
}

case "$cmd" in
  start) start "${3:-}" ;;
  url) url ;;
  stop) stop ;;
  status) as_owner "$bindir/pg_ctl" -D "$data" status ;;
  *) echo "usage: $0 start|url|stop|status <folder> [port]" >&2; exit 2 ;;
esac
