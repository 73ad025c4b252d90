#!/bin/sh
# The stand-in postgres image's entrypoint: the part of the official image's contract that
# docker-compose.yml relies on. On an empty PGDATA it creates the cluster with POSTGRES_USER and
# POSTGRES_PASSWORD (password auth over TCP) and the database POSTGRES_DB; then it runs the
# server as the postgres user, listening on every interface of the container.
set -eu
: "${POSTGRES_PASSWORD:?the stand-in needs POSTGRES_PASSWORD, as the official image does}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA"
    chown -R postgres:postgres "$PGDATA"
    chmod 0700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
        echo "CREATE DATABASE \"$db\";" | postgres --single -D "$PGDATA" postgres >/dev/null
    fi
    echo "[standin-postgres] created the cluster: user $user, database $db"
fi
# The socket directory of Debian's build; the official image has it too.
mkdir -p /var/run/postgresql 2>/dev/null || true
exec "$@" -c listen_addresses='*'
