#!/usr/bin/env bash
# A private PostgreSQL server for the tests, from Debian's package: its own data directory,
# loopback only, trust authentication for the local user `cnp`, durability switched off (it
# holds nothing but test data). Idempotent: `start` reuses a running server.
#
#   bash scripts/postgres.sh start    # prints the server's URL on its last line
#   bash scripts/postgres.sh status   # exit 0 if the server is running, 3 if not
#   bash scripts/postgres.sh stop
#
# CNP_PG_DIR (default /tmp/cnp-postgres) and CNP_PG_PORT (default 54329) move it.
set -euo pipefail
action="${1:-start}"
dir="${CNP_PG_DIR:-/tmp/cnp-postgres}"
port="${CNP_PG_PORT:-54329}"
url="postgresql://cnp@127.0.0.1:${port}/cnp"

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ -z "$(bindir)" ]; then
  if [ "$action" != start ]; then
    [ "$action" = status ] && exit 3
    exit 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL is not installed, and installing Debian's package needs root:" \
      "run this as root, or first: sudo apt-get install postgresql" >&2
    exit 1
  fi
  echo "postgres.sh: installing Debian's postgresql package (as root)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql \
    >/dev/null
fi
bin="$(bindir)"

# initdb and postgres refuse to run as root: root runs them as Debian's `postgres` user.
if [ "$(id -u)" = 0 ]; then
  as_owner() { runuser -u postgres -- "$@"; }
else
  as_owner() { "$@"; }
fi

case "$action" in
  status)
    as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 || exit 3
    exit 0
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    fi
    exit 0
    ;;
  start) ;;
  *) echo "usage: $0 start|status|stop" >&2; exit 2 ;;
esac

if [ ! -f "$dir/data/PG_VERSION" ]; then
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U cnp --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log"
fi
if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off \
     -c full_page_writes=off -c max_connections=300 -c shared_buffers=128MB" >/dev/null
fi
if ! as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U cnp -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'cnp'" | grep -q 1; then
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U cnp cnp
fi
echo "$url"
