#!/bin/bash
# Initialise the cluster on first start (like the official image), then exec postgres as `postgres`.
# Settings: postgresql.conf includes /etc/postgresql/conf.d/*.conf (mount tuning there);
# pg_hba.conf comes from $POSTGRES_HBA_FILE when set, else: local trust, everything else scram.
set -euo pipefail

if [ "${1:-}" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_USER:=postgres}"
  : "${POSTGRES_DB:=$POSTGRES_USER}"
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != trust ]; then
    echo "error: POSTGRES_PASSWORD is empty; set it (or POSTGRES_HOST_AUTH_METHOD=trust for throwaway use)" >&2
    exit 1
  fi
  echo "initialising the database cluster in $PGDATA"
  pwfile=$(mktemp)
  printf '%s' "${POSTGRES_PASSWORD:-}" > "$pwfile"
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words on purpose
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 ${POSTGRES_INITDB_ARGS:-} >/dev/null
  rm -f "$pwfile"
  {
    echo "listen_addresses = '*'"
    echo "include_dir = '/etc/postgresql/conf.d'"
  } >> "$PGDATA/postgresql.conf"
  {
    echo "local all all trust"
    echo "host all all all ${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  } > "$PGDATA/pg_hba.conf"

  # Run init scripts on a socket-only server, so no client can connect half-way through.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -q \
      -c "CREATE DATABASE \"$POSTGRES_DB\""
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sql) echo "running $f"; psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -q -f "$f" ;;
      *.sh) echo "running $f"; . "$f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "database cluster ready"
fi

if [ "${1:-}" = postgres ] && [ -n "${POSTGRES_HBA_FILE:-}" ]; then
  set -- "$@" -c "hba_file=$POSTGRES_HBA_FILE"
fi
exec "$@"
